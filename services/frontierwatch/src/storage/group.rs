//! Group commit: concurrent single-resource writes share one transaction.
//!
//! The change log is numbered under a lock held from the change insert to
//! the commit, and the commit's NOTIFY takes a second global lock, so every
//! writing transaction is serialized for its last statement and its commit
//! (see the first migration). One transaction per write caps writes at
//! what that serialized window allows. Here a few committers each take
//! every write queued when they become free, run each in a savepoint of one
//! transaction (a refused write rolls back alone and the others go on),
//! append all their change records in one statement, commit once, and only
//! then answer every caller. At low load a slot is free and nothing waits
//! when a write arrives, so the write runs alone in its caller's task,
//! without a savepoint, as before.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::Instrument;

use super::changes::ACTOR;
use super::error::{Operation, map_db_error};
use super::resources::{PendingChange, append_changes, begin_write, commit};
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

type Answer = Box<dyn Any + Send>;
type Work = Box<
    dyn for<'c> FnOnce(&'c mut PgConnection) -> Borrowing<'c, Result<Written<Answer>, ApiError>>
        + Send,
>;

struct Job {
    /// The name the work writes: a batch runs its writes in name order.
    key: String,
    work: Work,
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
                loop {
                    let mut batch = inner.take();
                    if batch.is_empty() {
                        break;
                    }
                    batch.sort_by(|a, b| a.key.cmp(&b.key));
                    crate::metrics::observe_write_batch(batch.len());
                    commit_batch(&inner.pool, batch).await;
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
    pub(super) async fn write<T, F>(&self, key: String, work: F) -> Result<T, ApiError>
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
    let mut tx = begin_write(pool, "a write").await?;
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

async fn commit_batch(pool: &PgPool, batch: Vec<Job>) {
    let mut tx = match begin_write(pool, "a write").await {
        Ok(tx) => tx,
        Err(error) => {
            let mut error = Some(error);
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(error.take().unwrap_or_else(shared_failure)));
            }
            return;
        }
    };
    let alone = batch.len() == 1;
    let mut changes = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut broken = None;
    for job in jobs.by_ref() {
        let Job {
            key: _,
            work,
            span,
            actor,
            reply,
        } = job;
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
    for job in jobs {
        let _ = job.reply.send(Err(shared_failure()));
    }
}
