//! Group commit: concurrent single-resource writes share one transaction.
//!
//! The change log is numbered under a lock held from the change insert to
//! the commit, and the commit's NOTIFY takes a second global lock, so every
//! writing transaction is serialized for its last statement and its commit
//! (see the first migration). One transaction per write caps writes at
//! what that serialized window allows. Here committers each take every
//! write queued when they become free, write them in one transaction,
//! append all their change records in one statement, commit once, and only
//! then answer every caller. One committer prepares its batch (takes it,
//! reads, writes) while another appends and commits, so the serialized
//! window of one overlaps the preparation of the next.
//!
//! Creates are decided in memory: what the database holds for the whole
//! batch is read once, each create is decided after the ones before it as
//! it would be alone (a refused one is refused alone), and all are written
//! in a few statements (`storage::bulk::Creating`), where a savepoint would
//! cost three round trips and a subtransaction per write. A write memory
//! cannot decide runs its own statements in a savepoint of the same
//! transaction (a refused write rolls back alone and the others go on); a
//! batch that cannot be written as decided (a name a concurrent transaction
//! took meanwhile) runs again that way in a fresh transaction.
//!
//! At low load a slot is free and nothing waits when a write arrives, so
//! the write runs alone in its caller's task, without a savepoint.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::Instrument;

use uuid::Uuid;

use super::bulk::{Creating, Keys};
use super::changes::ACTOR;
use super::error::{Operation, map_db_error};
use super::resources::{PendingChange, append_changes, begin_generic_write, commit};
use crate::error::ApiError;

/// The most writes one transaction takes.
const MAX_BATCH: usize = 64;

/// A future that borrows the shared transaction's connection.
pub(super) type Borrowing<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// What a write did: the change records to append, and its answer.
pub(super) struct Written<T> {
    pub changes: Vec<PendingChange>,
    pub answer: T,
}

/// A write's answer, typed by its caller.
pub(super) type Answer = Box<dyn Any + Send>;

/// A create that a committer may decide in memory with the other creates
/// of its batch, and write with them in a few statements whatever their
/// number (`storage::bulk`), instead of running its work in a savepoint.
pub(super) trait SetBased: Send {
    /// Adds what must be read to decide it: its names, its request id.
    fn gather(&self, keys: &mut Keys, ids: &mut Vec<Uuid>);
    /// Decides it after the creates decided before it: its answer, why it
    /// is refused, or `None` when memory cannot decide it.
    fn decide(&self, creating: &mut Creating) -> Result<Option<Answer>, ApiError>;
}
type Work = Box<
    dyn for<'c> FnOnce(&'c mut PgConnection) -> Borrowing<'c, Result<Written<Answer>, ApiError>>
        + Send,
>;

struct Job {
    /// The name the work writes: a batch runs its writes in name order.
    key: String,
    work: Work,
    /// The same write, for a set-based batch.
    set_based: Option<Box<dyn SetBased>>,
    /// The caller's span and actor: the work runs on a committer's task.
    span: tracing::Span,
    actor: Option<String>,
    reply: oneshot::Sender<Result<Answer, ApiError>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// The queue of writes and the committer slots that drain it.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    queue: std::sync::Mutex<VecDeque<Job>>,
    /// One permit per transaction that may be writing at once.
    slots: Arc<Semaphore>,
    /// Held by the committer preparing its batch (from taking it to its
    /// change records), so that the next committer takes its batch while
    /// this one appends and commits (under the change log's lock), with
    /// every write queued meanwhile: committers overlap, and batches stay
    /// as large as the load allows.
    preparing: Arc<tokio::sync::Mutex<()>>,
}

impl Inner {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the next batch: every queued write, up to [`MAX_BATCH`].
    fn take(&self) -> Vec<Job> {
        let mut queue = self.queue();
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }

    /// Starts a committer for the queue while writes wait and a slot is
    /// free. Called after every enqueue and every release of a slot, so a
    /// queued write always finds one.
    fn kick(self: &Arc<Self>) {
        while !self.queue().is_empty() {
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                return;
            };
            let inner = Arc::clone(self);
            tokio::spawn(async move {
                while !inner.queue().is_empty() {
                    // Begun before the batch is taken: the round trip is
                    // not spent while the next committer waits to prepare.
                    let tx = begin_generic_write(&inner.pool, "a write").await;
                    let preparing = Arc::clone(&inner.preparing).lock_owned().await;
                    let mut batch = inner.take();
                    if batch.is_empty() {
                        break;
                    }
                    batch.sort_by(|a, b| a.key.cmp(&b.key));
                    crate::metrics::observe_write_batch(batch.len());
                    match tx {
                        Ok(tx) => commit_batch(&inner.pool, tx, batch, preparing).await,
                        Err(error) => fail_all(batch, error),
                    }
                }
                drop(slot);
                inner.kick();
            });
        }
    }
}

/// A slot held by a write that runs alone in its caller's task: released,
/// also when the caller goes away, with a look at the queue.
struct Alone {
    inner: Arc<Inner>,
    slot: Option<OwnedSemaphorePermit>,
}

impl Drop for Alone {
    fn drop(&mut self) {
        drop(self.slot.take());
        self.inner.kick();
    }
}

impl GroupCommit {
    /// Group commit over `pool`, with at most `committers` transactions
    /// writing at once.
    pub(super) fn start(pool: PgPool, committers: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                queue: std::sync::Mutex::default(),
                slots: Arc::new(Semaphore::new(committers.max(1))),
                preparing: Arc::default(),
            }),
        }
    }

    /// Runs `work` in a committed transaction, perhaps shared with other
    /// writes, and answers once that transaction has committed. `work`
    /// must leave the connection usable unless it fails; its change
    /// records are appended after every write of the transaction.
    ///
    /// With nothing queued and a slot free, the write runs alone in the
    /// caller's task, as a write without group commit would. Otherwise it
    /// queues, and a committer takes it with every write queued beside it.
    ///
    /// `key` is the name the work writes. Each transaction runs its writes
    /// in name order, so two transactions that write the same names (a
    /// create and its concurrent retry in another transaction) take their
    /// locks in the same order and never deadlock.
    ///
    /// `set_based`, when given, is the same write as a committer decides
    /// it in memory with the other creates of its batch; its answer is a
    /// `T` too. A batch of such writes is read, decided and written in a
    /// few statements; the work of those memory cannot decide runs in
    /// savepoints after them, and when the set-based writes cannot be
    /// written as decided (a name taken meanwhile), the whole batch runs in
    /// savepoints in a fresh transaction.
    pub(super) async fn write<T, F>(
        &self,
        key: String,
        set_based: Option<Box<dyn SetBased>>,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> Borrowing<'c, Result<Written<T>, ApiError>>
            + Send
            + 'static,
    {
        let inner = &self.inner;
        let alone = if inner.queue().is_empty() {
            Arc::clone(&inner.slots).try_acquire_owned().ok()
        } else {
            None
        };
        if let Some(slot) = alone {
            crate::metrics::observe_write_batch(1);
            crate::metrics::group_writes("alone", 1);
            let _alone = Alone {
                inner: Arc::clone(inner),
                slot: Some(slot),
            };
            return write_alone(&inner.pool, work).await;
        }
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            Box::pin(async move {
                let written = work(conn).await?;
                Ok(Written {
                    changes: written.changes,
                    answer: Box::new(written.answer) as Answer,
                })
            })
        });
        inner.queue().push_back(Job {
            key,
            work,
            set_based,
            span: tracing::Span::current(),
            actor: super::changes::current_actor(),
            reply,
        });
        inner.kick();
        let answer = answer.await.map_err(|_| stopped())??;
        answer
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a write answered with another type")))
    }
}

/// One write in a transaction of its own.
async fn write_alone<T, F>(pool: &PgPool, work: F) -> Result<T, ApiError>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> Borrowing<'c, Result<Written<T>, ApiError>>,
{
    let mut tx = begin_generic_write(pool, "a write").await?;
    let written = work(&mut tx).await?;
    let sequence = append_changes(&mut tx, &written.changes).await?;
    commit(tx, "a write", sequence).await?;
    Ok(written.answer)
}

/// The committer dropped the write (it panicked).
fn stopped() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the group committer stopped"))
}

/// The shared transaction failed: every write in it fails with it.
fn shared_failure() -> ApiError {
    ApiError::Unavailable(sqlx::Error::Protocol(
        "the shared write transaction failed".into(),
    ))
}

/// Runs one job's work as its caller, in the caller's span.
async fn run(
    conn: &mut PgConnection,
    work: Work,
    span: tracing::Span,
    actor: Option<String>,
) -> Result<Written<Answer>, ApiError> {
    let future = work(conn).instrument(span);
    match actor {
        Some(actor) => ACTOR.scope(actor, future).await,
        None => future.await,
    }
}

/// Answers every job of a batch that could not be written: the first
/// with `error`, the others as sharing its failure.
fn fail_all(jobs: impl IntoIterator<Item = Job>, error: ApiError) {
    let mut error = Some(error);
    for job in jobs {
        let _ = job
            .reply
            .send(Err(error.take().unwrap_or_else(shared_failure)));
    }
}

/// What a set-based pass decided for each job of a batch (`None`: its work
/// runs in a savepoint), and the change records of what it wrote.
struct Decided {
    answers: Vec<Option<Result<Answer, ApiError>>>,
    changes: Vec<PendingChange>,
}

/// Decides the batch's set-based writes in memory, in batch order, and
/// writes them (`storage::bulk::Creating`). `Ok(None)` when they cannot be
/// written as decided: the transaction must be dropped.
async fn decide_set_based(
    conn: &mut PgConnection,
    // Mutable only to be `Send` across awaits (`Job` is not `Sync`).
    batch: &mut [Job],
) -> Result<Option<Decided>, ApiError> {
    let mut keys = Keys::default();
    let mut ids = Vec::new();
    for item in batch.iter().filter_map(|job| job.set_based.as_ref()) {
        item.gather(&mut keys, &mut ids);
    }
    let mut creating = Creating::read(conn, &keys, &ids).await?;
    let answers = batch
        .iter()
        .map(|job| {
            let item = job.set_based.as_ref()?;
            // As its caller: the change record names the caller's actor.
            let _span = job.span.enter();
            let decided = match &job.actor {
                Some(actor) => ACTOR.sync_scope(actor.clone(), || item.decide(&mut creating)),
                None => item.decide(&mut creating),
            };
            decided.transpose()
        })
        .collect();
    match creating.write(conn).await {
        Ok(Some(changes)) => Ok(Some(Decided { answers, changes })),
        Ok(None) => Ok(None),
        Err(error @ ApiError::Unavailable(_)) => Err(error),
        Err(refused) => {
            tracing::debug!(error = %refused, "a set-based batch goes in savepoints");
            Ok(None)
        }
    }
}

/// Writes a batch in `tx`, appends its change records and commits;
/// `preparing` is released once the batch is written, before the append.
async fn commit_batch(
    pool: &PgPool,
    mut tx: Transaction<'static, Postgres>,
    mut batch: Vec<Job>,
    preparing: OwnedMutexGuard<()>,
) {
    let alone = batch.len() == 1;
    let mut decided = None;
    if batch.iter().filter(|job| job.set_based.is_some()).count() > 1 {
        match decide_set_based(&mut tx, &mut batch).await {
            Ok(Some(set)) => decided = Some(set),
            Ok(None) => {
                drop(tx);
                tx = match begin_generic_write(pool, "a write").await {
                    Ok(tx) => tx,
                    Err(error) => return fail_all(batch, error),
                };
            }
            Err(error) => return fail_all(batch, error),
        }
    }
    let (mut decided, mut changes) = match decided {
        Some(Decided { answers, changes }) => (answers, changes),
        None => (Vec::new(), Vec::new()),
    };
    let set_based = decided.iter().flatten().count();
    crate::metrics::group_writes("set_based", set_based);
    crate::metrics::group_writes(
        if alone { "alone" } else { "savepoint" },
        batch.len() - set_based,
    );
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter().enumerate();
    let mut broken = None;
    for (position, job) in jobs.by_ref() {
        let Job {
            key: _,
            work,
            set_based: _,
            span,
            actor,
            reply,
        } = job;
        if let Some(answer) = decided.get_mut(position).and_then(Option::take) {
            answers.push((reply, answer));
            continue;
        }
        if alone {
            match run(&mut tx, work, span, actor).await {
                Ok(written) => {
                    changes.extend(written.changes);
                    answers.push((reply, Ok(written.answer)));
                }
                Err(refused) => {
                    // Nothing else shares the transaction: dropping it
                    // rolls the write back.
                    let _ = reply.send(Err(refused));
                    return;
                }
            }
            continue;
        }
        let mut savepoint = match tx.begin().await {
            Ok(savepoint) => savepoint,
            Err(e) => {
                broken = Some(map_db_error(e, Operation::Write, "a write"));
                answers.push((reply, Err(shared_failure())));
                break;
            }
        };
        match run(&mut savepoint, work, span, actor).await {
            Ok(written) => match savepoint.commit().await {
                Ok(()) => {
                    changes.extend(written.changes);
                    answers.push((reply, Ok(written.answer)));
                }
                Err(e) => {
                    broken = Some(map_db_error(e, Operation::Write, "a write"));
                    answers.push((reply, Err(shared_failure())));
                    break;
                }
            },
            Err(refused) => match savepoint.rollback().await {
                Ok(()) => answers.push((reply, Err(refused))),
                Err(e) => {
                    broken = Some(map_db_error(e, Operation::Write, "a write"));
                    answers.push((reply, Err(refused)));
                    break;
                }
            },
        }
    }
    drop(preparing);
    let outcome = match broken {
        Some(error) => Err(error),
        None => match append_changes(&mut tx, &changes).await {
            Ok(written) => commit(tx, "a write", written).await,
            Err(error) => Err(error),
        },
    };
    match outcome {
        Ok(()) => {
            for (reply, answer) in answers {
                let _ = reply.send(answer);
            }
        }
        Err(error) => {
            // Nothing of the transaction is known to have committed: every
            // write in it fails, those it had refused with their reason.
            let mut error = Some(error);
            for (reply, answer) in answers {
                let answer = match answer {
                    Ok(_) => Err(error.take().unwrap_or_else(shared_failure)),
                    refused => refused,
                };
                let _ = reply.send(answer);
            }
        }
    }
    for (_, job) in jobs {
        let _ = job.reply.send(Err(shared_failure()));
    }
}
