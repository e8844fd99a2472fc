//! Running a batch of writes through the one decision (`storage::decide`):
//! read what the batch needs (`storage::snapshot`), decide every write in
//! order, read again and decide again while something was missing, and
//! write the plan (`storage::rows`).
//!
//! What the plan cannot be written as (a name or a request id a concurrent
//! writer took after the read, a row the schema refuses) is settled by
//! deciding again, never by other code: the batch is read and decided
//! again in a fresh transaction, and, when that fails too, each write is
//! decided alone in a savepoint of its own, in order, so that one refused
//! write cannot take the others with it.

use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use super::append::{PendingChange, append_changes, begin_generic_write, begin_write, commit};
use super::decide::{Decided, Decision};
use super::snapshot::{Keys, Snapshot};
use crate::error::ApiError;

/// How many times a batch is read again for what its decision missed
/// before it gives up: each round reads every name the round before
/// asked for, so two suffice but for a concurrent create between reads.
const ROUNDS: usize = 4;

/// One write of a batch.
pub(super) trait Item<A>: Send + Sync {
    /// Adds what must be read to decide it.
    fn gather(&self, keys: &mut Keys);
    /// Decides it after the writes decided before it.
    fn decide(&self, decision: &mut Decision) -> Decided<A>;
    /// Whether it may be decided against an assumed snapshot, the write
    /// verifying the assumption (creates of new names).
    fn assumable(&self) -> bool {
        false
    }
}

/// What a pass over a batch did.
pub(super) enum Pass<A> {
    /// Written as decided: each write's answer (a refused write wrote
    /// nothing), and the change records to append.
    Written(Vec<Result<A, ApiError>>, Vec<PendingChange>),
    /// The plan could not be written as decided: the transaction (or
    /// savepoint) must be dropped, and the batch decided again.
    Again(ApiError),
}

/// Reads, decides and writes `items` in `conn`; `assume` lets a create
/// alone that references nothing skip the read.
pub(super) async fn pass<A, I: Item<A> + ?Sized>(
    conn: &mut PgConnection,
    items: &[&I],
    assume: bool,
) -> Result<Pass<A>, ApiError> {
    let mut keys = Keys::default();
    for item in items {
        item.gather(&mut keys);
    }
    // Only a write alone: in a batch, one taken name would send every
    // write of it to be decided again, where one read decides them all.
    let assume = assume && items.len() == 1 && items.iter().all(|item| item.assumable());
    let mut snapshot = match assume {
        true => Snapshot::assumed(&keys),
        false => None,
    };
    for _ in 0..ROUNDS {
        let snapshot = match snapshot.take() {
            Some(assumed) => assumed,
            None => Snapshot::read(conn, &keys).await?,
        };
        let mut decision = Decision::new(snapshot);
        let answers: Vec<Decided<A>> = items
            .iter()
            .map(|item| item.decide(&mut decision))
            .collect();
        if answers.iter().any(|a| matches!(a, Ok(None))) {
            keys.extend(decision.missing());
            continue;
        }
        let mut plan = decision.into_plan();
        let answers = answers
            .into_iter()
            .map(|a| a.and_then(|a| a.ok_or_else(undecided)))
            .collect();
        return match plan.write(conn).await {
            Ok(None) => Ok(Pass::Written(answers, plan.take_changes())),
            Ok(Some(taken)) => Ok(Pass::Again(ApiError::AlreadyExists {
                name: taken.into_iter().next().unwrap_or_default(),
            })),
            Err(error @ (ApiError::Unavailable(_) | ApiError::Contention(_))) => Err(error),
            Err(refused) => {
                tracing::debug!(error = %refused, "a batch is decided again");
                Ok(Pass::Again(refused))
            }
        };
    }
    Err(undecided())
}

fn undecided() -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "a write stayed undecided after {ROUNDS} reads"
    ))
}

/// Decides and writes each item alone, in order, each in a savepoint of
/// `conn`: what a batch comes to when it cannot be written together.
pub(super) async fn one_by_one<A, I: Item<A> + ?Sized>(
    conn: &mut PgConnection,
    items: &[&I],
) -> Result<(Vec<Result<A, ApiError>>, Vec<PendingChange>), ApiError> {
    let mut answers = Vec::with_capacity(items.len());
    let mut changes = Vec::new();
    let savepoint_error =
        |e| super::error::map_db_error(e, super::error::Operation::Write, "a write");
    for item in items {
        let mut answer = None;
        // Twice: a name taken by a concurrent writer is read the second time.
        for _ in 0..2 {
            let mut savepoint = conn.begin().await.map_err(savepoint_error)?;
            match pass(&mut savepoint, &[*item], false).await? {
                Pass::Written(mut written, more) => {
                    savepoint.commit().await.map_err(savepoint_error)?;
                    changes.extend(more);
                    answer = written.pop();
                    break;
                }
                Pass::Again(refused) => {
                    savepoint.rollback().await.map_err(savepoint_error)?;
                    answer = Some(Err(refused));
                }
            }
        }
        answers.push(answer.unwrap_or_else(|| Err(undecided())));
    }
    Ok((answers, changes))
}

/// Writes `items`, each answered on its own (one refused leaves the others
/// written), in `tx` and commits: together, or, when they cannot be
/// written as decided, decided again in a fresh transaction, then one by
/// one. `preparing` is released once the writes are done, before the
/// change records are appended (`storage::group`).
pub(super) async fn each<A, I: Item<A> + ?Sized, G>(
    pool: &PgPool,
    generic: bool,
    mut tx: Transaction<'static, Postgres>,
    items: &[&I],
    preparing: G,
) -> Result<(Vec<Result<A, ApiError>>, Route), ApiError> {
    let mut route = Route::Together;
    let mut outcome = pass(&mut tx, items, true).await?;
    if let Pass::Again(_) = outcome {
        route = Route::Again;
        tx = begin(pool, generic, "a write").await?;
        outcome = pass(&mut tx, items, false).await?;
    }
    let (answers, changes) = match outcome {
        Pass::Written(answers, changes) => (answers, changes),
        Pass::Again(_) => {
            route = Route::OneByOne;
            tx = begin(pool, generic, "a write").await?;
            one_by_one(&mut tx, items).await?
        }
    };
    drop(preparing);
    let written = append_changes(&mut tx, &changes).await?;
    commit(tx, "a write", written).await?;
    Ok((answers, route))
}

/// How a batch of independent writes was written, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// Decided and written together, the first time.
    Together,
    /// Decided again together in a fresh transaction.
    Again,
    /// Decided one by one, each in a savepoint.
    OneByOne,
}

impl Route {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Route::Together => "together",
            Route::Again => "again",
            Route::OneByOne => "one_by_one",
        }
    }
}

/// Writes `items` all or none, in a transaction of its own: the answers,
/// or the first refusal (under `requests[i]` when `positions`).
pub(super) async fn all<A, I: Item<A> + ?Sized>(
    pool: &PgPool,
    generic: bool,
    items: &[&I],
    name: &str,
    positions: bool,
) -> Result<Vec<A>, ApiError> {
    let mut last = None;
    // A name or a request id a concurrent writer took is read the second time.
    for attempt in 0..3 {
        let mut tx = begin(pool, generic, name).await?;
        match pass(&mut tx, items, attempt == 0).await? {
            Pass::Written(answers, changes) => {
                let answers = answers
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| match positions {
                        true => a.map_err(|e| e.at(&format!("requests[{i}]"))),
                        false => a,
                    })
                    .collect::<Result<Vec<A>, ApiError>>()?;
                let written = append_changes(&mut tx, &changes).await?;
                commit(tx, name, written).await?;
                return Ok(answers);
            }
            Pass::Again(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(undecided))
}

/// A writing transaction: with generic plans (see `begin_generic_write`)
/// or custom ones.
pub(super) async fn begin(
    pool: &PgPool,
    generic: bool,
    name: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    match generic {
        true => begin_generic_write(pool, name).await,
        false => begin_write(pool, name).await,
    }
}
