//! One follower of the change log per replica, fanning out in memory.
//!
//! The durable table is the truth. A single LISTEN connection wakes the
//! follower, which reads every record after its cursor in sequence order
//! and hands each batch to the watchers of this replica that it may
//! concern. A reconnect of the listener, or a missed notification, is
//! covered by a catch-up read after reconnecting and by a fallback poll
//! that bounds the delay.
//!
//! Watchers are indexed by what their filter names (see [`Route`]): a
//! batch goes to the watchers of each organization, model line and
//! benchmark its records carry, and to the watchers that filter on none of
//! them; a watcher whose filter no record can match is never woken, so the
//! cost of a batch follows the watchers it concerns, not every watcher.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};

use crate::error::ApiError;
use crate::storage::changes::{self, ChangeRecord};
use crate::storage::tokens::{Checker, REVOCATIONS};

/// The NOTIFY channel the change log's trigger signals.
pub const CHANNEL: &str = "frontierwatch_changes";
/// Records read per round trip.
pub const PAGE: i64 = 1000;
/// Batches queued per watcher; a watcher further behind catches up from
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

/// Which batches a watcher is handed: the one dimension of its filter
/// that the index serves. A record matches a filter only if it carries the
/// filter's benchmark, model line and organization, so a watcher indexed
/// under any one of them misses nothing it would match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// Every batch: the filter names no organization, model or benchmark.
    All,
    Organization(String),
    Model(String),
    Benchmark(String),
}

/// A watcher's queue of batches, filled by the follower.
#[derive(Debug, Default)]
struct Mailbox {
    queue: Mutex<VecDeque<Batch>>,
    /// Batches were dropped because the queue was full: the watcher reads
    /// the table instead.
    lagged: AtomicBool,
    notify: Notify,
}

impl Mailbox {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Batch>> {
        // A panic while holding the lock leaves a queue of whole batches.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, batch: &Batch) {
        {
            let mut queue = self.queue();
            if queue.len() >= BUFFERED_BATCHES {
                queue.clear();
                self.lagged.store(true, Ordering::Release);
            } else {
                queue.push_back(batch.clone());
            }
        }
        self.notify.notify_one();
    }
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// Every watcher of the replica, by route.
#[derive(Debug, Default)]
struct Registry {
    all: Subscribers,
    organizations: HashMap<String, Subscribers>,
    models: HashMap<String, Subscribers>,
    benchmarks: HashMap<String, Subscribers>,
}

impl Registry {
    /// The map and key a keyed route is filed under; `None` for `All`.
    fn keyed(&mut self, route: &Route) -> Option<(&mut HashMap<String, Subscribers>, String)> {
        match route {
            Route::All => None,
            Route::Organization(o) => Some((&mut self.organizations, o.clone())),
            Route::Model(m) => Some((&mut self.models, m.clone())),
            Route::Benchmark(b) => Some((&mut self.benchmarks, b.clone())),
        }
    }

    fn insert(&mut self, route: &Route, id: u64, mailbox: Arc<Mailbox>) {
        let subscribers = match self.keyed(route) {
            Some((map, key)) => map.entry(key).or_default(),
            None => &mut self.all,
        };
        subscribers.insert(id, mailbox);
    }

    fn remove(&mut self, route: &Route, id: u64) {
        match self.keyed(route) {
            Some((map, key)) => {
                if let Some(subscribers) = map.get_mut(&key) {
                    subscribers.remove(&id);
                    if subscribers.is_empty() {
                        map.remove(&key);
                    }
                }
            }
            None => {
                self.all.remove(&id);
            }
        }
    }

    /// Hands a batch to every watcher it may concern; returns how many.
    /// Each watcher is filed under one route, so handing each route's
    /// watchers once hands each watcher once.
    fn dispatch(&self, batch: &Batch) -> usize {
        let mut reached = 0;
        let mut hand = |subscribers: &Subscribers| {
            for mailbox in subscribers.values() {
                mailbox.push(batch);
            }
            reached += subscribers.len();
        };
        hand(&self.all);
        let maps = [&self.organizations, &self.models, &self.benchmarks];
        match &**batch {
            Broadcast::Records(records) => {
                // The keys the records carry, each once however many
                // records carry it: (which map, key).
                let mut keys: HashSet<(usize, &str)> = HashSet::new();
                for record in records {
                    keys.extend(record.organizations.iter().map(|o| (0, o.as_str())));
                    keys.extend(record.model.as_deref().map(|m| (1, m)));
                    keys.extend(record.benchmark.as_deref().map(|b| (2, b)));
                }
                for (map, key) in keys {
                    if let Some(subscribers) = maps[map].get(key) {
                        hand(subscribers);
                    }
                }
            }
            // Every watcher must learn of a gap or a reset.
            Broadcast::Gap | Broadcast::Reset { .. } => {
                for map in maps {
                    map.values().for_each(&mut hand);
                }
            }
        }
        reached
    }
}

/// What a watcher's subscription yields.
pub enum Received {
    Batch(Batch),
    /// Batches were dropped while the watcher was behind: read the table.
    Lagged,
}

/// A watcher's place in the hub's index; leaving it on drop.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    route: Route,
    id: u64,
    mailbox: Arc<Mailbox>,
}

impl Subscription {
    /// The next batch handed to this watcher, waiting for one. Cancel safe:
    /// nothing is taken from the queue unless it is returned.
    pub async fn recv(&self) -> Received {
        loop {
            if let Some(received) = self.try_recv() {
                return received;
            }
            self.mailbox.notify.notified().await;
        }
    }

    /// The next batch handed to this watcher, if one is queued.
    pub fn try_recv(&self) -> Option<Received> {
        if self.mailbox.lagged.swap(false, Ordering::AcqRel) {
            self.mailbox.queue().clear();
            return Some(Received::Lagged);
        }
        self.mailbox.queue().pop_front().map(Received::Batch)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.registry().remove(&self.route, self.id);
    }
}

/// The replica's change-log follower.
#[derive(Debug)]
pub struct Hub {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    /// The highest sequence handed to watchers: every batch up to it is in
    /// the mailboxes of the watchers it concerns.
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
        shutdown: watch::Receiver<bool>,
    ) -> Option<Arc<Hub>> {
        Self::start_hearing(pool, poll_interval, shutdown, None).await
    }

    /// [`Hub::start`], with the replica's check of tokens told on the same
    /// LISTEN connection (one per replica) of every revocation, and of
    /// whether it is listening at all.
    pub async fn start_hearing(
        pool: PgPool,
        poll_interval: Duration,
        mut shutdown: watch::Receiver<bool>,
        tokens: Option<Checker>,
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
        let hub = Arc::new(Hub {
            registry: Mutex::default(),
            next_id: AtomicU64::new(0),
            head: AtomicI64::new(head),
        });
        metrics::gauge!(crate::metrics::CHANGE_HEAD).set(head as f64);
        tokio::spawn(follow(hub.clone(), pool, poll_interval, shutdown, tokens));
        Some(hub)
    }

    /// A subscription to every batch from now on that `route` may match.
    pub fn subscribe(self: &Arc<Self>, route: Route) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::default());
        self.registry().insert(&route, id, Arc::clone(&mailbox));
        Subscription {
            hub: Arc::clone(self),
            route,
            id,
            mailbox,
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a batch to the watchers it concerns.
    fn send(&self, batch: Broadcast) {
        let batch = Arc::new(batch);
        let reached = self.registry().dispatch(&batch);
        metrics::counter!(crate::metrics::WATCH_DISPATCHED).increment(reached as u64);
    }

    /// The highest sequence handed to watchers so far. A watcher that has
    /// taken every batch queued for it after reading this has been handed
    /// everything up to it that concerns it.
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
                    self.send(Broadcast::Gap);
                    self.set_head(pruned_through);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(last) = records.last() else {
                return Ok(());
            };
            let last_seq = last.seq;
            let full = records.len() as i64 >= PAGE;
            // Handed out before the head moves (see `head`).
            self.send(Broadcast::Records(records));
            self.set_head(last_seq);
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
            self.send(Broadcast::Reset { known, head });
            self.set_head(head);
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
    tokens: Option<Checker>,
) {
    let hearing = |listening: bool| {
        if let Some(tokens) = &tokens {
            tokens.set_listening(listening);
        }
    };
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut connected_before = false;
    loop {
        let mut listener = match connect(&pool).await {
            Ok(listener) => {
                backoff.reset();
                if connected_before {
                    metrics::counter!(crate::metrics::LISTENER_RECONNECTS).increment(1);
                }
                connected_before = true;
                hearing(true);
                Some(listener)
            }
            Err(error) => {
                tracing::warn!(%error, "change-log listener cannot connect; polling until it can");
                hearing(false);
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
                    Wake::Revoked => {
                        hearing(true);
                        continue;
                    }
                    Wake::Reconnected => {
                        metrics::counter!(crate::metrics::LISTENER_RECONNECTS).increment(1);
                        tracing::info!("change-log listener reconnected; catching up");
                        // Revocations may have been missed too.
                        hearing(true);
                        true
                    }
                    Wake::Lost(error) => {
                        tracing::warn!(error, "change-log listener lost; reconnecting");
                        hearing(false);
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
            () = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, REVOCATIONS]).await?;
    Ok(listener)
}

/// Why the follower woke.
enum Wake {
    /// A notification of new changes arrived.
    Notified,
    /// A token was revoked.
    Revoked,
    /// The listener reconnected silently; notifications may have been lost.
    Reconnected,
    /// The listener is gone (or never connected); connect again.
    Lost(String),
}

async fn recv(listener: &mut Option<PgListener>) -> Wake {
    match listener {
        Some(listener) => match listener.try_recv().await {
            Ok(Some(notification)) if notification.channel() == REVOCATIONS => Wake::Revoked,
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
