//! Quality across a model line's releases: each release against the one
//! before it on every benchmark and comparability key they share, with
//! regressions flagged.

use std::collections::{BTreeMap, HashMap};

use frontierwatch_proto::v1::*;

use super::leaderboard::{decode_result, direction_of};
use crate::domain::analytics::better;
use crate::domain::progress::{gain, tolerance, uncertainty};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::{self as queries, ResultFilter};
use crate::storage::progress::results_of_model;

/// A validated line-quality question.
#[derive(Debug, Clone)]
pub struct LineQualityQuery {
    pub model: String,
    pub filter: ResultFilter,
    /// The fall beyond which a score regresses when no uncertainty is
    /// stated.
    pub threshold: f64,
}

/// A release's best result on one benchmark and key.
struct Best {
    name: String,
    score: f64,
    uncertainty: Option<f64>,
    publish_date: Option<Date>,
}

/// When a release counts as released: its release date, else its
/// announcement date; undated releases sort last.
fn release_order(release: &Release) -> (bool, (i32, i32, i32), String) {
    let date = [&release.release_date, &release.announce_date]
        .into_iter()
        .find_map(|d| d.as_ref().and_then(|d| d.date));
    (
        date.is_none(),
        date.map_or((0, 0, 0), |d| (d.year, d.month, d.day)),
        release.name.clone(),
    )
}

pub async fn line_quality(
    store: &Store,
    q: &LineQualityQuery,
) -> Result<ModelLineQuality, ApiError> {
    store.get::<Model>(&q.model).await?;
    let mut releases = queries::releases_of(store.pool(), &q.model).await?;
    releases.sort_by_cached_key(release_order);
    let rows = results_of_model(store.pool(), &q.model, &q.filter).await?;
    let mut benchmark_names: Vec<String> = rows.iter().map(|r| r.benchmark.clone()).collect();
    benchmark_names.sort();
    benchmark_names.dedup();
    let mut directions = HashMap::new();
    for name in benchmark_names {
        let benchmark: Benchmark = store.get(&name).await?;
        directions.insert(name, direction_of(&benchmark));
    }
    // Each release's best result per (benchmark, key), and its count.
    let mut best: HashMap<&str, BTreeMap<(String, String), Best>> = HashMap::new();
    let mut counts: HashMap<&str, i32> = HashMap::new();
    for row in &rows {
        let result = decode_result(row)?;
        let direction = directions[&row.benchmark];
        *counts.entry(row.release.as_str()).or_default() += 1;
        let candidate = Best {
            name: row.name.clone(),
            score: row.score,
            uncertainty: uncertainty(&result),
            publish_date: result.publish_date,
        };
        let slot = best
            .entry(row.release.as_str())
            .or_default()
            .entry((row.benchmark.clone(), row.settings_key.clone()));
        match slot {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(candidate);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let current = o.get();
                let date = |b: &Best| b.publish_date.map(|d| (d.year, d.month, d.day));
                // The best score; then the earliest published, undated
                // last; then the name (rows come by name).
                let replace = better(direction, candidate.score, current.score)
                    || (candidate.score == current.score
                        && date(&candidate).is_some()
                        && (date(current).is_none() || date(&candidate) < date(current)));
                if replace {
                    o.insert(candidate);
                }
            }
        }
    }
    let empty = BTreeMap::new();
    let mut out = Vec::with_capacity(releases.len());
    for (i, release) in releases.iter().enumerate() {
        let mine = best.get(release.name.as_str()).unwrap_or(&empty);
        let mut quality = ReleaseQuality {
            release: release.name.clone(),
            display_name: release.display_name.clone(),
            date: release.release_date.or(release.announce_date),
            results: counts.get(release.name.as_str()).copied().unwrap_or(0),
            ..Default::default()
        };
        if let Some(previous) = i.checked_sub(1).map(|p| &releases[p]) {
            quality.previous_release = previous.name.clone();
            let theirs = best.get(previous.name.as_str()).unwrap_or(&empty);
            for ((benchmark, key), now) in mine {
                let Some(before) = theirs.get(&(benchmark.clone(), key.clone())) else {
                    continue;
                };
                let direction = directions[benchmark];
                let tolerance = tolerance(before.uncertainty, now.uncertainty, q.threshold);
                let regressed = gain(direction, before.score, now.score) > tolerance;
                quality.regressions += i32::from(regressed);
                quality.deltas.push(QualityDelta {
                    benchmark: benchmark.clone(),
                    settings_key: key.clone(),
                    direction: direction as i32,
                    score: now.score,
                    previous_score: before.score,
                    delta: now.score - before.score,
                    tolerance,
                    regressed,
                    benchmark_result: now.name.clone(),
                    previous_benchmark_result: before.name.clone(),
                });
            }
        }
        out.push(quality);
    }
    Ok(ModelLineQuality {
        model: q.model.clone(),
        releases: out,
    })
}
