//! Output as a human table (default), JSON or YAML.

use clap::ValueEnum;
use prost_reflect::DynamicMessage;
use serde_json::Value;

use crate::dynamic::to_json;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
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
        Format::Table => print_fields(&value),
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
        Format::Table => {
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

/// Prints `key: value` lines for a message's top-level fields.
fn print_fields(value: &Value) {
    if let Value::Object(map) = value {
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
