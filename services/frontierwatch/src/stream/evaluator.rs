//! The alert evaluator: derives events (a missed cadence window, a new
//! leader on a benchmark, a release that regresses against its model
//! line's previous one, an offering's price change or availability drop,
//! see `market_alerts`) and appends them to the change stream, where
//! watchers filter on them like any other change.
//!
//! Every replica runs it; a transaction-scoped advisory lock lets one at a
//! time do the work, and each alert's unique key makes it appear exactly
//! once even if two evaluations overlap.
//!
//! Leaders are evaluated for the benchmarks whose results (or whose own
//! definition) changed since this replica's previous evaluation, read from
//! the change log, so that a tick costs what changed, not what is stored.
//! The first tick of a replica, and a tick whose cursor the pruner
//! overtook, evaluate every benchmark. An unchanged board has the same
//! leader, so skipping it raises no fewer alerts.

use std::time::Duration;

use chrono::Utc;
use frontierwatch_proto::v1::{Alert, AlertKind, WindowStatus};
use tokio::sync::watch;

use crate::analytics::{self, LeaderboardQuery};
use crate::domain::analytics::cadence;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics as queries;
use crate::storage::changes;
use crate::storage::market;
use crate::stream::hub::PAGE;
use crate::stream::market_alerts::{self, AvailabilityRule};
use prost::Name as _;

/// 0x4657_0002: the advisory lock key of the evaluator.
const LOCK: i64 = 1_180_106_754;

/// Evaluates every `interval` until shutdown.
pub fn spawn(
    store: Store,
    interval: Duration,
    availability: Option<AvailabilityRule>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = Cursor {
            availability,
            ..Cursor::default()
        };
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = ticks.tick() => {}
            }
            match evaluate(&store, &mut cursor).await {
                Ok(Evaluation::Skipped) => {
                    metrics::counter!(crate::metrics::EVALUATOR_RUNS, "outcome" => "skipped_locked")
                        .increment(1);
                }
                Ok(Evaluation::Done { raised, boards }) => {
                    metrics::counter!(crate::metrics::EVALUATOR_RUNS, "outcome" => "evaluated")
                        .increment(1);
                    metrics::gauge!(crate::metrics::EVALUATOR_LAST_SUCCESS)
                        .set(Utc::now().timestamp_millis() as f64 / 1000.0);
                    if boards > 0 {
                        tracing::info!(boards, raised, "leaderboards evaluated");
                    }
                }
                Err(error) => {
                    metrics::counter!(crate::metrics::EVALUATOR_RUNS, "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(%error, "alert evaluation failed");
                }
            }
        }
    });
}

/// What one tick of the evaluator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Another replica holds the lock.
    Skipped,
    /// Evaluated: alerts raised, and the benchmarks whose leaderboards
    /// were computed.
    Done { raised: u64, boards: u64 },
}

/// Where a replica's evaluations stand.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The change log's head at the previous evaluation (none before the
    /// first).
    pub head: Option<i64>,
    /// The day every offering was last looked at: terms dated ahead take
    /// effect with the day, not with a change.
    pub day: Option<chrono::NaiveDate>,
    /// The operator's availability rule, if any.
    pub availability: Option<AvailabilityRule>,
}

/// One evaluation, if this replica gets the lock. The cursor's head
/// advances to the head read now.
pub async fn evaluate(store: &Store, cursor: &mut Cursor) -> Result<Evaluation, ApiError> {
    let pool = store.pool();
    let Some(lock) = crate::storage::admin::try_lock(pool, LOCK).await? else {
        return Ok(Evaluation::Skipped);
    };
    // The head first: a change committed while this pass runs is read by
    // the next one (at worst a board is evaluated twice).
    let head = changes::head(pool).await?;
    let today = Utc::now().date_naive();
    let changed = match cursor.head {
        Some(after) => changed_since(store, after, head).await?,
        None => None,
    };
    // Every offering once a day, and whenever what changed is not known.
    let everything = cursor.day != Some(today) || changed.is_none();
    let (benchmarks, models, offerings, measurements) = match changed {
        Some(c) => (c.benchmarks, c.models, c.offerings, c.measurements),
        None => (
            queries::benchmarks_with_results(pool).await?,
            queries::models_with_results(pool).await?,
            Vec::new(),
            Vec::new(),
        ),
    };
    let mut raised = missed_windows(store).await?;
    raised += new_leaders(store, &benchmarks).await?;
    raised += regressions(store, &models).await?;
    let offerings = if everything {
        market::all_offerings(pool).await?
    } else {
        // Sorted already: read from the change log into a set.
        market::offerings_named(pool, &offerings).await?
    };
    raised += market_alerts::price_changes(store, &offerings, today).await?;
    if let Some(rule) = cursor.availability {
        let measured = if everything {
            let since = Utc::now() - chrono::Duration::from_std(rule.window).unwrap_or_default();
            market::offerings_measured_since(pool, since).await?
        } else {
            market::offerings_measured(pool, &measurements).await?
        };
        raised += market_alerts::availability_drops(store, &measured, rule).await?;
    }
    lock.commit().await.map_err(ApiError::Unavailable)?;
    cursor.head = Some(head);
    cursor.day = Some(today);
    Ok(Evaluation::Done {
        raised,
        boards: benchmarks.len() as u64,
    })
}

/// What the evaluator looks at again.
struct Changed {
    /// Benchmarks, for their leaders.
    benchmarks: Vec<String>,
    /// Model lines, for regressions.
    models: Vec<String>,
    /// Offerings, for their prices.
    offerings: Vec<String>,
    /// Measurements, for their offerings' availability.
    measurements: Vec<String>,
}

/// The benchmarks with a change to one of their results, or to their own
/// definition, and the model lines with a change to one of their results
/// or releases, after `after` up to `head`; none when the log no longer
/// holds everything after `after` (then everything is evaluated).
async fn changed_since(
    store: &Store,
    mut after: i64,
    head: i64,
) -> Result<Option<Changed>, ApiError> {
    let result_type = frontierwatch_proto::v1::BenchmarkResult::full_name();
    let benchmark_type = frontierwatch_proto::v1::Benchmark::full_name();
    let release_type = frontierwatch_proto::v1::Release::full_name();
    let offering_type = frontierwatch_proto::v1::Offering::full_name();
    let measurement_type = frontierwatch_proto::v1::Measurement::full_name();
    let mut changed = std::collections::BTreeSet::new();
    let mut models = std::collections::BTreeSet::new();
    let mut offerings = std::collections::BTreeSet::new();
    let mut measurements = std::collections::BTreeSet::new();
    while after < head {
        let records = match changes::read_after(store.pool(), after, PAGE).await {
            Ok(records) => records,
            Err(ApiError::CursorExpired { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(last) = records.last() else { break };
        after = last.seq;
        for record in records {
            if record.resource_type == result_type {
                changed.extend(record.benchmark);
                models.extend(record.model);
            } else if record.resource_type == benchmark_type {
                changed.insert(record.resource_name);
            } else if record.resource_type == release_type {
                models.extend(record.model);
            } else if record.resource_type == offering_type {
                offerings.insert(record.resource_name);
            } else if record.resource_type == measurement_type {
                measurements.insert(record.resource_name);
            }
        }
    }
    Ok(Some(Changed {
        benchmarks: changed.into_iter().collect(),
        models: models.into_iter().collect(),
        offerings: offerings.into_iter().collect(),
        measurements: measurements.into_iter().collect(),
    }))
}

/// Counts an alert raised, by its kind.
pub(super) fn count_raised(kind: AlertKind) {
    metrics::counter!(crate::metrics::ALERTS_RAISED, "kind" => kind.as_str_name()).increment(1);
}

async fn missed_windows(store: &Store) -> Result<u64, ApiError> {
    let today = Utc::now().date_naive();
    let mut raised = 0;
    for commitment in queries::commitments(store.pool()).await? {
        let releases = analytics::qualifying_releases(store, &commitment).await?;
        let report = cadence(&commitment, &releases, today);
        for window in report
            .windows
            .iter()
            .filter(|w| w.status == WindowStatus::Missed as i32)
        {
            let Some(start) = window.start else { continue };
            let id = missed_window_id(&commitment.name, start);
            let alert = Alert {
                name: format!("alerts/{id}"),
                kind: AlertKind::CadenceWindowMissed as i32,
                subject: commitment.name.clone(),
                message: format!(
                    "{} missed the window starting {:04}-{:02}-{:02}: \"{}\"",
                    commitment.organization, start.year, start.month, start.day, commitment.promise
                ),
                organization: commitment.organization.clone(),
                window: Some(window.clone()),
                ..Default::default()
            };
            let key = format!(
                "cadence-missed|{}|{:04}-{:02}-{:02}",
                commitment.name, start.year, start.month, start.day
            );
            if queries::raise_alert(store.pool(), &key, &alert).await? {
                count_raised(AlertKind::CadenceWindowMissed);
                raised += 1;
            }
        }
    }
    Ok(raised)
}

async fn new_leaders(store: &Store, benchmarks: &[String]) -> Result<u64, ApiError> {
    let mut raised = 0;
    for benchmark in benchmarks {
        let board = match analytics::board(store, &LeaderboardQuery::leaders_of(benchmark)).await {
            Ok(board) => board,
            // Deleted since it changed: no board, no leader.
            Err(ApiError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        for section in board.sections {
            let Some(leader) = section.rows.first() else {
                continue;
            };
            // Ties at the top: no single new leader.
            if leader.tied {
                continue;
            }
            let announce = |previous: &str, changes: i64| {
                // The board's change count keys the alert, so that a lead
                // that changes back and forth is announced every time.
                let key = format!(
                    "new-leader|{benchmark}|{}|{changes}|{}",
                    section.settings_key, leader.release
                );
                let alert = Alert {
                    name: format!("alerts/leader-{}", short_hash(&key)),
                    kind: AlertKind::NewLeader as i32,
                    subject: benchmark.clone(),
                    message: format!(
                        "{} now leads {} ({}), ahead of {previous}",
                        leader.release, benchmark, section.settings_key
                    ),
                    release: leader.release.clone(),
                    previous_release: previous.to_owned(),
                    settings_key: section.settings_key.clone(),
                    score: leader.score,
                    ..Default::default()
                };
                (key, alert)
            };
            if queries::record_leader(
                store.pool(),
                benchmark,
                &section.settings_key,
                &leader.release,
                announce,
            )
            .await?
            {
                count_raised(AlertKind::NewLeader);
                raised += 1;
            }
        }
    }
    Ok(raised)
}

/// A model line's newest release that scores worse than the release
/// before it on a benchmark they share, beyond the results' uncertainty
/// (no threshold: any fall where none is stated), announced once per
/// release, benchmark and key (each later regression is announced too).
async fn regressions(store: &Store, models: &[String]) -> Result<u64, ApiError> {
    let mut raised = 0;
    for model in models {
        let query = analytics::LineQualityQuery {
            model: model.clone(),
            filter: Default::default(),
            threshold: 0.0,
        };
        let quality = match analytics::line_quality(store, &query).await {
            Ok(quality) => quality,
            // Deleted since it changed.
            Err(ApiError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let Some(newest) = quality.releases.last() else {
            continue;
        };
        if !newest.deltas.iter().any(|d| d.regressed) {
            continue;
        }
        // Read only for a line with something to announce.
        let organization = match store.get::<frontierwatch_proto::v1::Model>(model).await {
            Ok(line) => line.developers.into_iter().next().unwrap_or_default(),
            Err(ApiError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        for delta in newest.deltas.iter().filter(|d| d.regressed) {
            let key = format!(
                "regression|{}|{}|{}|{}",
                newest.release, delta.benchmark, delta.settings_key, newest.previous_release
            );
            let alert = Alert {
                name: format!("alerts/regression-{}", short_hash(&key)),
                kind: AlertKind::QualityRegression as i32,
                subject: model.clone(),
                organization: organization.clone(),
                message: format!(
                    "{} scores {} on {} ({}), worse than {}'s {} beyond its uncertainty {}",
                    newest.release,
                    delta.score,
                    delta.benchmark,
                    delta.settings_key,
                    newest.previous_release,
                    delta.previous_score,
                    delta.tolerance
                ),
                release: newest.release.clone(),
                previous_release: newest.previous_release.clone(),
                settings_key: delta.settings_key.clone(),
                score: delta.score,
                benchmark: delta.benchmark.clone(),
                previous_score: delta.previous_score,
                ..Default::default()
            };
            if queries::raise_alert(store.pool(), &key, &alert).await? {
                count_raised(AlertKind::QualityRegression);
                raised += 1;
            }
        }
    }
    Ok(raised)
}

/// The id of a missed window's alert: readable while it fits in 63
/// characters, else a hash of the whole commitment name (never a
/// truncation, which would give two long commitment ids one alert). The
/// two forms have different prefixes, so they cannot meet either.
fn missed_window_id(commitment: &str, start: frontierwatch_proto::v1::Date) -> String {
    let date = format!("{:04}{:02}{:02}", start.year, start.month, start.day);
    let readable = format!(
        "missed-{}-{date}",
        commitment.trim_start_matches("commitments/")
    );
    if readable.len() <= crate::domain::names::MAX_ID_LEN {
        readable
    } else {
        format!("missedh-{}-{date}", short_hash(commitment))
    }
}

/// A stable short hash for alert ids: 64-bit FNV-1a (the `fnv` crate's);
/// stored ids depend on it, so it must never change.
pub fn short_hash(text: &str) -> String {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(text.as_bytes());
    format!("{:016x}", hasher.finish())
}
