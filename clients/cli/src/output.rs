//! Output as a human table (default), JSON, YAML or CSV (the table's rows,
//! or a message's fields as `key,value`).

use anyhow::Context as _;
use clap::ValueEnum;
use prost_reflect::{DynamicMessage, ReflectMessage as _};
use serde_json::Value;

use crate::dynamic::to_json;
use crate::table::Shape;
use crate::tabular::{FileFormat, TableWriter};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Csv,
}

/// Whether tables print as CSV: set once from `--output` (`set_format`).
static CSV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every table of this run print as `format` says.
pub fn set_format(format: Format) {
    CSV.store(format == Format::Csv, std::sync::atomic::Ordering::Relaxed);
}

fn csv_out() -> bool {
    CSV.load(std::sync::atomic::Ordering::Relaxed)
}

/// Where `--save` saves an analytics answer, and in which format.
static SAVE: std::sync::OnceLock<(std::path::PathBuf, FileFormat)> = std::sync::OnceLock::new();

/// Makes the analytics answer of this run saved to `path` (`--save`).
pub fn set_save(path: &std::path::Path) -> anyhow::Result<()> {
    let format = FileFormat::of_path(path)?;
    let _ = SAVE.set((path.to_owned(), format));
    Ok(())
}

/// Whether `--save` asked for this run's answer to be saved.
pub fn saving() -> bool {
    SAVE.get().is_some()
}

/// Saves `answer` as a table where `--save` asked (see [`saving`]).
pub fn save(answer: &DynamicMessage) -> anyhow::Result<()> {
    let (path, format) = SAVE.get().context("--save was not given")?;
    let shape = Shape::of_answer(&answer.descriptor());
    let mut out = TableWriter::create(path, *format, shape.columns.clone())?;
    for row in shape.rows(answer) {
        out.write(row)?;
    }
    let rows = out.rows;
    out.finish()?;
    eprintln!("saved {rows} rows to {}", path.display());
    Ok(())
}

/// Writes rows as CSV to standard output.
fn print_csv<'a>(rows: impl IntoIterator<Item = Vec<&'a str>>) {
    let mut out = csv::Writer::from_writer(std::io::stdout());
    for row in rows {
        let _ = out.write_record(row);
    }
    let _ = out.flush();
}

/// Prints one message.
pub fn print_message(format: Format, message: &DynamicMessage) {
    let value = to_json(message);
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        Format::Yaml => print!("{}", serde_yaml_ng::to_string(&value).unwrap_or_default()),
        Format::Table | Format::Csv => print_fields(&value),
    }
}

/// Prints a list of resources; `next` is the next page token, if any.
pub fn print_list(format: Format, items: &[Value], next: Option<&str>) {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(items).unwrap_or_default()
        ),
        Format::Yaml => print!("{}", serde_yaml_ng::to_string(items).unwrap_or_default()),
        Format::Table | Format::Csv => {
            let rows: Vec<[String; 3]> = items
                .iter()
                .map(|item| [text(item, "name"), summary(item), text(item, "updateTime")])
                .collect();
            table(&["NAME", "SUMMARY", "UPDATED"], &rows);
            if let Some(next) = next.filter(|n| !n.is_empty()) {
                eprintln!("more: --page-token {next}");
            }
        }
    }
}

/// A one-line summary of any resource.
fn summary(item: &Value) -> String {
    let score = item.get("score").map(|s| s.to_string());
    match (item.get("displayName"), score) {
        (Some(Value::String(name)), _) => name.clone(),
        (_, Some(score)) => format!(
            "{} on {}: {score}",
            text(item, "release"),
            text(item, "benchmark")
        ),
        // A measurement: its metric and value; an offering: what it serves.
        _ if item.get("metric").is_some() => format!(
            "{} {} {} of {}",
            text(item, "metric").trim_start_matches("MEASUREMENT_METRIC_"),
            text(item, "value"),
            text(item, "unit").trim_start_matches("MEASUREMENT_UNIT_"),
            text(item, "offering")
        ),
        _ if item.get("provider").is_some() => {
            format!("{} by {}", text(item, "release"), text(item, "provider"))
        }
        _ => format!("{} {}", text(item, "subject"), text(item, "status")),
    }
}

fn text(item: &Value, field: &str) -> String {
    match item.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Prints `key: value` lines for a message's top-level fields (`key,value`
/// rows for CSV).
fn print_fields(value: &Value) {
    if let Value::Object(map) = value {
        if csv_out() {
            let cells: Vec<(String, String)> =
                map.keys().map(|k| (k.clone(), text(value, k))).collect();
            print_csv(
                std::iter::once(vec!["field", "value"])
                    .chain(cells.iter().map(|(k, v)| vec![k.as_str(), v.as_str()])),
            );
            return;
        }
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (key, value) in map {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{key:<width$}  {shown}");
        }
    } else {
        println!("{value}");
    }
}

/// Prints aligned columns, each as wide as its widest cell: a cell is
/// never cut, since a cut score or name reads as another value.
pub fn table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    if csv_out() {
        print_csv(
            std::iter::once(headers.to_vec())
                .chain(rows.iter().map(|r| r.iter().map(String::as_str).collect())),
        );
        return;
    }
    let mut widths = headers.map(str::len);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.to_vec());
    }
}
