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
//! Every write of a batch is decided by the one decision
//! (`storage::decide`, through `storage::batch`): what the database holds
//! for the whole batch is read once, each create is decided after the ones
//! before it as it would be alone (a refused one is refused alone), and
//! all are written in a few statements. A batch that cannot be written as
//! decided (a name a concurrent transaction took meanwhile) is decided
//! again.
//!
//! At low load a slot is free and nothing waits when a write arrives, so
//! the write runs alone in its caller's task, as a batch of one.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::append::begin_generic_write;
use super::batch::{self, Item};
use crate::error::ApiError;

/// The most writes one transaction takes.
const MAX_BATCH: usize = 64;

/// A write's answer, typed by its caller.
pub(super) type Answer = Box<dyn Any + Send>;

struct Job {
    /// The name the write writes: a batch runs its writes in name order.
    key: String,
    item: Box<dyn Item<Answer>>,
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
                    let (items, replies): (Vec<_>, Vec<_>) =
                        batch.into_iter().map(|job| (job.item, job.reply)).unzip();
                    let items: Vec<&dyn Item<Answer>> = items.iter().map(|i| &**i).collect();
                    let answers = match tx {
                        Ok(tx) => batch::each(&inner.pool, true, tx, &items, preparing).await,
                        Err(error) => Err(error),
                    };
                    let answers = answers.map(|(answers, route)| {
                        crate::metrics::group_writes(route.as_str(), items.len());
                        answers
                    });
                    reply_all(replies, answers);
                }
                drop(slot);
                inner.kick();
            });
        }
    }
}

/// Answers every write of a batch; when the batch failed, the first with
/// its error and the others as sharing its failure.
fn reply_all(
    replies: Vec<oneshot::Sender<Result<Answer, ApiError>>>,
    answers: Result<Vec<Result<Answer, ApiError>>, ApiError>,
) {
    match answers {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(error) => {
            let mut error = Some(error);
            for reply in replies {
                let _ = reply.send(Err(error.take().unwrap_or_else(shared_failure)));
            }
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

    /// Decides and writes `item` in a committed transaction, perhaps
    /// shared with other writes, and answers once that transaction has
    /// committed. Its answer is a `T`.
    ///
    /// With nothing queued and a slot free, the write runs alone in the
    /// caller's task, as a batch of one. Otherwise it queues, and a
    /// committer takes it with every write queued beside it.
    ///
    /// `key` is the name the write writes. Each transaction runs its writes
    /// in name order, so two transactions that write the same names (a
    /// create and its concurrent retry in another transaction) take their
    /// locks in the same order and never deadlock.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        key: String,
        item: Box<dyn Item<Answer>>,
    ) -> Result<T, ApiError> {
        let inner = &self.inner;
        let alone = if inner.queue().is_empty() {
            Arc::clone(&inner.slots).try_acquire_owned().ok()
        } else {
            None
        };
        let answer = if let Some(slot) = alone {
            crate::metrics::observe_write_batch(1);
            crate::metrics::group_writes("alone", 1);
            let _alone = Alone {
                inner: Arc::clone(inner),
                slot: Some(slot),
            };
            let tx = begin_generic_write(&inner.pool, "a write").await?;
            let (mut answers, route) = batch::each(&inner.pool, true, tx, &[&*item], ()).await?;
            if route != batch::Route::Together {
                crate::metrics::group_writes(route.as_str(), 1);
            }
            answers.pop().ok_or_else(stopped)??
        } else {
            let (reply, answer) = oneshot::channel();
            inner.queue().push_back(Job { key, item, reply });
            inner.kick();
            answer.await.map_err(|_| stopped())??
        };
        answer
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a write answered with another type")))
    }
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
