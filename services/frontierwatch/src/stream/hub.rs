//! One follower of the change log per replica, fanning out in memory.
//!
//! The durable table is the truth. A single LISTEN connection wakes the
//! follower, which reads every record after its cursor in sequence order
//! and broadcasts it to the watchers of this replica. A reconnect of the
//! listener, or a missed notification, is covered by a catch-up read after
//! reconnecting and by a fallback poll that bounds the delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::storage::changes::{self, ChangeRecord};

/// The NOTIFY channel the change log's trigger signals.
pub const CHANNEL: &str = "frontierwatch_changes";
/// Records read per round trip.
pub const PAGE: i64 = 1000;
/// Batches buffered for watchers; a watcher further behind catches up from
/// the table instead, so memory stays bounded.
const BUFFERED_BATCHES: usize = 256;

/// What the follower broadcasts to the watchers of its replica.
#[derive(Debug)]
pub enum Broadcast {
    /// Consecutive records after the previous broadcast, ending at a
    /// transaction boundary.
    Records(Vec<ChangeRecord>),
    /// The follower could not read every record after the previous
    /// broadcast (it fell behind the retention window while disconnected);
    /// the next records follow a gap. Watchers read the gap from the table
    /// themselves, which tells each whether its cursor expired.
    Gap,
    /// The log's head went below a sequence already broadcast (a restore
    /// from backup, a failover to a lagging replica): sequences will be
    /// reused, so every watcher must end.
    Reset { known: i64, head: i64 },
}

/// One broadcast, shared by every watcher.
pub type Batch = Arc<Broadcast>;

/// The replica's change-log follower.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Batch>,
    head: AtomicI64,
}

impl Hub {
    /// Starts following the log from its current head. Returns once the
    /// head is known, so that the server serves no watch before: a watcher
    /// that caught up from the table to a head older than the follower's
    /// starting point would never receive the records in between. (None
    /// while shutdown comes first.)
    pub async fn start(
        pool: PgPool,
        poll_interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<Arc<Hub>> {
        let head = loop {
            match changes::head(&pool).await {
                Ok(head) => break head,
                Err(error) => {
                    tracing::warn!(%error, "change-log follower cannot read the head; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.wait_for(|s| *s) => return None,
                    }
                }
            }
        };
        let (sender, _) = broadcast::channel(BUFFERED_BATCHES);
        let hub = Arc::new(Hub {
            sender,
            head: AtomicI64::new(head),
        });
        metrics::gauge!(crate::metrics::CHANGE_HEAD).set(head as f64);
        tokio::spawn(follow(hub.clone(), pool, poll_interval, shutdown));
        Some(hub)
    }

    /// A receiver of every batch broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.sender.subscribe()
    }

    /// The highest sequence broadcast so far.
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    fn set_head(&self, head: i64) {
        self.head.store(head, Ordering::Release);
        metrics::gauge!(crate::metrics::CHANGE_HEAD).set(head as f64);
    }

    /// Reads and broadcasts everything after the cursor.
    async fn catch_up(&self, pool: &PgPool) -> Result<(), ApiError> {
        loop {
            let cursor = self.head();
            metrics::counter!(crate::metrics::CATCH_UP_READS).increment(1);
            let records = match changes::read_after(pool, cursor, PAGE).await {
                Ok(records) => records,
                Err(ApiError::CursorExpired { .. }) => {
                    let (pruned_through, ..) = changes::window(pool).await?;
                    tracing::warn!(
                        cursor,
                        pruned_through,
                        "change-log follower fell behind the retention window"
                    );
                    self.set_head(pruned_through);
                    let _ = self.sender.send(Arc::new(Broadcast::Gap));
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(last) = records.last() else {
                return Ok(());
            };
            let last_seq = last.seq;
            let full = records.len() as i64 >= PAGE;
            self.set_head(last_seq);
            // No receivers is fine: nobody watches on this replica now.
            let _ = self.sender.send(Arc::new(Broadcast::Records(records)));
            if !full {
                return Ok(());
            }
        }
    }

    /// After the listener (re)connects: a head below what was broadcast
    /// means the log was reset (restore, failover); every watcher ends.
    async fn check_head(&self, pool: &PgPool) -> Result<(), ApiError> {
        let head = changes::head(pool).await?;
        let known = self.head();
        if head < known {
            tracing::error!(
                known,
                head,
                "the change log's head went backwards; ending every watch"
            );
            self.set_head(head);
            let _ = self.sender.send(Arc::new(Broadcast::Reset { known, head }));
        }
        Ok(())
    }

    /// Reconnect work: the head check, then whatever was missed.
    async fn resync(&self, pool: &PgPool) {
        if let Err(error) = self.check_head(pool).await {
            tracing::warn!(%error, "change-log head check failed");
        }
        if let Err(error) = self.catch_up(pool).await {
            tracing::warn!(%error, "change-log catch-up failed");
        }
    }
}

async fn follow(
    hub: Arc<Hub>,
    pool: PgPool,
    poll_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        let mut listener = match connect(&pool).await {
            Ok(listener) => {
                backoff = Duration::from_millis(100);
                if connected_before {
                    metrics::counter!(crate::metrics::LISTENER_RECONNECTS).increment(1);
                }
                connected_before = true;
                Some(listener)
            }
            Err(error) => {
                tracing::warn!(%error, "change-log listener cannot connect; polling until it can");
                None
            }
        };
        // Whatever was missed while disconnected is read now.
        hub.resync(&pool).await;
        loop {
            let reconnected = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                wake = recv(&mut listener) => match wake {
                    Wake::Notified => false,
                    Wake::Reconnected => {
                        metrics::counter!(crate::metrics::LISTENER_RECONNECTS).increment(1);
                        tracing::info!("change-log listener reconnected; catching up");
                        true
                    }
                    Wake::Lost(error) => {
                        tracing::warn!(error, "change-log listener lost; reconnecting");
                        break;
                    }
                },
                _ = poll.tick() => false,
            };
            if reconnected {
                hub.resync(&pool).await;
            } else if let Err(error) = hub.catch_up(&pool).await {
                tracing::warn!(%error, "change-log catch-up failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Why the follower woke.
enum Wake {
    /// A notification arrived.
    Notified,
    /// The listener reconnected silently; notifications may have been lost.
    Reconnected,
    /// The listener is gone (or never connected); connect again.
    Lost(String),
}

async fn recv(listener: &mut Option<PgListener>) -> Wake {
    match listener {
        Some(listener) => match listener.try_recv().await {
            Ok(Some(_)) => Wake::Notified,
            Ok(None) => Wake::Reconnected,
            Err(error) => Wake::Lost(error.to_string()),
        },
        None => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Wake::Lost("not connected".to_owned())
        }
    }
}
