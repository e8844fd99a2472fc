//! The alert evaluator: derives events (a missed cadence window, a new
//! leader on a benchmark) and appends them to the change stream, where
//! watchers filter on them like any other change.
//!
//! Every replica runs it; a transaction-scoped advisory lock lets one at a
//! time do the work, and each alert's unique key makes it appear exactly
//! once even if two evaluations overlap.

use std::time::Duration;

use chrono::Utc;
use frontierwatch_proto::v1::{Alert, AlertKind, GetLeaderboardRequest, WindowStatus};
use tokio::sync::watch;

use crate::api::analytics;
use crate::domain::analytics::cadence;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics as queries;

/// 0x4657_0002: the advisory lock key of the evaluator.
const LOCK: i64 = 1_180_106_754;

/// Evaluates every `interval` until shutdown.
pub fn spawn(store: Store, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = ticks.tick() => {}
            }
            match evaluate(&store).await {
                Ok(Evaluation::Skipped) => {
                    metrics::counter!(crate::metrics::EVALUATOR_RUNS, "outcome" => "skipped_locked")
                        .increment(1);
                }
                Ok(Evaluation::Done(raised)) => {
                    metrics::counter!(crate::metrics::EVALUATOR_RUNS, "outcome" => "evaluated")
                        .increment(1);
                    metrics::gauge!(crate::metrics::EVALUATOR_LAST_SUCCESS)
                        .set(Utc::now().timestamp_millis() as f64 / 1000.0);
                    if raised > 0 {
                        tracing::info!(raised, "alerts raised");
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
    /// Evaluated; this many alerts raised.
    Done(u64),
}

/// One evaluation, if this replica gets the lock.
pub async fn evaluate(store: &Store) -> Result<Evaluation, ApiError> {
    let pool = store.pool();
    let mut lock = pool.begin().await.map_err(ApiError::Unavailable)?;
    let (acquired,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *lock)
        .await
        .map_err(ApiError::Unavailable)?;
    if !acquired {
        return Ok(Evaluation::Skipped);
    }
    let mut raised = 0;
    raised += missed_windows(store).await?;
    raised += new_leaders(store).await?;
    lock.commit().await.map_err(ApiError::Unavailable)?;
    Ok(Evaluation::Done(raised))
}

/// Counts an alert raised, by its kind.
fn count_raised(kind: AlertKind) {
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

async fn new_leaders(store: &Store) -> Result<u64, ApiError> {
    let mut raised = 0;
    for benchmark in queries::benchmarks_with_results(store.pool()).await? {
        let board = analytics::leaderboard(
            store,
            GetLeaderboardRequest {
                benchmark: benchmark.clone(),
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
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
                &benchmark,
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

/// A stable short hash for alert ids.
pub fn short_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
