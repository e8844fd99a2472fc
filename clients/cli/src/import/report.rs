//! What an import prints: its counts per resource type (or, with
//! `--plan`, the model lines it would derive), the rows merged into other
//! resources and the rows rejected, as a table, JSON or YAML.

use std::collections::BTreeMap;

use frontierwatch_client::proto::import_item::Resource;
use serde_json::{Value, json};

use super::{Counts, Merge, Plan, Rejection, kind_of};
use crate::output::{Format, table};

/// The report of an import that ran.
pub fn outcome(
    format: Format,
    counts: &Counts,
    merged: &[Merge],
    rejected: &[Rejection],
    seconds: f64,
) {
    if format != Format::Table {
        structured(
            format,
            &json!({
                "counts": counts.iter().map(|(k, c)| (k.to_string(), json!({
                    "created": c[0], "unchanged": c[1], "updated": c[2], "rejected": c[3],
                }))).collect::<serde_json::Map<_, _>>(),
                "merged": merged_json(merged),
                "rejected": rejected_json(rejected),
                "seconds": seconds,
            }),
        );
        return;
    }
    let rows: Vec<[String; 5]> = counts
        .iter()
        .map(|(k, c)| {
            [
                k.to_string(),
                c[0].to_string(),
                c[1].to_string(),
                c[2].to_string(),
                c[3].to_string(),
            ]
        })
        .collect();
    table(
        &["TYPE", "CREATED", "UNCHANGED", "UPDATED", "REJECTED"],
        &rows,
    );
    merged_and_rejected(merged, rejected);
    println!("imported in {seconds:.1} s");
}

/// The plan of an import (`--plan`): the model lines its rows derive, each
/// with its developers and releases, its rows per type, its merges and
/// rejections.
pub fn plan(format: Format, plan: &Plan) {
    // Line → (its developers, its releases with their display names).
    type Line = (Vec<String>, Vec<(String, String)>);
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    let mut rows: BTreeMap<&'static str, u64> = BTreeMap::new();
    for row in &plan.rows {
        *rows.entry(kind_of(&row.resource)).or_default() += 1;
        match &row.resource {
            Resource::Model(m) => {
                lines.entry(m.name.clone()).or_default().0 = m.developers.clone();
            }
            Resource::Release(r) => {
                if let Some((line, _)) = r.name.split_once("/releases/") {
                    let entry = lines.entry(line.to_owned()).or_default();
                    if entry.0.is_empty()
                        && let Some(stored) = plan.stored_lines.get(line)
                    {
                        entry.0.clone_from(stored);
                    }
                    entry.1.push((r.name.clone(), r.display_name.clone()));
                }
            }
            _ => {}
        }
    }
    let stated = |release: &str| plan.stated.get(release).cloned().unwrap_or_default();
    if format != Format::Table {
        structured(
            format,
            &json!({
                "rows": rows,
                "modelLines": lines.iter().map(|(name, (developers, releases))| json!({
                    "name": name,
                    "developers": developers,
                    "releases": releases.iter().map(|(release, display)| json!({
                        "name": release,
                        "displayName": display,
                        "developers": stated(release),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "merged": merged_json(&plan.merged),
                "rejected": rejected_json(&plan.rejected),
            }),
        );
        return;
    }
    let table_rows: Vec<[String; 3]> = lines
        .iter()
        .map(|(name, (developers, releases))| {
            [
                name.clone(),
                developers.join(", "),
                releases.len().to_string(),
            ]
        })
        .collect();
    table(&["MODEL LINE", "DEVELOPERS", "RELEASES"], &table_rows);
    for (name, (_, releases)) in &lines {
        for (release, display) in releases {
            println!(
                "{name}: {release} ({display}; {})",
                stated(release).join(", ")
            );
        }
    }
    merged_and_rejected(&plan.merged, &plan.rejected);
    println!("plan only: nothing was written");
}

fn structured(format: Format, value: &Value) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        print!("{}", serde_yaml_ng::to_string(value).unwrap_or_default());
    }
}

fn merged_json(merged: &[Merge]) -> Vec<Value> {
    merged
        .iter()
        .map(|m| {
            json!({
                "file": m.file, "line": m.line, "type": m.kind, "name": m.name, "into": m.into, "why": m.why,
            })
        })
        .collect()
}

fn rejected_json(rejected: &[Rejection]) -> Vec<Value> {
    rejected
        .iter()
        .map(|r| {
            json!({
                "file": r.file, "line": r.line, "type": r.kind, "name": r.name, "reason": r.reason,
            })
        })
        .collect()
}

fn merged_and_rejected(merged: &[Merge], rejected: &[Rejection]) {
    for m in merged {
        println!(
            "merged {}:{}: {} {} is {} ({})",
            m.file,
            m.line,
            m.kind.trim_end_matches('s'),
            m.name,
            m.into,
            m.why
        );
    }
    for r in rejected {
        println!(
            "rejected {}:{}: {} {}: {}",
            r.file, r.line, r.kind, r.name, r.reason
        );
    }
}
