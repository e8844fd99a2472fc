//! The generic format: JSON Lines, one `frontierwatch.v1.ImportItem` per
//! line in the proto3 JSON mapping, e.g.
//! `{"organization": {"name": "organizations/xai", "displayName": "xAI"}}`.
//!
//! A result whose `rawValue` carries its unit ("53.1%") gets its score on
//! its benchmark's scale, as the dataset importers do: 0.531 on a fraction
//! benchmark, 53.1 on a percentage one. The benchmark's scale comes from the
//! same file or from the server.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use frontierwatch_client::Client;
use frontierwatch_client::proto::{
    Benchmark, BenchmarkResult, ImportItem, ScoreScale, import_item::Resource,
};
use tonic::Code;

use super::{Plan, Rejection};
use crate::dynamic::{from_json, message};
use crate::status::fail;

pub fn plan(file: &Path) -> anyhow::Result<Plan> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let label = file.file_name().map_or("input.jsonl".to_owned(), |f| {
        f.to_string_lossy().into_owned()
    });
    let desc = message("frontierwatch.v1.ImportItem")?;
    let mut plan = Plan::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(raw)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|value| from_json(desc.clone(), value).map_err(|e| format!("{e:#}")))
            .and_then(|dynamic| {
                dynamic
                    .transcode_to::<ImportItem>()
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(ImportItem {
                resource: Some(resource),
                ..
            }) => plan.push(&label, line, resource),
            Ok(_) => plan.reject(&label, line, "unknown", "", "the line holds no resource"),
            Err(reason) => plan.reject(&label, line, "unknown", "", reason),
        }
    }
    Ok(plan)
}

/// Puts the scores of results whose raw value is a percentage on their
/// benchmark's scale; a result that cannot be (its score disagrees with its
/// raw value, or its benchmark is not on a percentage scale) is rejected
/// with the reason.
pub async fn normalize_scores(client: &Client, plan: &mut Plan) -> anyhow::Result<()> {
    let mut scales: HashMap<String, ScoreScale> = HashMap::new();
    for row in &plan.rows {
        if let Resource::Benchmark(b) = &row.resource {
            scales.insert(b.name.clone(), b.scale());
        }
    }
    let mut rejected = Vec::new();
    let mut kept = Vec::with_capacity(plan.rows.len());
    for mut row in std::mem::take(&mut plan.rows) {
        if let Resource::BenchmarkResult(result) = &mut row.resource
            && percentage(&result.raw_value).is_some()
        {
            let scale = match scales.get(&result.benchmark) {
                Some(scale) => Some(*scale),
                None => match client.get::<Benchmark>(&result.benchmark).await {
                    Ok(b) => {
                        scales.insert(result.benchmark.clone(), b.scale());
                        Some(b.scale())
                    }
                    // The server reports the missing benchmark itself.
                    Err(status) if status.code() == Code::NotFound => None,
                    Err(status) => return Err(fail(status)),
                },
            };
            if let Some(scale) = scale
                && let Err(reason) = normalize(result, scale)
            {
                rejected.push(Rejection {
                    file: row.file.clone(),
                    line: row.line,
                    kind: super::kind_of(&row.resource),
                    name: result_name(&row.resource),
                    reason,
                });
                continue;
            }
        }
        kept.push(row);
    }
    plan.rows = kept;
    plan.rejected.extend(rejected);
    Ok(())
}

fn result_name(resource: &Resource) -> String {
    match resource {
        Resource::BenchmarkResult(r) => r.name.clone(),
        _ => String::new(),
    }
}

/// The number of a raw value written as a percentage ("53.1%", "53.1 %").
fn percentage(raw: &str) -> Option<f64> {
    raw.trim()
        .strip_suffix('%')?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Sets the score of a result whose raw value is a percentage on `scale`.
/// An unset score (0) or one that repeats the percentage is replaced; one
/// that already is the normalized value is kept; anything else disagrees.
pub fn normalize(result: &mut BenchmarkResult, scale: ScoreScale) -> Result<(), String> {
    let Some(value) = percentage(&result.raw_value) else {
        return Ok(());
    };
    let normalized = match scale {
        ScoreScale::Fraction => value / 100.0,
        ScoreScale::Percent => value,
        other => {
            return Err(format!(
                "raw_value {:?} is a percentage, but {} is on the {} scale",
                result.raw_value,
                result.benchmark,
                other
                    .as_str_name()
                    .trim_start_matches("SCORE_SCALE_")
                    .to_lowercase()
            ));
        }
    };
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    if result.score == 0.0 || same(result.score, value) || same(result.score, normalized) {
        result.score = normalized;
        Ok(())
    } else {
        Err(format!(
            "score {} disagrees with raw_value {:?} ({normalized} on this benchmark's scale)",
            result.score, result.raw_value
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(raw: &str, score: f64) -> BenchmarkResult {
        BenchmarkResult {
            benchmark: "benchmarks/b".into(),
            raw_value: raw.into(),
            score,
            ..Default::default()
        }
    }

    #[test]
    fn a_percentage_lands_on_the_benchmarks_scale() {
        for (raw, score, scale, expected) in [
            ("53.1%", 0.0, ScoreScale::Fraction, 0.531),
            ("53.1%", 53.1, ScoreScale::Fraction, 0.531),
            ("53.1 %", 0.531, ScoreScale::Fraction, 0.531),
            ("53.1%", 0.0, ScoreScale::Percent, 53.1),
            ("53.1%", 53.1, ScoreScale::Percent, 53.1),
            ("0.531", 0.531, ScoreScale::Fraction, 0.531),
        ] {
            let mut r = with(raw, score);
            let got = normalize(&mut r, scale).map(|()| r.score);
            match got {
                Ok(g) => assert!((g - expected).abs() < 1e-12, "{raw} {score}: {g}"),
                Err(e) => panic!("{raw} {score}: {e}"),
            }
        }
        let mut r = with("53.1%", 12.0);
        assert!(
            normalize(&mut r, ScoreScale::Fraction)
                .unwrap_err()
                .contains("disagrees")
        );
        let mut r = with("53.1%", 0.0);
        assert!(
            normalize(&mut r, ScoreScale::Elo)
                .unwrap_err()
                .contains("elo")
        );
    }
}
