//! Progress over time from the command line: `fwatch records` (a
//! benchmark's record progression, optionally split by access) and
//! `fwatch line-quality` (a model line's releases against each other),
//! as tables, JSON, YAML or CSV, and as PNG charts with `--plot`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;

use crate::analytics::{
    Evaluators, date, evaluator_filter, named, parse_date, parse_time, score, structured,
};
use crate::output::{Format, table};
use crate::plot;

/// Which releases count, by access.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Only releases with open weights.
    #[arg(long, conflicts_with = "proprietary")]
    pub open_weights: bool,
    /// Only releases whose access is stated without open weights.
    #[arg(long)]
    pub proprietary: bool,
}

impl AccessArgs {
    pub fn filter(&self) -> AccessFilter {
        match (self.open_weights, self.proprietary) {
            (true, _) => AccessFilter::OpenWeights,
            (_, true) => AccessFilter::Proprietary,
            _ => AccessFilter::Unspecified,
        }
    }
}

/// `fwatch records`.
#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// The benchmark: `benchmarks/gpqa` or `gpqa`.
    pub benchmark: String,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Both lines, open weights and proprietary, and the gap between them.
    #[arg(long, conflicts_with_all = ["open_weights", "proprietary"])]
    pub split: bool,
    /// Records as they stood at the end of this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
    /// Whose results count.
    #[arg(long, value_enum, default_value_t = Evaluators::Any)]
    pub evaluators: Evaluators,
    /// Count results whose verification is disputed.
    #[arg(long)]
    pub include_disputed: bool,
    /// Only this settings section (its key, as the table shows it).
    #[arg(long)]
    pub settings: Option<String>,
    /// Answer from the record as the service knew it at this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub known_as_of: Option<prost_types::Timestamp>,
    /// Also draw the first section's records as a step chart (PNG).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// `fwatch line-quality`.
#[derive(Debug, Args)]
pub struct LineQualityArgs {
    /// The model line: `models/grok` or `grok`.
    pub model: String,
    /// Count only results published by the end of this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
    /// Whose results count.
    #[arg(long, value_enum, default_value_t = Evaluators::Any)]
    pub evaluators: Evaluators,
    /// Count results whose verification is disputed.
    #[arg(long)]
    pub include_disputed: bool,
    /// The fall that is a regression where no uncertainty is stated.
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f64,
    /// Answer from the record as the service knew it at this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub known_as_of: Option<prost_types::Timestamp>,
    /// Also draw the scores release by release (PNG).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

fn access_name(access: i32) -> String {
    match AccessFilter::try_from(access) {
        Ok(AccessFilter::OpenWeights) => "open weights".into(),
        Ok(AccessFilter::Proprietary) => "proprietary".into(),
        _ => "all".into(),
    }
}

fn optional(value: Option<f64>) -> String {
    value.map(score).unwrap_or_default()
}

fn lower(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase()
}

pub async fn records(client: &Client, format: Format, args: RecordsArgs) -> anyhow::Result<()> {
    let request = GetRecordProgressionRequest {
        benchmark: named("benchmarks", &args.benchmark),
        as_of: args.as_of,
        evaluators: evaluator_filter(args.evaluators) as i32,
        include_disputed: args.include_disputed,
        access: args.access.filter() as i32,
        split_access: args.split,
        settings_key: args.settings.unwrap_or_default(),
        known_as_of: args.known_as_of,
    };
    let progression = ask!(client, get_record_progression, request);
    if let Some(path) = &args.plot {
        plot_records(path, &progression)?;
    }
    if structured(format, &progression)? {
        return Ok(());
    }
    let human = format == Format::Table;
    let mut rows: Vec<[String; 8]> = Vec::new();
    let mut gaps: Vec<[String; 6]> = Vec::new();
    let mut summaries = Vec::new();
    for section in &progression.sections {
        for line in &section.lines {
            let access = access_name(line.access);
            summaries.push(format!(
                "{} ({access}): {}; headroom {}; {} records in the 365 days to {}; median {} days between records{}",
                section.settings_key,
                lower(line.saturation().as_str_name(), "SATURATION_"),
                line.headroom.map_or("unbounded".into(), score),
                line.records_last_365_days,
                date(progression.as_of.as_ref()),
                optional(line.median_days_between_records),
                if line.undated_results > 0 {
                    format!("; {} undated results left out", line.undated_results)
                } else {
                    String::new()
                }
            ));
            for r in &line.records {
                rows.push([
                    section.settings_key.clone(),
                    access.clone(),
                    date(r.date.as_ref()),
                    r.release.clone(),
                    r.organization.clone(),
                    score(r.score),
                    optional(r.improvement),
                    r.stood_days.to_string(),
                ]);
            }
        }
        for g in &section.gaps {
            gaps.push([
                date(g.date.as_ref()),
                optional(g.open_weights_score),
                optional(g.proprietary_score),
                optional(g.score_gap),
                g.time_gap_days.map(|d| d.to_string()).unwrap_or_default(),
                g.matched_proprietary_release.clone(),
            ]);
        }
    }
    if human {
        println!(
            "{} ({}), as of {}",
            progression.benchmark,
            progression.direction().as_str_name(),
            date(progression.as_of.as_ref())
        );
        for s in &summaries {
            println!("{s}");
        }
        println!();
    }
    table(
        &[
            "SETTINGS",
            "ACCESS",
            "DATE",
            "RELEASE",
            "ORGANIZATION",
            "SCORE",
            "IMPROVEMENT",
            "STOOD DAYS",
        ],
        &rows,
    );
    if !gaps.is_empty() && human {
        println!();
        table(
            &[
                "DATE",
                "OPEN WEIGHTS",
                "PROPRIETARY",
                "SCORE GAP",
                "TIME GAP DAYS",
                "MATCHED",
            ],
            &gaps,
        );
    }
    Ok(())
}

fn plot_records(path: &std::path::Path, p: &RecordProgression) -> anyhow::Result<()> {
    let section = p
        .sections
        .first()
        .ok_or_else(|| anyhow::anyhow!("no records to plot"))?;
    let to_day = |d: Option<&Date>| {
        d.and_then(|d| chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
    };
    let until = to_day(p.as_of.as_ref()).unwrap_or_default();
    let lines: Vec<plot::Steps> = section
        .lines
        .iter()
        .map(|line| plot::Steps {
            label: format!("records, {}", access_name(line.access)),
            records: line
                .records
                .iter()
                .filter_map(|r| {
                    let holder = if r.release_display_name.is_empty() {
                        r.release.rsplit('/').next().unwrap_or_default().to_owned()
                    } else {
                        r.release_display_name.clone()
                    };
                    Some((to_day(r.date.as_ref())?, r.score, holder))
                })
                .collect(),
        })
        .collect();
    let title = format!("Records on {} ({})", p.benchmark, section.settings_key);
    let direction = lower(p.direction().as_str_name(), "SCORE_DIRECTION_").replace('_', " ");
    plot::records(path, &title, &format!("score ({direction})"), &lines, until)
}

pub async fn line_quality(
    client: &Client,
    format: Format,
    args: LineQualityArgs,
) -> anyhow::Result<()> {
    let request = GetModelLineQualityRequest {
        model: named("models", &args.model),
        as_of: args.as_of,
        evaluators: evaluator_filter(args.evaluators) as i32,
        include_disputed: args.include_disputed,
        regression_threshold: args.threshold,
        known_as_of: args.known_as_of,
    };
    let quality = ask!(client, get_model_line_quality, request);
    if let Some(path) = &args.plot {
        plot_quality(path, &quality)?;
    }
    if structured(format, &quality)? {
        return Ok(());
    }
    if format == Format::Table {
        println!("{}", quality.model);
        for r in &quality.releases {
            println!(
                "{} {}: {} results, {} shared with {}, {} regressions",
                r.release,
                crate::analytics::approximate(r.date.as_ref()),
                r.results,
                r.deltas.len(),
                if r.previous_release.is_empty() {
                    "-"
                } else {
                    &r.previous_release
                },
                r.regressions
            );
        }
        println!();
    }
    let rows: Vec<[String; 8]> = quality
        .releases
        .iter()
        .flat_map(|r| {
            r.deltas.iter().map(|d| {
                [
                    r.release.clone(),
                    d.benchmark.clone(),
                    d.settings_key.clone(),
                    score(d.previous_score),
                    score(d.score),
                    format!("{:+}", (d.delta * 10_000.0).round() / 10_000.0),
                    score(d.tolerance),
                    if d.regressed { "REGRESSED" } else { "" }.to_owned(),
                ]
            })
        })
        .collect();
    table(
        &[
            "RELEASE",
            "BENCHMARK",
            "SETTINGS",
            "PREVIOUS",
            "SCORE",
            "DELTA",
            "TOLERANCE",
            "",
        ],
        &rows,
    );
    Ok(())
}

/// At most this many benchmarks in the chart (those shared most often).
const PLOTTED_SERIES: usize = 6;

fn plot_quality(path: &std::path::Path, q: &ModelLineQuality) -> anyhow::Result<()> {
    let mut by_benchmark: BTreeMap<(String, String), BTreeMap<usize, (f64, bool)>> =
        BTreeMap::new();
    for (i, r) in q.releases.iter().enumerate() {
        for d in &r.deltas {
            let points = by_benchmark
                .entry((d.benchmark.clone(), d.settings_key.clone()))
                .or_default();
            points
                .entry(i.saturating_sub(1))
                .or_insert((d.previous_score, false));
            points.insert(i, (d.score, d.regressed));
        }
    }
    let mut series: Vec<plot::Series> = by_benchmark
        .into_iter()
        .map(|((benchmark, key), points)| plot::Series {
            label: format!("{} ({key})", benchmark.trim_start_matches("benchmarks/")),
            points: points.into_iter().map(|(i, (s, r))| (i, s, r)).collect(),
        })
        .collect();
    let total = series.len();
    series.sort_by_key(|s| std::cmp::Reverse(s.points.len()));
    series.truncate(PLOTTED_SERIES);
    let releases: Vec<String> = q
        .releases
        .iter()
        .map(|r| {
            if r.display_name.is_empty() {
                r.release.rsplit('/').next().unwrap_or_default().to_owned()
            } else {
                r.display_name.clone()
            }
        })
        .collect();
    let mut title = format!("Quality across the releases of {}", q.model);
    if total > series.len() {
        title.push_str(&format!(" ({} of {total} benchmarks)", series.len()));
    }
    plot::line_quality(path, &title, &releases, &series)
}
