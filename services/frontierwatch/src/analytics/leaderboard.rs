//! Leaderboards: a benchmark's results ranked by section of evaluation
//! settings.

use std::collections::{BTreeMap, HashMap};

use frontierwatch_proto::v1::*;
use prost::Message as _;

use super::prices::{Blend, Cheapest, cheapest};
use crate::domain::analytics::{better, competition_ranks};
use crate::domain::kinds::weights;
use crate::domain::names::model_of_release;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::{self as queries, ResultFilter, ResultRow};

pub(super) fn decode_result(row: &ResultRow) -> Result<BenchmarkResult, ApiError> {
    BenchmarkResult::decode(row.data.as_slice()).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("stored result does not decode"))
    })
}

pub(super) fn direction_of(benchmark: &Benchmark) -> ScoreDirection {
    ScoreDirection::try_from(benchmark.direction).unwrap_or(ScoreDirection::Unspecified)
}

/// A validated leaderboard question: what the request asks, typed. The
/// alert evaluator asks it directly ([`LeaderboardQuery::leaders_of`]).
#[derive(Debug, Clone)]
pub struct LeaderboardQuery {
    pub benchmark: String,
    /// Which results count.
    pub filter: ResultFilter,
    pub grouping: LeaderboardGrouping,
    /// Rows per section.
    pub limit: usize,
}

impl LeaderboardQuery {
    /// The leader of each section of a benchmark's board today.
    pub fn leaders_of(benchmark: &str) -> Self {
        Self {
            benchmark: benchmark.to_owned(),
            filter: ResultFilter::default(),
            grouping: LeaderboardGrouping::Unspecified,
            limit: 1,
        }
    }
}

/// A benchmark's leaderboard: sections by evaluation settings, the largest
/// first (then by settings key), the benchmark's canonical settings before
/// all; rows by score with competition ranks.
pub async fn board(store: &Store, q: &LeaderboardQuery) -> Result<Leaderboard, ApiError> {
    Ok(board_priced(store, q, &Blend::default(), true).await?.0)
}

/// The leaderboard, each row's cheapest price blended by `blend`, and the
/// cheapest offering of each release shown (read once, for the price
/// frontier too). With `in_full`, each row carries its result's dates,
/// verification, evaluator and provenance; without, only what the board
/// ranks by (release, score, result name) and the names and prices read
/// with it, and only each section's first result is read (for its
/// settings): all the price frontier shows.
pub(super) async fn board_priced(
    store: &Store,
    q: &LeaderboardQuery,
    blend: &Blend,
    in_full: bool,
) -> Result<(Leaderboard, HashMap<String, Cheapest>), ApiError> {
    let limit = q.limit;
    let grouping = q.grouping;
    let benchmark: Benchmark = store.get(&q.benchmark).await?;
    let direction = direction_of(&benchmark);
    let filter = &q.filter;
    let name = q.benchmark.clone();
    // Ranked here, in one place for every option: each release's best
    // result per settings key leaves the database as keys only (the rows
    // shown are read in full below), which cost no more than ranking them
    // there with window functions (benches/report/analytics.md).
    let rows = queries::best_results(
        store.pool(),
        &name,
        filter,
        direction == ScoreDirection::LowerIsBetter,
    )
    .await?;

    let mut by_key: BTreeMap<String, Vec<ResultRow>> = BTreeMap::new();
    for row in rows {
        by_key
            .entry(row.settings_key.clone())
            .or_default()
            .push(row);
    }
    let dates = if grouping == LeaderboardGrouping::ModelLatest {
        let releases: Vec<String> = by_key
            .values()
            .flatten()
            .map(|r| r.release.clone())
            .collect();
        queries::release_dates(store.pool(), &releases).await?
    } else {
        HashMap::new()
    };
    let mut ranked: Vec<(String, Vec<ResultRow>)> = Vec::new();
    for (settings_key, mut rows) in by_key {
        // One row per model line when asked: its best, or its latest release.
        if grouping != LeaderboardGrouping::Unspecified {
            let mut per_model: BTreeMap<String, ResultRow> = BTreeMap::new();
            for row in rows {
                let model = row
                    .model
                    .clone()
                    .or_else(|| model_of_release(&row.release))
                    .unwrap_or_default();
                let keep = match per_model.get(&model) {
                    None => true,
                    Some(current) if grouping == LeaderboardGrouping::ModelBest => {
                        better(direction, row.score, current.score)
                    }
                    Some(current) => dates.get(&row.release) > dates.get(&current.release),
                };
                if keep {
                    per_model.insert(model, row);
                }
            }
            rows = per_model.into_values().collect();
        }
        rows.sort_by(|a, b| {
            let order = a.score.total_cmp(&b.score);
            let order = if direction == ScoreDirection::LowerIsBetter {
                order
            } else {
                order.reverse()
            };
            order.then_with(|| a.release.cmp(&b.release))
        });
        ranked.push((settings_key, rows));
    }
    // Only the rows shown are read in full, with their releases and model
    // lines and the releases' offerings: independent reads, at once.
    let shown: Vec<&ResultRow> = ranked
        .iter()
        .flat_map(|(_, rows)| rows.iter().take(limit))
        .collect();
    let results: Vec<String> = match in_full {
        true => shown.iter().map(|r| r.name.clone()).collect(),
        false => ranked
            .iter()
            .filter_map(|(_, rows)| rows.first().map(|r| r.name.clone()))
            .collect(),
    };
    let mut names: Vec<String> = shown
        .iter()
        .flat_map(|r| [Some(&r.release), r.model.as_ref()])
        .flatten()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    let releases: Vec<String> = names
        .iter()
        .filter(|n| n.contains("/releases/"))
        .cloned()
        .collect();
    let day = super::cadence::today_or(filter.as_of);
    let (data, stored, prices) = tokio::try_join!(
        queries::result_data(store.pool(), &results),
        queries::result_data(store.pool(), &names),
        cheapest(store, &releases, day, blend),
    )?;
    let mut sections = Vec::new();
    for (settings_key, rows) in ranked {
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        let ranks = competition_ranks(&scores);
        let mut section = LeaderboardSection {
            settings_key: settings_key.clone(),
            ..Default::default()
        };
        for (i, (row, (rank, tied))) in rows.iter().zip(ranks).take(limit).enumerate() {
            let result = match in_full || i == 0 {
                true => decode_stored(row, &data)?,
                false => BenchmarkResult::default(),
            };
            if section.settings.is_none() {
                section.settings = result.settings.clone();
            }
            section.rows.push(leaderboard_row(row, rank, tied, result));
        }
        sections.push((rows.len(), section));
    }
    // The same order as the ranked-in-the-database path: by the size of
    // the whole section, not of the rows shown.
    sections
        .sort_by(|(a, sa), (b, sb)| b.cmp(a).then_with(|| sa.settings_key.cmp(&sb.settings_key)));
    let mut sections: Vec<LeaderboardSection> = sections.into_iter().map(|(_, s)| s).collect();
    canonical_first(&benchmark, &mut sections, |s| &s.settings_key);
    name_and_price(&mut sections, &stored, &prices, &blend.currency);
    let board = Leaderboard {
        benchmark: name,
        direction: direction as i32,
        sections,
    };
    Ok((board, prices))
}

/// Every row with its release's and model line's display names, whether
/// its weights are open, and its cheapest price.
fn name_and_price(
    sections: &mut [LeaderboardSection],
    stored: &HashMap<String, Vec<u8>>,
    prices: &HashMap<String, Cheapest>,
    currency: &str,
) {
    let release = |name: &str| -> Release {
        let bytes = stored.get(name).map_or(&[][..], Vec::as_slice);
        Release::decode(bytes).unwrap_or_default()
    };
    let model_name = |name: &str| -> String {
        let bytes = stored.get(name).map_or(&[][..], Vec::as_slice);
        Model::decode(bytes)
            .map(|m| m.display_name)
            .unwrap_or_default()
    };
    for row in sections.iter_mut().flat_map(|s| s.rows.iter_mut()) {
        let stored_release = release(&row.release);
        row.release_display_name = stored_release.display_name;
        row.open_weights = weights(&stored_release.access) == "open";
        row.model_display_name = model_name(&row.model);
        row.cheapest_price = prices
            .get(&row.release)
            .map(|c| crate::domain::market::price(c.blended, currency));
    }
}

/// Moves the section of the benchmark's canonical settings, when it names
/// them and the section is there, before the others.
pub(super) fn canonical_first<T>(
    benchmark: &Benchmark,
    sections: &mut Vec<T>,
    key_of: impl Fn(&T) -> &str,
) {
    let Some(canonical) = &benchmark.canonical_settings else {
        return;
    };
    let key = crate::domain::analytics::settings_key(Some(canonical));
    if let Some(at) = sections.iter().position(|s| key_of(s) == key) {
        let section = sections.remove(at);
        sections.insert(0, section);
    }
}

/// The stored result of a row, from data read for the rows shown.
fn decode_stored(
    row: &ResultRow,
    data: &HashMap<String, Vec<u8>>,
) -> Result<BenchmarkResult, ApiError> {
    let bytes = data.get(&row.name).map_or(&[][..], Vec::as_slice);
    BenchmarkResult::decode(bytes).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("stored result does not decode"))
    })
}

/// A leaderboard row with its provenance.
fn leaderboard_row(
    row: &ResultRow,
    rank: i32,
    tied: bool,
    result: BenchmarkResult,
) -> LeaderboardRow {
    LeaderboardRow {
        rank,
        tied,
        release: row.release.clone(),
        model: row.model.clone().unwrap_or_default(),
        score: row.score,
        benchmark_result: row.name.clone(),
        publish_date: result.publish_date,
        verification: result.verification,
        evaluator_relation: result.evaluator_relation,
        evaluator: result.evaluator,
        provenance: result.provenance,
        // Filled for the rows shown, in one read: see name_and_price.
        release_display_name: String::new(),
        model_display_name: String::new(),
        cheapest_price: None,
        open_weights: false,
    }
}
