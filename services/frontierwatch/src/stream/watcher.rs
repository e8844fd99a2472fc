//! One watch: snapshot or resume point, catch-up from the table, then live
//! batches from the replica's hub, with bookmarks, until the client leaves,
//! falls behind, or the server shuts down.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::Utc;
use std::sync::Arc;

use frontierwatch_proto::v1::{
    Bookmark, ChangeEvent, ResourceType, SnapshotResource, WatchResponse, watch_response,
};
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tonic::Status;

use super::filter::{WatchFilter, change_kind};
use super::frames::{self, WATCHER_BUFFER_BYTES};
use super::hub::{Broadcast, PAGE, Received, Subscription};
use crate::domain::names::KindInfo;
use crate::error::ApiError;
use crate::storage::changes::{self, ChangeRecord, Snapshot};
use crate::storage::timestamp;

/// Resources read per snapshot page (sent in messages cut by size).
const SNAPSHOT_PAGE: i64 = 100;
/// Messages buffered per watcher; the byte bound usually comes first.
pub const BUFFER: usize = 64;

/// A queued message and its share of the watcher's byte budget, returned
/// when the transport takes the message. Boxed: the channel allocates its
/// slots in blocks of 32 at the first message, and an idle watcher keeps
/// that block; a slot of a box and a permit is 24 bytes, one of the
/// message itself several times that.
type Queued = (Box<WatchResponse>, OwnedSemaphorePermit);

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After this sequence.
    After(i64),
    /// With a snapshot of current state.
    Snapshot,
}

/// Settings of every watch on a replica.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub bookmark_interval: Duration,
    pub slow_consumer_timeout: Duration,
}

/// The response stream: buffered messages, then the terminal status if the
/// server ended the watch.
pub struct WatchStream {
    messages: mpsc::Receiver<Queued>,
    end: Option<oneshot::Receiver<Status>>,
}

impl tokio_stream::Stream for WatchStream {
    type Item = Result<WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.messages.poll_recv(cx) {
            Poll::Ready(Some((message, bytes))) => {
                // Handed to the transport: counted as sent.
                metrics::counter!(crate::metrics::WATCH_BYTES)
                    .increment(bytes.num_permits() as u64);
                if let Some(watch_response::Kind::Transaction(t)) = &message.kind {
                    metrics::counter!(crate::metrics::WATCH_EVENTS)
                        .increment(t.events.len() as u64);
                }
                return Poll::Ready(Some(Ok(*message)));
            }
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {}
        }
        let Some(end) = self.end.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(end).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.end = None;
        Poll::Ready(result.ok().map(Err))
    }
}

/// The sending half owned by the watch task.
struct Sink {
    messages: mpsc::Sender<Queued>,
    /// The watcher's byte budget: a permit per queued byte.
    bytes: Arc<Semaphore>,
    end: Option<oneshot::Sender<Status>>,
    timeout: Duration,
}

/// What woke the live loop.
enum Next {
    Shutdown,
    Gone,
    Live(Received),
    Bookmark,
}

/// Why a watch task stopped sending.
enum Stop {
    /// The client went away.
    Gone,
    /// The server ended the watch with this error.
    Ended(ApiError),
}

impl Sink {
    /// Sends one message; `resume_after` is what the client may resume
    /// after if it is too slow (none during a snapshot).
    async fn send(&self, message: WatchResponse, resume_after: Option<i64>) -> Result<(), Stop> {
        // A message larger than the whole budget (one huge resource) waits
        // for an empty buffer.
        let size = message.encoded_len().clamp(1, WATCHER_BUFFER_BYTES);
        let queued = tokio::time::timeout(self.timeout, async {
            let bytes = self
                .bytes
                .clone()
                .acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
                .await
                .map_err(|_| Stop::Gone)?;
            self.messages
                .send((Box::new(message), bytes))
                .await
                .map_err(|_| Stop::Gone)
        })
        .await;
        match queued {
            Ok(result) => result,
            Err(_elapsed) => Err(Stop::Ended(ApiError::SlowConsumer {
                resume_after,
                seconds: self.timeout.as_secs(),
            })),
        }
    }

    fn finish(mut self, error: ApiError) {
        if let Some(end) = self.end.take() {
            let _ = end.send(Status::from(error));
        }
    }
}

/// Everything one watch needs.
pub struct Watch {
    pub pool: sqlx::PgPool,
    /// Snapshots read through their own bounded pool.
    pub snapshot_pool: sqlx::PgPool,
    pub filter: WatchFilter,
    pub start: Start,
    /// The batches of the replica's follower that may match the filter.
    pub live: Subscription,
    pub settings: WatchSettings,
    pub shutdown: watch::Receiver<bool>,
    /// The replica's and the token's share of open watches.
    pub permit: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
    /// The replica's follower, for the watcher's lag behind the head.
    pub hub: Arc<super::hub::Hub>,
}

/// Counts a watch as open for as long as it lives.
struct Open;

impl Open {
    fn new() -> Open {
        metrics::gauge!(crate::metrics::WATCHES_OPEN).increment(1.0);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::WATCHES_OPEN).decrement(1.0);
    }
}

impl Watch {
    /// Spawns the watch task and returns the client's stream.
    pub fn spawn(self) -> WatchStream {
        let (messages, messages_rx) = mpsc::channel(BUFFER);
        let (end, end_rx) = oneshot::channel();
        let sink = Sink {
            messages,
            bytes: Arc::new(Semaphore::new(WATCHER_BUFFER_BYTES)),
            end: Some(end),
            timeout: self.settings.slow_consumer_timeout,
        };
        tokio::spawn(self.run(sink));
        WatchStream {
            messages: messages_rx,
            end: Some(end_rx),
        }
    }

    async fn run(mut self, sink: Sink) {
        let _open = Open::new();
        let mut cursor = match self.start {
            Start::After(seq) => seq,
            Start::Snapshot => 0,
        };
        let result = self.stream(&sink, &mut cursor).await;
        drop(self.permit);
        match result {
            Ok(()) => {}
            Err(Stop::Gone) => crate::metrics::watch_ended("client_gone"),
            Err(Stop::Ended(error)) => {
                crate::metrics::watch_ended(end_reason(&error));
                tracing::info!(%error, resume_after = cursor, "watch ended by the server");
                sink.finish(error);
            }
        }
    }

    async fn stream(&mut self, sink: &Sink, cursor: &mut i64) -> Result<(), Stop> {
        match self.start {
            // The snapshot and the catch-up read the database through
            // large futures; boxed, they are allocated while they run, and
            // the task of an idle watcher, which lives as long as the watch,
            // stays small (about a third of its size with them inline).
            Start::Snapshot => *cursor = Box::pin(self.snapshot(sink)).await?,
            // The first message says where the stream starts, so that a
            // client that asked for "from now on" can resume exactly.
            Start::After(_) => sink.send(bookmark(*cursor, false), Some(*cursor)).await?,
        }
        Box::pin(self.catch_up(sink, cursor)).await?;
        let mut bookmarks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.settings.bookmark_interval,
            self.settings.bookmark_interval,
        );
        let mut shutdown = self.shutdown.clone();
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => Next::Shutdown,
                () = sink.messages.closed() => Next::Gone,
                batch = self.live.recv() => Next::Live(batch),
                _ = bookmarks.tick() => Next::Bookmark,
            };
            match next {
                Next::Shutdown => {
                    return Err(Stop::Ended(ApiError::ShuttingDown {
                        resume_after: Some(*cursor),
                    }));
                }
                Next::Gone => return Err(Stop::Gone),
                Next::Live(received) => self.take(sink, cursor, received).await?,
                Next::Bookmark => {
                    // Every batch up to the follower's head that concerns
                    // this watcher is queued for it once the head is read:
                    // after those, nothing up to the head is left to send.
                    let head = self.hub.head();
                    while let Some(received) = self.live.try_recv() {
                        self.take(sink, cursor, received).await?;
                    }
                    *cursor = (*cursor).max(head);
                    sink.send(bookmark(*cursor, false), Some(*cursor)).await?;
                }
            }
        }
    }

    /// Sends what one batch of the follower holds for this watcher.
    async fn take(
        &mut self,
        sink: &Sink,
        cursor: &mut i64,
        received: Received,
    ) -> Result<(), Stop> {
        match received {
            Received::Batch(batch) => match &*batch {
                Broadcast::Records(records) => self.deliver(sink, cursor, records).await,
                // The table holds what the follower skipped, or tells that
                // this watcher's cursor expired.
                Broadcast::Gap => Box::pin(self.catch_up(sink, cursor)).await,
                Broadcast::Reset { known, head } => Err(Stop::Ended(ApiError::LogReset {
                    known: *known,
                    head: *head,
                })),
            },
            Received::Lagged => {
                tracing::debug!("watcher lagged behind the hub; catching up from the table");
                Box::pin(self.catch_up(sink, cursor)).await
            }
        }
    }

    /// Sends the snapshot and its closing bookmark; returns its head.
    async fn snapshot(&mut self, sink: &Sink) -> Result<i64, Stop> {
        let filter = self.filter.snapshot();
        let pool = self.snapshot_pool.clone();
        let mut snapshot = self
            .retry(None, move || {
                let pool = pool.clone();
                async move { Snapshot::begin(&pool).await }
            })
            .await?;
        let head = snapshot.head;
        let mut after: Option<String> = None;
        loop {
            let page = match snapshot
                .page(&filter, after.as_deref(), SNAPSHOT_PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    snapshot.finish().await;
                    return Err(Stop::Ended(error));
                }
            };
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            let resources = page
                .into_iter()
                .map(|row| {
                    // The schema admits only registered kinds.
                    let kind = KindInfo::of_field(&row.kind);
                    SnapshotResource {
                        resource_name: row.name,
                        resource_type: kind.map_or(0, |k| k.resource_type as i32),
                        resource: Some(prost_types::Any {
                            type_url: kind.map_or_else(String::new, |k| k.type_url.to_owned()),
                            value: row.data,
                        }),
                    }
                })
                .collect();
            for message in frames::snapshot(resources) {
                // Cut short, a snapshot has no resume point: the client
                // opens a new one.
                if let Err(stop) = sink.send(message, None).await {
                    snapshot.finish().await;
                    return Err(stop);
                }
            }
        }
        snapshot.finish().await;
        sink.send(bookmark(head, true), Some(head)).await?;
        Ok(head)
    }

    /// Reads from the table until the hub's broadcasts can take over.
    async fn catch_up(&mut self, sink: &Sink, cursor: &mut i64) -> Result<(), Stop> {
        loop {
            let from = *cursor;
            let pool = self.pool.clone();
            let records = self
                .retry(Some(from), move || {
                    let pool = pool.clone();
                    async move { changes::read_after(&pool, from, PAGE).await }
                })
                .await?;
            let full = records.len() as i64 >= PAGE;
            self.deliver(sink, cursor, &records).await?;
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends the matching events of the records after the cursor, one
    /// message per transaction, advancing the cursor past every record.
    async fn deliver(
        &self,
        sink: &Sink,
        cursor: &mut i64,
        records: &[ChangeRecord],
    ) -> Result<(), Stop> {
        let fresh: Vec<&ChangeRecord> = records.iter().filter(|r| r.seq > *cursor).collect();
        for transaction in fresh.chunk_by(|a, b| a.tx_id == b.tx_id) {
            let Some(last) = transaction.last() else {
                continue;
            };
            let events: Vec<ChangeEvent> = transaction
                .iter()
                .filter(|r| self.filter.matches(r))
                .map(|r| event(r))
                .collect();
            if !events.is_empty() {
                let transaction_id = u64::try_from(last.tx_id).unwrap_or_default();
                // The resume point stays before the transaction until its
                // last fragment is queued.
                for message in frames::transaction(transaction_id, events) {
                    sink.send(message, Some(*cursor)).await?;
                }
                metrics::histogram!(crate::metrics::WATCH_LAG)
                    .record((self.hub.head() - last.seq).max(0) as f64);
            }
            *cursor = last.seq;
        }
        Ok(())
    }

    /// Runs a database read, retrying while the database is unavailable,
    /// until shutdown.
    async fn retry<T, F, Fut>(&mut self, resume_after: Option<i64>, mut read: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            match read().await {
                Ok(value) => return Ok(value),
                Err(ApiError::Unavailable(error)) => {
                    tracing::debug!(%error, "watch read failed; retrying");
                }
                Err(other) => return Err(Stop::Ended(other)),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                _ = self.shutdown.wait_for(|s| *s) => {
                    return Err(Stop::Ended(ApiError::ShuttingDown { resume_after }));
                }
            }
        }
    }
}

/// Why a watch ended (or was refused), as the metric's `reason` label.
pub fn end_reason(error: &ApiError) -> &'static str {
    match error {
        ApiError::SlowConsumer { .. } => "slow_consumer",
        ApiError::CursorExpired { .. } => "cursor_expired",
        ApiError::CursorAhead { .. } => "cursor_ahead",
        ApiError::LogReset { .. } => "log_reset",
        ApiError::WatchLimit { .. } | ApiError::WatchLimitPerToken { .. } => "limit",
        ApiError::ShuttingDown { .. } => "shutdown",
        _ => "error",
    }
}

fn any(type_name: &str, value: Vec<u8>) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value,
    }
}

fn event(record: &ChangeRecord) -> ChangeEvent {
    ChangeEvent {
        sequence: record.seq,
        commit_time: Some(timestamp(record.commit_time)),
        kind: change_kind(&record.change_kind) as i32,
        resource_name: record.resource_name.clone(),
        resource_type: ResourceType::of_message(&record.resource_type) as i32,
        resource: Some(any(&record.resource_type, record.resource.clone())),
        actor: record.actor.clone().unwrap_or_default(),
    }
}

fn bookmark(sequence: i64, end_of_snapshot: bool) -> WatchResponse {
    WatchResponse {
        kind: Some(watch_response::Kind::Bookmark(Bookmark {
            sequence,
            time: Some(timestamp(Utc::now())),
            end_of_snapshot,
        })),
    }
}
