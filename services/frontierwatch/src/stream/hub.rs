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

use crate::storage::changes::{self, ChangeRecord};

/// The NOTIFY channel the change log's trigger signals.
pub const CHANNEL: &str = "frontierwatch_changes";
/// Records read per round trip.
pub const PAGE: i64 = 1000;
/// Batches buffered for watchers; a watcher further behind catches up from
/// the table instead, so memory stays bounded.
const BUFFERED_BATCHES: usize = 256;

/// Consecutive records, ending at a transaction boundary.
pub type Batch = Arc<Vec<ChangeRecord>>;

/// The replica's change-log follower.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Batch>,
    head: AtomicI64,
}

impl Hub {
    /// Starts following the log from its current head.
    pub fn start(
        pool: PgPool,
        poll_interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Hub> {
        let (sender, _) = broadcast::channel(BUFFERED_BATCHES);
        let hub = Arc::new(Hub {
            sender,
            head: AtomicI64::new(-1),
        });
        tokio::spawn(follow(hub.clone(), pool, poll_interval, shutdown));
        hub
    }

    /// A receiver of every batch broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.sender.subscribe()
    }

    /// The highest sequence broadcast so far (-1 before the first read).
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    /// Reads and broadcasts everything after the cursor.
    async fn catch_up(&self, pool: &PgPool) -> Result<(), crate::error::ApiError> {
        loop {
            let cursor = self.head();
            let records = changes::read_after(pool, cursor, PAGE).await?;
            let Some(last) = records.last() else {
                return Ok(());
            };
            let last_seq = last.seq;
            let full = records.len() as i64 >= PAGE;
            self.head.store(last_seq, Ordering::Release);
            // No receivers is fine: nobody watches on this replica now.
            let _ = self.sender.send(Arc::new(records));
            if !full {
                return Ok(());
            }
        }
    }
}

async fn follow(
    hub: Arc<Hub>,
    pool: PgPool,
    poll_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // Start at the current head: watchers read older records themselves.
    loop {
        match changes::head(&pool).await {
            Ok(head) => {
                hub.head.store(head, Ordering::Release);
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "change-log follower cannot read the head; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    }
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match connect(&pool).await {
            Ok(listener) => {
                backoff = Duration::from_millis(100);
                Some(listener)
            }
            Err(error) => {
                tracing::warn!(%error, "change-log listener cannot connect; polling until it can");
                None
            }
        };
        // Whatever was missed while disconnected is read now.
        if let Err(error) = hub.catch_up(&pool).await {
            tracing::warn!(%error, "change-log catch-up failed");
        }
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                wake = recv(&mut listener) => match wake {
                    Wake::Notified => {}
                    Wake::Reconnected => tracing::info!("change-log listener reconnected; catching up"),
                    Wake::Lost(error) => {
                        tracing::warn!(error, "change-log listener lost; reconnecting");
                        break;
                    }
                },
                _ = poll.tick() => {}
            }
            if let Err(error) = hub.catch_up(&pool).await {
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
