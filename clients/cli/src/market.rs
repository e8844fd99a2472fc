//! The deployed side from the command line: `fwatch frontier` (prices
//! against scores, with a PNG chart), `fwatch offering-report` and
//! `fwatch terms`, as tables, JSON, YAML or CSV.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;

use crate::analytics::{
    Evaluators, date, evaluator_filter, named, parse_date, parse_time, score, structured,
};
use crate::output::{Format, table};
use crate::plot;
use crate::progress::AccessArgs;

/// `fwatch frontier`.
#[derive(Debug, Args)]
pub struct FrontierArgs {
    /// The benchmark: `benchmarks/gpqa` or `gpqa`.
    pub benchmark: String,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Scores published and prices in effect on this day (YYYY-MM-DD).
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
    /// The blend of input to output prices, e.g. `3:1` (the default) or `1:1`.
    #[arg(long, value_parser = parse_blend)]
    pub blend: Option<(u32, u32)>,
    /// Only prices in this currency (ISO 4217); USD by default.
    #[arg(long)]
    pub currency: Option<String>,
    /// Also draw price against score, the frontier joined (PNG).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

fn parse_blend(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a blend such as 3:1");
    let (input, output) = text.split_once(':').ok_or_else(bad)?;
    let weights = (
        input.parse().map_err(|_| bad())?,
        output.parse().map_err(|_| bad())?,
    );
    if weights == (0, 0) {
        return Err(bad());
    }
    Ok(weights)
}

/// `fwatch offering-report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// An offering (`offerings/x` or `x`) or a release
    /// (`models/m/releases/r`).
    pub subject: String,
    /// Measurements whose window ends at or after this time (RFC 3339);
    /// 28 days before `--to` by default.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<prost_types::Timestamp>,
    /// Measurements whose window ends before this time (RFC 3339); now by
    /// default.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<prost_types::Timestamp>,
    /// Only measurements over this network.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Only measurements from this region.
    #[arg(long)]
    pub region: Option<String>,
    /// What to break the measurements down by.
    #[arg(long, value_enum, default_value_t = By::Network)]
    pub by: By,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    Terrestrial,
    Cellular,
    Satellite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Network,
    Region,
    PromptSize,
    Concurrency,
    Offering,
}

/// `fwatch terms`.
#[derive(Debug, Args)]
pub struct TermsArgs {
    /// The offering: `offerings/x` or `x`.
    pub offering: String,
    /// The day (YYYY-MM-DD); today by default.
    #[arg(long, value_parser = parse_date)]
    pub on: Option<Date>,
}

fn short(name: &str) -> String {
    name.rsplit('/').next().unwrap_or_default().to_owned()
}

fn amount(price: Option<&Price>) -> String {
    price.map(|p| p.amount.clone()).unwrap_or_default()
}

pub async fn frontier(client: &Client, format: Format, args: FrontierArgs) -> anyhow::Result<()> {
    let (input_weight, output_weight) = args.blend.unwrap_or((0, 0));
    let request = GetPriceFrontierRequest {
        benchmark: named("benchmarks", &args.benchmark),
        as_of: args.as_of,
        evaluators: evaluator_filter(args.evaluators) as i32,
        include_disputed: args.include_disputed,
        access: args.access.filter() as i32,
        settings_key: args.settings.unwrap_or_default(),
        input_weight,
        output_weight,
        currency_code: args.currency.unwrap_or_default(),
    };
    let frontier = ask!(client, get_price_frontier, request);
    if let Some(path) = &args.plot {
        plot_frontier(path, &frontier)?;
    }
    if structured(format, &frontier)? {
        return Ok(());
    }
    if format == Format::Table {
        println!("{}: prices blended {}", frontier.benchmark, frontier.blend);
        println!();
    }
    let rows: Vec<[String; 9]> = frontier
        .sections
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|p| {
                [
                    s.settings_key.clone(),
                    p.rank.to_string(),
                    p.release.clone(),
                    score(p.score),
                    amount(p.blended_price.as_ref()),
                    p.offering.clone(),
                    p.provider.clone(),
                    if p.on_frontier { "yes" } else { "" }.to_owned(),
                    if p.open_weights { "open" } else { "" }.to_owned(),
                ]
            })
        })
        .collect();
    table(
        &[
            "SETTINGS", "RANK", "RELEASE", "SCORE", "PRICE", "OFFERING", "PROVIDER", "FRONTIER",
            "WEIGHTS",
        ],
        &rows,
    );
    Ok(())
}

fn plot_frontier(path: &std::path::Path, f: &PriceFrontier) -> anyhow::Result<()> {
    let section = f
        .sections
        .first()
        .ok_or_else(|| anyhow::anyhow!("no section to plot"))?;
    let points: Vec<plot::PricePoint> = section
        .points
        .iter()
        .filter_map(|p| {
            let price: f64 = p.blended_price.as_ref()?.amount.parse().ok()?;
            let label = if p.release_display_name.is_empty() {
                short(&p.release)
            } else {
                p.release_display_name.clone()
            };
            Some(plot::PricePoint {
                price,
                score: p.score,
                label,
                on_frontier: p.on_frontier,
                open_weights: p.open_weights,
            })
        })
        .collect();
    let title = format!(
        "Price against score on {} ({})",
        f.benchmark, section.settings_key
    );
    plot::price_score(
        path,
        &title,
        &format!("blended price, {}", f.blend),
        &points,
    )
}

pub async fn report(client: &Client, format: Format, args: ReportArgs) -> anyhow::Result<()> {
    let subject = if args.subject.contains('/') {
        args.subject.clone()
    } else {
        named("offerings", &args.subject)
    };
    let request = GetOfferingReportRequest {
        subject,
        window_start: args.from,
        window_end: args.to,
        conditions: Some(MeasurementConditions {
            region: args.region.unwrap_or_default(),
            network: match args.network {
                None => Network::Unspecified,
                Some(NetworkArg::Terrestrial) => Network::Terrestrial,
                Some(NetworkArg::Cellular) => Network::Cellular,
                Some(NetworkArg::Satellite) => Network::Satellite,
            } as i32,
            ..Default::default()
        }),
        breakdown: match args.by {
            By::Network => ReportBreakdown::Network,
            By::Region => ReportBreakdown::Region,
            By::PromptSize => ReportBreakdown::PromptSize,
            By::Concurrency => ReportBreakdown::Concurrency,
            By::Offering => ReportBreakdown::Offering,
        } as i32,
    };
    let report = ask!(client, get_offering_report, request);
    if structured(format, &report)? {
        return Ok(());
    }
    let mut rows: Vec<[String; 10]> = Vec::new();
    let groups = report
        .overall
        .iter()
        .map(|s| ("all", s))
        .chain(report.weekly.iter().map(|s| ("week", s)))
        .chain(report.breakdown.iter().map(|s| ("by", s)));
    for (part, summary) in groups {
        let availability = summary.availability.map(score).unwrap_or_default();
        for m in &summary.metrics {
            rows.push([
                part.to_owned(),
                summary.group.clone(),
                m.metric()
                    .as_str_name()
                    .trim_start_matches("MEASUREMENT_METRIC_")
                    .to_lowercase(),
                m.unit()
                    .as_str_name()
                    .trim_start_matches("MEASUREMENT_UNIT_")
                    .to_lowercase(),
                m.measurements.to_string(),
                m.samples.to_string(),
                score(m.median),
                score(m.p90),
                score(m.weighted_mean),
                availability.clone(),
            ]);
        }
    }
    if format == Format::Table {
        println!("{} over {}", report.subject, report.offerings.join(", "));
        println!();
    }
    table(
        &[
            "PART",
            "GROUP",
            "METRIC",
            "UNIT",
            "N",
            "SAMPLES",
            "MEDIAN",
            "P90",
            "MEAN",
            "AVAILABILITY",
        ],
        &rows,
    );
    Ok(())
}

pub async fn terms(client: &Client, format: Format, args: TermsArgs) -> anyhow::Result<()> {
    let request = GetOfferingTermsRequest {
        offering: named("offerings", &args.offering),
        date: args.on,
    };
    let terms = ask!(client, get_offering_terms, request);
    if structured(format, &terms)? {
        return Ok(());
    }
    let currency = terms
        .input_price
        .as_ref()
        .map(|p| p.currency_code.clone())
        .unwrap_or_default();
    table(
        &[
            "EFFECTIVE",
            "INPUT",
            "OUTPUT",
            "CURRENCY",
            "CONTEXT",
            "MAX OUTPUT",
            "QUANTIZATION",
        ],
        &[[
            date(terms.effective_date.as_ref()),
            amount(terms.input_price.as_ref()),
            amount(terms.output_price.as_ref()),
            currency,
            terms.context_window.to_string(),
            terms.max_output_tokens.to_string(),
            terms.quantization.clone(),
        ]],
    );
    Ok(())
}
