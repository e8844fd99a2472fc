//! The analytics from the command line: `fwatch leaderboard`, `compare`,
//! `cadence` and `timeline` (`transparency` is in its own module), with the options of their RPCs
//! and readable tables (JSON and YAML like every other command).

use clap::{Args, ValueEnum};
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;

use crate::dynamic::dynamic;
use crate::output::{Format, print_message, table};

/// Who evaluated, for leaderboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Evaluators {
    /// Every result.
    Any,
    /// Results published by the model's developer.
    FirstParty,
    /// Results published by anyone else.
    ThirdParty,
}

pub(crate) fn evaluator_filter(evaluators: Evaluators) -> EvaluatorFilter {
    match evaluators {
        Evaluators::Any => EvaluatorFilter::Unspecified,
        Evaluators::FirstParty => EvaluatorFilter::FirstPartyOnly,
        Evaluators::ThirdParty => EvaluatorFilter::ThirdPartyOnly,
    }
}

/// How a leaderboard groups releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Grouping {
    /// Every release ranks on its own.
    Release,
    /// A model line ranks with its best release.
    ModelBest,
    /// A model line ranks with its latest release.
    ModelLatest,
}

/// `fwatch leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    /// The benchmark: `benchmarks/gpqa` or `gpqa`.
    pub benchmark: String,
    /// The leaderboard as it stood at the end of this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
    /// Whose results count.
    #[arg(long, value_enum, default_value_t = Evaluators::Any)]
    pub evaluators: Evaluators,
    /// Count results whose verification is disputed.
    #[arg(long)]
    pub include_disputed: bool,
    /// One row per release, or per model line.
    #[arg(long, value_enum, default_value_t = Grouping::Release)]
    pub grouping: Grouping,
    #[command(flatten)]
    pub access: crate::progress::AccessArgs,
    /// Rows per settings section (the server's default when unset).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Answer from the record as the service knew it at this time (RFC
    /// 3339, e.g. 2026-03-01T00:00:00Z): later corrections do not count.
    #[arg(long, value_parser = parse_time)]
    pub known_as_of: Option<prost_types::Timestamp>,
}

/// `fwatch compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Two or more releases: `models/grok/releases/grok-4`.
    #[arg(required = true, num_args = 2..)]
    pub releases: Vec<String>,
    /// Compare as things stood at the end of this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
    /// Count results whose verification is disputed.
    #[arg(long)]
    pub include_disputed: bool,
    /// Answer from the record as the service knew it at this time (RFC
    /// 3339, e.g. 2026-03-01T00:00:00Z): later corrections do not count.
    #[arg(long, value_parser = parse_time)]
    pub known_as_of: Option<prost_types::Timestamp>,
}

/// `fwatch cadence`.
#[derive(Debug, Args)]
pub struct CadenceArgs {
    /// The commitment: `commitments/xai-monthly` or `xai-monthly`.
    pub commitment: String,
    /// Score the windows as of this day (YYYY-MM-DD; today when unset).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
}

/// `fwatch timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// A model line (`models/grok`) or an organization (`organizations/xai`).
    pub subject: String,
}

/// An RFC 3339 time, e.g. `2026-03-01T12:00:00Z`.
pub(crate) fn parse_time(text: &str) -> Result<prost_types::Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (2026-03-01T12:00:00Z): {e}"))?;
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// `YYYY-MM-DD`, a day that exists (chrono's calendar: no 31 February).
pub(crate) fn parse_date(text: &str) -> Result<Date, String> {
    use chrono::Datelike as _;
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&d.year()))
        .ok_or_else(|| "must be a valid YYYY-MM-DD date".to_owned())?;
    Ok(Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    })
}

/// `benchmarks/x` as given, or `x` under `collection`.
pub(crate) fn named(collection: &str, name: &str) -> String {
    if name.contains('/') {
        name.to_owned()
    } else {
        format!("{collection}/{name}")
    }
}

pub(crate) fn date(d: Option<&Date>) -> String {
    match d {
        Some(d) if d.month == 0 => format!("{:04}", d.year),
        Some(d) if d.day == 0 => format!("{:04}-{:02}", d.year, d.month),
        Some(d) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
        None => String::new(),
    }
}

pub(crate) fn approximate(d: Option<&ApproximateDate>) -> String {
    d.and_then(|d| d.date.as_ref())
        .map(|d| date(Some(d)))
        .unwrap_or_default()
}

pub(crate) fn score(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn source(provenance: Option<&Provenance>, evaluator: &str) -> String {
    provenance
        .and_then(|p| p.sources.first())
        .map(|s| {
            if s.publisher.is_empty() {
                s.uri.clone()
            } else {
                s.publisher.clone()
            }
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| evaluator.to_owned())
}

/// Prints a response as JSON or YAML; false for the table and CSV formats
/// (their rows are the command's table).
pub(crate) fn structured<T: prost::Message + prost::Name>(
    format: Format,
    message: &T,
) -> anyhow::Result<bool> {
    let saving = crate::output::saving();
    if !saving && matches!(format, Format::Table | Format::Csv) {
        return Ok(false);
    }
    let message = dynamic(message)?;
    match saving {
        true => crate::output::save(&message)?,
        false => print_message(format, &message),
    }
    Ok(true)
}

pub async fn leaderboard(
    client: &Client,
    format: Format,
    args: LeaderboardArgs,
) -> anyhow::Result<()> {
    let request = GetLeaderboardRequest {
        benchmark: named("benchmarks", &args.benchmark),
        as_of: args.as_of,
        evaluators: evaluator_filter(args.evaluators) as i32,
        access: args.access.filter() as i32,
        include_disputed: args.include_disputed,
        grouping: match args.grouping {
            Grouping::Release => LeaderboardGrouping::Unspecified,
            Grouping::ModelBest => LeaderboardGrouping::ModelBest,
            Grouping::ModelLatest => LeaderboardGrouping::ModelLatest,
        } as i32,
        limit: args.limit.unwrap_or(0),
        known_as_of: args.known_as_of,
    };
    let board = ask!(client, get_leaderboard, request);
    if structured(format, &board)? {
        return Ok(());
    }
    println!("{} ({})", board.benchmark, board.direction().as_str_name());
    for section in &board.sections {
        println!();
        println!("settings: {}", section.settings_key);
        let rows: Vec<[String; 6]> = section
            .rows
            .iter()
            .map(|r| {
                [
                    format!("{}{}", r.rank, if r.tied { "=" } else { "" }),
                    r.model.clone(),
                    r.release.clone(),
                    score(r.score),
                    date(r.publish_date.as_ref()),
                    source(r.provenance.as_ref(), &r.evaluator),
                ]
            })
            .collect();
        table(
            &["RANK", "MODEL", "RELEASE", "SCORE", "DATE", "SOURCE"],
            &rows,
        );
    }
    if board.sections.is_empty() {
        println!("no results");
    }
    Ok(())
}

pub async fn compare(client: &Client, format: Format, args: CompareArgs) -> anyhow::Result<()> {
    let request = CompareReleasesRequest {
        releases: args.releases,
        as_of: args.as_of,
        include_disputed: args.include_disputed,
        known_as_of: args.known_as_of,
    };
    let response = ask!(client, compare_releases, request);
    if structured(format, &response)? {
        return Ok(());
    }
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut not_comparable = Vec::new();
    for comparison in &response.comparisons {
        for group in &comparison.groups {
            for s in &group.scores {
                rows.push([
                    comparison.benchmark.clone(),
                    group.settings_key.clone(),
                    s.release.clone(),
                    score(s.score),
                    if s.delta == 0.0 {
                        String::new()
                    } else {
                        format!("{:+}", (s.delta * 10_000.0).round() / 10_000.0)
                    },
                    if s.better {
                        "better".into()
                    } else {
                        String::new()
                    },
                ]);
            }
        }
        for n in &comparison.not_comparable {
            not_comparable.push(format!(
                "{}: {} and {} not comparable: {}",
                comparison.benchmark, n.release_a, n.release_b, n.reason
            ));
        }
    }
    table(
        &["BENCHMARK", "SETTINGS", "RELEASE", "SCORE", "DELTA", ""],
        &rows,
    );
    for line in not_comparable {
        println!("{line}");
    }
    Ok(())
}

pub async fn cadence(client: &Client, format: Format, args: CadenceArgs) -> anyhow::Result<()> {
    let request = GetCadenceReportRequest {
        commitment: named("commitments", &args.commitment),
        as_of: args.as_of,
    };
    let report = ask!(client, get_cadence_report, request);
    if structured(format, &report)? {
        return Ok(());
    }
    println!(
        "{} as of {}: {} met, {} met late, {} missed, {} pending; on time {:.0}%, kept {:.0}%, mean slip {:.1} days, longest gap {} days, current streak {}",
        report.commitment,
        date(report.as_of.as_ref()),
        report.met,
        report.met_late,
        report.missed,
        report.pending,
        report.on_time_rate * 100.0,
        report.kept_ratio * 100.0,
        report.mean_slip_days,
        report.longest_gap_days,
        report.current_streak
    );
    let rows: Vec<[String; 6]> = report
        .windows
        .iter()
        .map(|w| {
            [
                date(w.start.as_ref()),
                date(w.end.as_ref()),
                w.status()
                    .as_str_name()
                    .trim_start_matches("WINDOW_STATUS_")
                    .to_lowercase(),
                w.release.clone(),
                date(w.release_date.as_ref()),
                if w.slip_days == 0 {
                    String::new()
                } else {
                    w.slip_days.to_string()
                },
            ]
        })
        .collect();
    table(
        &["START", "END", "STATUS", "RELEASE", "RELEASED", "SLIP DAYS"],
        &rows,
    );
    Ok(())
}

pub async fn timeline(client: &Client, format: Format, args: TimelineArgs) -> anyhow::Result<()> {
    let request = GetTimelineRequest {
        subject: args.subject,
    };
    let timeline = ask!(client, get_timeline, request);
    if structured(format, &timeline)? {
        return Ok(());
    }
    let rows: Vec<[String; 5]> = timeline
        .events
        .iter()
        .map(|e| {
            [
                approximate(e.date.as_ref()),
                e.kind()
                    .as_str_name()
                    .trim_start_matches("TIMELINE_EVENT_KIND_")
                    .to_lowercase()
                    .replace('_', " "),
                e.release.clone(),
                e.display_name.clone(),
                e.stage()
                    .as_str_name()
                    .trim_start_matches("LIFECYCLE_STAGE_")
                    .to_lowercase()
                    .replace("unspecified", ""),
            ]
        })
        .collect();
    println!("{}", timeline.subject);
    table(&["DATE", "EVENT", "RELEASE", "NAME", "STAGE"], &rows);
    Ok(())
}
