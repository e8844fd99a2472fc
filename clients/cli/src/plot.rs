//! PNG charts for `fwatch records --plot` and `fwatch line-quality
//! --plot`: a step chart of records, and a release-by-release chart of a
//! model line's scores. Text is drawn with a TrueType font read at run
//! time (`FWATCH_FONT`, else DejaVu Sans where distributions install it).

use std::path::Path;

use anyhow::{Context as _, anyhow};
use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::FontStyle;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const REGRESSION: RGBColor = RGBColor(214, 39, 40);

/// One line of records: its label, and (date, score, holder) per record.
pub struct Steps {
    pub label: String,
    pub records: Vec<(NaiveDate, f64, String)>,
}

/// One benchmark's scores across releases: (release index, score,
/// regressed).
pub struct Series {
    pub label: String,
    pub points: Vec<(usize, f64, bool)>,
}

fn register_font() -> anyhow::Result<()> {
    let candidates = std::env::var("FWATCH_FONT").map_or_else(
        |_| {
            vec![
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_owned(),
                "/usr/share/fonts/TTF/DejaVuSans.ttf".to_owned(),
                "/usr/share/fonts/dejavu/DejaVuSans.ttf".to_owned(),
            ]
        },
        |path| vec![path],
    );
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| anyhow!("{path} is not a TrueType font"));
        }
    }
    Err(anyhow!(
        "no TrueType font found to draw text with (looked at {}); set FWATCH_FONT to a .ttf file",
        candidates.join(", ")
    ))
}

fn padded(low: f64, high: f64) -> (f64, f64) {
    let span = (high - low).abs().max(high.abs() * 0.01).max(1e-9);
    (low - span * 0.08, high + span * 0.12)
}

fn days(d: NaiveDate) -> i32 {
    i32::try_from((d - NaiveDate::default()).num_days()).unwrap_or(0)
}

fn date_label(x: &i32) -> String {
    (NaiveDate::default() + chrono::Duration::days(i64::from(*x)))
        .format("%Y-%m")
        .to_string()
}

/// The step chart of records: each line holds its record until the next
/// one (or `until`), each step labelled with its holder.
pub fn records(
    path: &Path,
    title: &str,
    y_label: &str,
    lines: &[Steps],
    until: NaiveDate,
) -> anyhow::Result<()> {
    register_font()?;
    let all: Vec<&(NaiveDate, f64, String)> = lines.iter().flat_map(|l| &l.records).collect();
    let first = all
        .iter()
        .map(|r| r.0)
        .min()
        .context("no records to plot")?;
    let (low, high) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), r| {
        (lo.min(r.1), hi.max(r.1))
    });
    let (low, high) = padded(low, high);
    let (x0, x1) = (days(first) - 30, days(until).max(days(first)) + 30);
    let root = BitMapBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, low..high)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("date the record was published")
        .y_desc(y_label)
        .x_label_formatter(&date_label)
        .x_labels(10)
        .draw()
        .map_err(draw)?;
    for (line, colour) in lines.iter().zip(COLOURS) {
        let mut path: Vec<(i32, f64)> = Vec::new();
        for (i, (date, score, _)) in line.records.iter().enumerate() {
            let end = line.records.get(i + 1).map_or(until, |n| n.0);
            path.push((days(*date), *score));
            path.push((days(end), *score));
        }
        chart
            .draw_series(LineSeries::new(path, colour.stroke_width(3)))
            .map_err(draw)?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        // Each record holder named just above where its step begins.
        chart
            .draw_series(line.records.iter().map(|(date, score, holder)| {
                EmptyElement::at((days(*date), *score))
                    + Circle::new((0, 0), 4, colour.filled())
                    + Text::new(
                        holder.clone(),
                        (4, -17),
                        ("sans-serif", 13).into_font().color(&BLACK),
                    )
            }))
            .map_err(draw)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present().map_err(draw)?;
    Ok(())
}

/// A model line's scores release by release, one series per benchmark,
/// regressions marked with a red cross.
pub fn line_quality(
    path: &Path,
    title: &str,
    releases: &[String],
    series: &[Series],
) -> anyhow::Result<()> {
    register_font()?;
    if series.is_empty() {
        return Err(anyhow!(
            "no benchmark is shared by two consecutive releases: nothing to plot"
        ));
    }
    let (low, high) = series
        .iter()
        .flat_map(|s| &s.points)
        .fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let (low, high) = padded(low, high);
    let root = BitMapBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let count = releases.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5f64..(count as f64 - 0.5), low..high)
        .map_err(draw)?;
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            releases.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("release, in release order (a red cross: a regression)")
        .y_desc("score")
        .x_labels(count + 1)
        .x_label_formatter(&label)
        .draw()
        .map_err(draw)?;
    for (s, colour) in series.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        let points: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0 as f64, p.1)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(draw)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))
            .map_err(draw)?;
        chart
            .draw_series(
                s.points
                    .iter()
                    .filter(|p| p.2)
                    .map(|p| Cross::new((p.0 as f64, p.1), 9, REGRESSION.stroke_width(3))),
            )
            .map_err(draw)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    root.present().map_err(draw)?;
    Ok(())
}

fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(draw)
}

fn draw<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e}")
}

/// One release on the price–score chart.
pub struct PricePoint {
    pub price: f64,
    pub score: f64,
    pub label: String,
    pub on_frontier: bool,
    pub open_weights: bool,
}

/// Price (log scale) against score, each release labelled, open weights
/// in their own colour, the frontier joined.
pub fn price_score(
    path: &Path,
    title: &str,
    x_label: &str,
    points: &[PricePoint],
) -> anyhow::Result<()> {
    register_font()?;
    if points.is_empty() {
        return Err(anyhow!(
            "no release on the board has a price: nothing to plot"
        ));
    }
    let (low, high) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.score), hi.max(p.score))
    });
    let (low, high) = padded(low, high);
    let positive = |p: &PricePoint| p.price.max(1e-3);
    let (cheap, dear) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(positive(p)), hi.max(positive(p)))
    });
    let root = BitMapBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .margin_right(60)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d((cheap / 1.5..dear * 1.5).log_scale(), low..high)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("score")
        .draw()
        .map_err(draw)?;
    let mut frontier: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.on_frontier)
        .map(|p| (positive(p), p.score))
        .collect();
    frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(frontier, REGRESSION.stroke_width(2)))
        .map_err(draw)?
        .label("price–score frontier")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], REGRESSION));
    for (open, colour, label) in [
        (false, COLOURS[0], "proprietary or not stated"),
        (true, COLOURS[2], "open weights"),
    ] {
        chart
            .draw_series(points.iter().filter(|p| p.open_weights == open).map(|p| {
                EmptyElement::at((positive(p), p.score))
                    + Circle::new((0, 0), 5, colour.filled())
                    + Text::new(
                        p.label.clone(),
                        (6, -6),
                        ("sans-serif", 12).into_font().color(&BLACK),
                    )
            }))
            .map_err(draw)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present().map_err(draw)?;
    Ok(())
}
