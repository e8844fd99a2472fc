//! Comparisons of releases benchmark by benchmark, on common evaluation
//! settings only.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use frontierwatch_proto::v1::*;

use super::leaderboard::{decode_result, direction_of};
use crate::domain::analytics::better;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::{self as queries, ResultFilter, ResultRow};

/// A validated comparison: at least two distinct releases.
#[derive(Debug, Clone)]
pub struct CompareQuery {
    pub releases: Vec<String>,
    pub as_of: Option<NaiveDate>,
    pub include_disputed: bool,
}

/// The releases' results compared, benchmark by benchmark.
pub async fn compare(store: &Store, q: &CompareQuery) -> Result<CompareReleasesResponse, ApiError> {
    let as_of = q.as_of;
    for release in &q.releases {
        store.get::<Release>(release).await?;
    }
    let filter = ResultFilter {
        as_of,
        include_disputed: q.include_disputed,
        ..ResultFilter::default()
    };
    let rows = queries::results_of(store.pool(), &q.releases, &filter).await?;
    let mut by_benchmark: BTreeMap<String, Vec<ResultRow>> = BTreeMap::new();
    for row in rows {
        by_benchmark
            .entry(row.benchmark.clone())
            .or_default()
            .push(row);
    }
    let order: HashMap<&str, usize> = q
        .releases
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut comparisons = Vec::new();
    for (benchmark_name, rows) in by_benchmark {
        let mut releases_here: Vec<&str> = rows.iter().map(|r| r.release.as_str()).collect();
        releases_here.sort_by_key(|r| order.get(r).copied().unwrap_or(usize::MAX));
        releases_here.dedup();
        if releases_here.len() < 2 {
            continue;
        }
        let benchmark: Benchmark = store.get(&benchmark_name).await?;
        let direction = direction_of(&benchmark);
        // Best per (key, release).
        let mut best: BTreeMap<String, BTreeMap<usize, &ResultRow>> = BTreeMap::new();
        for row in &rows {
            let slot = best.entry(row.settings_key.clone()).or_default();
            let i = order
                .get(row.release.as_str())
                .copied()
                .unwrap_or(usize::MAX);
            if slot
                .get(&i)
                .is_none_or(|current| better(direction, row.score, current.score))
            {
                slot.insert(i, row);
            }
        }
        let mut comparison = BenchmarkComparison {
            benchmark: benchmark_name.clone(),
            direction: direction as i32,
            ..Default::default()
        };
        let mut compared_pairs = std::collections::HashSet::new();
        for (key, per_release) in &best {
            if per_release.len() < 2 {
                continue;
            }
            let baseline = per_release.values().next().map_or(0.0, |r| r.score);
            let mut group = ComparisonGroup {
                settings_key: key.clone(),
                ..Default::default()
            };
            let members: Vec<&&ResultRow> = per_release.values().collect();
            for (a, ra) in members.iter().enumerate() {
                for rb in &members[a + 1..] {
                    compared_pairs.insert((ra.release.clone(), rb.release.clone()));
                    compared_pairs.insert((rb.release.clone(), ra.release.clone()));
                }
            }
            for row in per_release.values() {
                let result = decode_result(row)?;
                if group.settings.is_none() {
                    group.settings = result.settings;
                }
                group.scores.push(ComparedScore {
                    release: row.release.clone(),
                    score: row.score,
                    delta: row.score - baseline,
                    better: better(direction, row.score, baseline),
                    benchmark_result: row.name.clone(),
                    provenance: result.provenance,
                });
            }
            comparison.groups.push(group);
        }
        for (a, ra) in releases_here.iter().enumerate() {
            for rb in &releases_here[a + 1..] {
                if compared_pairs.contains(&(ra.to_string(), rb.to_string())) {
                    continue;
                }
                let keys = |release: &str| -> Vec<String> {
                    let mut k: Vec<String> = rows
                        .iter()
                        .filter(|r| r.release == release)
                        .map(|r| r.settings_key.clone())
                        .collect();
                    k.sort();
                    k.dedup();
                    k
                };
                comparison.not_comparable.push(NotComparable {
                    release_a: (*ra).to_owned(),
                    release_b: (*rb).to_owned(),
                    reason: format!(
                        "no common evaluation settings: {} has [{}], {} has [{}]",
                        ra,
                        keys(ra).join(" | "),
                        rb,
                        keys(rb).join(" | ")
                    ),
                });
            }
        }
        comparisons.push(comparison);
    }
    Ok(CompareReleasesResponse { comparisons })
}
