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
//! then answer every caller. At low load a committer is free when a write
//! arrives, so the write runs alone, without a savepoint, as before.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;

use super::changes::ACTOR;
use super::error::{Operation, map_db_error};
use super::resources::PendingChange;
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

/// The queue of writes and the committers that drain it.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl GroupCommit {
    /// Starts `committers` tasks over `pool`; they end when the last
    /// handle is dropped.
    pub(super) fn start(pool: PgPool, committers: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..committers.max(1) {
            tokio::spawn(committer(pool.clone(), Arc::clone(&receiver)));
        }
        Self { queue }
    }

    /// Runs `work` in a committed transaction, perhaps shared with other
    /// writes, and answers once that transaction has committed. `work`
    /// must leave the connection usable unless it fails; its change
    /// records are appended after every write of the transaction.
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
        let job = Job {
            key,
            work,
            span: tracing::Span::current(),
            actor: super::changes::current_actor(),
            reply,
        };
        if self.queue.send(job).is_err() {
            return Err(stopped());
        }
        let answer = answer.await.map_err(|_| stopped())??;
        answer
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a write answered with another type")))
    }
}

/// The committers are gone (the server is stopping, or one panicked).
fn stopped() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the group committer stopped"))
}

/// The shared transaction failed: every write in it fails with it.
fn shared_failure() -> ApiError {
    ApiError::Unavailable(sqlx::Error::Protocol(
        "the shared write transaction failed".into(),
    ))
}

async fn committer(pool: PgPool, queue: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch.sort_by(|a, b| a.key.cmp(&b.key));
            batch
        };
        crate::metrics::observe_write_batch(batch.len());
        commit_batch(&pool, batch).await;
    }
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
    let timer = crate::metrics::Timer::acquire("main");
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let mut error = Some(map_db_error(e, Operation::Write, "a write"));
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(error.take().unwrap_or_else(shared_failure)));
            }
            return;
        }
    };
    drop(timer);
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
        None => match super::resources::append_changes(&mut tx, &changes).await {
            Ok(()) => tx
                .commit()
                .await
                .map_err(|e| map_db_error(e, Operation::Write, "a write")),
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
