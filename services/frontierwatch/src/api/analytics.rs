//! Leaderboards, comparisons, cadence reports and timelines (transparency
//! reports are in `transparency.rs`).

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Utc};
use frontierwatch_proto::v1::*;
use prost::Message as _;

use crate::domain::analytics::{better, cadence, competition_ranks, qualifying_date, to_date};
use crate::domain::names::model_of_release;
use crate::domain::violations::{check_date, to_naive_date};
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::{self as queries, ResultFilter, ResultRow};

pub(super) fn as_of(field: &str, date: Option<&Date>, v: &mut Violations) -> Option<NaiveDate> {
    let date = date?;
    match check_date(date) {
        Ok(()) => to_naive_date(date),
        Err(why) => {
            v.add(field, why);
            None
        }
    }
}

fn decode_result(row: &ResultRow) -> Result<BenchmarkResult, ApiError> {
    BenchmarkResult::decode(row.data.as_slice()).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("stored result does not decode"))
    })
}

fn direction_of(benchmark: &Benchmark) -> ScoreDirection {
    ScoreDirection::try_from(benchmark.direction).unwrap_or(ScoreDirection::Unspecified)
}

/// A validated leaderboard question: what the request asks, typed. The
/// alert evaluator asks it directly ([`LeaderboardQuery::leaders_of`]).
#[derive(Debug, Clone)]
pub struct LeaderboardQuery {
    pub benchmark: String,
    pub as_of: Option<NaiveDate>,
    pub include_disputed: bool,
    /// Only results of this evaluator relation (its enum value's name).
    pub relation: Option<&'static str>,
    pub grouping: LeaderboardGrouping,
    /// Rows per section.
    pub limit: usize,
}

impl LeaderboardQuery {
    /// The leader of each section of a benchmark's board today.
    pub fn leaders_of(benchmark: &str) -> Self {
        Self {
            benchmark: benchmark.to_owned(),
            as_of: None,
            include_disputed: false,
            relation: None,
            grouping: LeaderboardGrouping::Unspecified,
            limit: 1,
        }
    }
}

/// GetLeaderboard: the request validated, then answered.
pub async fn leaderboard(store: &Store, r: GetLeaderboardRequest) -> Result<Leaderboard, ApiError> {
    board(store, &leaderboard_query(r)?).await
}

/// Validates a GetLeaderboard request.
fn leaderboard_query(r: GetLeaderboardRequest) -> Result<LeaderboardQuery, ApiError> {
    let mut v = Violations::default();
    if r.benchmark.is_empty() {
        v.add("benchmark", "is required");
    }
    v.name_of("benchmark", &r.benchmark, Kind::Benchmark);
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    let relation = match EvaluatorFilter::try_from(r.evaluators) {
        Ok(EvaluatorFilter::Unspecified) => None,
        Ok(EvaluatorFilter::FirstPartyOnly) => Some("EVALUATOR_RELATION_FIRST_PARTY"),
        Ok(EvaluatorFilter::ThirdPartyOnly) => Some("EVALUATOR_RELATION_THIRD_PARTY"),
        Err(_) => {
            v.add(
                "evaluators",
                format!("{} is not a known value", r.evaluators),
            );
            None
        }
    };
    let grouping = LeaderboardGrouping::try_from(r.grouping).unwrap_or_else(|_| {
        v.add("grouping", format!("{} is not a known value", r.grouping));
        LeaderboardGrouping::Unspecified
    });
    if !(0..=1000).contains(&r.limit) {
        v.add("limit", "must be between 0 and 1000");
    }
    v.into_result()?;
    Ok(LeaderboardQuery {
        benchmark: r.benchmark,
        as_of,
        include_disputed: r.include_disputed,
        relation,
        grouping,
        limit: if r.limit == 0 { 100 } else { r.limit as usize },
    })
}

/// A benchmark's leaderboard: sections by evaluation settings, the largest
/// first (then by settings key), the benchmark's canonical settings before
/// all; rows by score with competition ranks.
pub async fn board(store: &Store, q: &LeaderboardQuery) -> Result<Leaderboard, ApiError> {
    let limit = q.limit;
    let grouping = q.grouping;
    let benchmark: Benchmark = store.get(&q.benchmark).await?;
    let direction = direction_of(&benchmark);
    let filter = ResultFilter {
        as_of: q.as_of,
        include_disputed: q.include_disputed,
        relation: q.relation,
    };
    let name = q.benchmark.clone();
    // Ranked here, in one place for every option: each release's best
    // result per settings key leaves the database as keys only (the rows
    // shown are read in full below), which cost no more than ranking them
    // there with window functions (benches/report/analytics.md).
    let rows = queries::best_results(
        store.pool(),
        &name,
        &filter,
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
    // Only the rows shown are read in full.
    let shown: Vec<String> = ranked
        .iter()
        .flat_map(|(_, rows)| rows.iter().take(limit).map(|r| r.name.clone()))
        .collect();
    let data = queries::result_data(store.pool(), &shown).await?;
    let mut sections = Vec::new();
    for (settings_key, rows) in ranked {
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        let ranks = competition_ranks(&scores);
        let mut section = LeaderboardSection {
            settings_key: settings_key.clone(),
            ..Default::default()
        };
        for (row, (rank, tied)) in rows.iter().zip(ranks).take(limit) {
            if section.settings.is_none() {
                section.settings = decode_stored(row, &data)?.settings;
            }
            section.rows.push(leaderboard_row(row, rank, tied, &data)?);
        }
        sections.push((rows.len(), section));
    }
    // The same order as the ranked-in-the-database path: by the size of
    // the whole section, not of the rows shown.
    sections
        .sort_by(|(a, sa), (b, sb)| b.cmp(a).then_with(|| sa.settings_key.cmp(&sb.settings_key)));
    let sections = sections.into_iter().map(|(_, s)| s).collect();
    finish_leaderboard(store, name, &benchmark, sections).await
}

/// The benchmark's canonical section first, when it names one and has
/// results; every row with its release's and model line's display names.
async fn finish_leaderboard(
    store: &Store,
    name: String,
    benchmark: &Benchmark,
    mut sections: Vec<LeaderboardSection>,
) -> Result<Leaderboard, ApiError> {
    if let Some(canonical) = &benchmark.canonical_settings {
        let key = crate::domain::analytics::settings_key(Some(canonical));
        if let Some(at) = sections.iter().position(|s| s.settings_key == key) {
            let section = sections.remove(at);
            sections.insert(0, section);
        }
    }
    let mut names: Vec<String> = sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| [r.release.clone(), r.model.clone()])
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    let stored = queries::result_data(store.pool(), &names).await?;
    let display_name = |name: &str, release: bool| -> String {
        use prost::Message as _;
        let Some(bytes) = stored.get(name) else {
            return String::new();
        };
        if release {
            Release::decode(bytes.as_slice()).map(|r| r.display_name)
        } else {
            Model::decode(bytes.as_slice()).map(|m| m.display_name)
        }
        .unwrap_or_default()
    };
    for row in sections.iter_mut().flat_map(|s| s.rows.iter_mut()) {
        row.release_display_name = display_name(&row.release, true);
        row.model_display_name = display_name(&row.model, false);
    }
    Ok(Leaderboard {
        benchmark: name,
        direction: direction_of(benchmark) as i32,
        sections,
    })
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
    data: &HashMap<String, Vec<u8>>,
) -> Result<LeaderboardRow, ApiError> {
    let result = decode_stored(row, data)?;
    Ok(LeaderboardRow {
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
        // Filled for the rows shown, in one read: see finish_leaderboard.
        release_display_name: String::new(),
        model_display_name: String::new(),
    })
}

pub async fn compare(
    store: &Store,
    r: CompareReleasesRequest,
) -> Result<CompareReleasesResponse, ApiError> {
    let mut v = Violations::default();
    if r.releases.len() < 2 {
        v.add("releases", "at least two releases are required");
    }
    if r.releases.len() > 100 {
        v.add("releases", "at most 100 releases");
    }
    for (i, release) in r.releases.iter().enumerate() {
        if !Kind::Release.is_valid_name(release) {
            v.add(
                &format!("releases[{i}]"),
                format!(
                    "must be a resource name of the form {}",
                    Kind::Release.pattern()
                ),
            );
        } else if r.releases[..i].contains(release) {
            v.add(&format!("releases[{i}]"), "is listed twice");
        }
    }
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    v.into_result()?;
    for release in &r.releases {
        store.get::<Release>(release).await?;
    }
    let filter = ResultFilter {
        as_of,
        include_disputed: r.include_disputed,
        relation: None,
    };
    let rows = queries::results_of(store.pool(), &r.releases, &filter).await?;
    let mut by_benchmark: BTreeMap<String, Vec<ResultRow>> = BTreeMap::new();
    for row in rows {
        by_benchmark
            .entry(row.benchmark.clone())
            .or_default()
            .push(row);
    }
    let order: HashMap<&str, usize> = r
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

/// Today, or the requested date.
pub(super) fn today_or(date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| Utc::now().date_naive())
}

/// The qualifying releases of a commitment, with the dates they count from.
pub async fn qualifying_releases(
    store: &Store,
    commitment: &Commitment,
) -> Result<Vec<(String, NaiveDate)>, ApiError> {
    let subject = if commitment.model.is_empty() {
        &commitment.organization
    } else {
        &commitment.model
    };
    let releases = queries::releases_of(store.pool(), subject).await?;
    Ok(releases
        .iter()
        .filter_map(|r| qualifying_date(commitment, r).map(|d| (r.name.clone(), d)))
        .collect())
}

pub async fn cadence_report(
    store: &Store,
    r: GetCadenceReportRequest,
) -> Result<CadenceReport, ApiError> {
    let mut v = Violations::default();
    if r.commitment.is_empty() {
        v.add("commitment", "is required");
    }
    v.name_of("commitment", &r.commitment, Kind::Commitment);
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    v.into_result()?;
    let commitment: Commitment = store.get(&r.commitment).await?;
    let releases = qualifying_releases(store, &commitment).await?;
    Ok(cadence(&commitment, &releases, today_or(as_of)))
}

pub async fn timeline(store: &Store, r: GetTimelineRequest) -> Result<Timeline, ApiError> {
    let mut v = Violations::default();
    match Kind::of_name(&r.subject) {
        Some(Kind::Model) => {}
        Some(Kind::Organization) => {}
        _ => v.add("subject", "must name a model line (models/{model}) or an organization (organizations/{organization})"),
    }
    v.into_result()?;
    if Kind::of_name(&r.subject) == Some(Kind::Model) {
        store.get::<Model>(&r.subject).await?;
    } else {
        store.get::<Organization>(&r.subject).await?;
    }
    let mut events = Vec::new();
    for release in queries::releases_of(store.pool(), &r.subject).await? {
        let event = |date: &ApproximateDate,
                     kind: TimelineEventKind,
                     stage: i32,
                     audience: &str| TimelineEvent {
            date: Some(*date),
            kind: kind as i32,
            release: release.name.clone(),
            display_name: release.display_name.clone(),
            stage,
            audience: audience.to_owned(),
        };
        if let Some(d) = &release.announce_date {
            events.push(event(d, TimelineEventKind::Announced, 0, ""));
        }
        if let Some(d) = &release.release_date {
            events.push(event(d, TimelineEventKind::Released, 0, ""));
        }
        for change in &release.stage_history {
            if let Some(d) = &change.date {
                events.push(event(
                    d,
                    TimelineEventKind::StageChanged,
                    change.stage,
                    &change.audience,
                ));
            }
        }
    }
    let key = |e: &TimelineEvent| e.date.and_then(|d| d.date).and_then(|d| to_naive_date(&d));
    events.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.release.cmp(&b.release))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    let _ = to_date;
    Ok(Timeline {
        subject: r.subject,
        events,
    })
}
