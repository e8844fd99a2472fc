//! Self-resuming subscriptions to the change stream.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};

use frontierwatch_proto::v1::{
    Bookmark, SnapshotChunk, TransactionEvents, WatchRequest, watch_response,
};
use tokio::sync::mpsc;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::client::Client;

/// One item of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The matching changes of one committed transaction, whole: a
    /// transaction the server sent in fragments is put together first.
    Transaction(TransactionEvents),
    /// A part of the initial snapshot.
    Snapshot(SnapshotChunk),
    /// Progress; `end_of_snapshot` marks the end of the snapshot.
    Bookmark(Bookmark),
    /// The connection broke during the snapshot; it starts again from the
    /// beginning, so discard the snapshot chunks received so far.
    SnapshotRestarted,
}

/// Why a subscription ended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WatchError {
    /// The resume point is older than the server's retained change log.
    /// Subscribe again with `snapshot: true`.
    #[error(
        "the watch cursor expired (oldest retained {oldest_retained}, head {head}); re-snapshot"
    )]
    CursorExpired {
        /// The oldest sequence the server still has.
        oldest_retained: i64,
        /// The server's head sequence.
        head: i64,
    },
    /// The server's change log went back below what it had sent (a restore
    /// from backup, a failover): sequences are reused, so what was
    /// received may not match the server's state. Subscribe again with
    /// `snapshot: true`.
    #[error("the server's change log was reset (head now {head}); re-snapshot")]
    LogReset {
        /// The server's head sequence now.
        head: i64,
    },
    /// The server refused the subscription (an invalid request, say).
    #[error("watch failed: {0}")]
    Status(Status),
}

/// A subscription: a [`Stream`](tokio_stream::Stream) of [`WatchEvent`]s
/// that reconnects with backoff and resumes after the last sequence it
/// delivered. Dropping it ends the subscription.
pub struct WatchEvents {
    receiver: mpsc::Receiver<Result<WatchEvent, WatchError>>,
    /// The highest sequence handed to the caller (from an event or a
    /// bookmark); -1 before the first.
    delivered: i64,
    task: tokio::task::JoinHandle<()>,
}

impl WatchEvents {
    /// The highest sequence delivered to the caller so far (from an event
    /// or bookmark), or `None` before the first. Resume after it.
    pub fn last_sequence(&self) -> Option<i64> {
        (self.delivered >= 0).then_some(self.delivered)
    }
}

impl Drop for WatchEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl tokio_stream::Stream for WatchEvents {
    type Item = Result<WatchEvent, WatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.receiver.poll_recv(cx);
        if let Poll::Ready(Some(Ok(event))) = &polled {
            let seq = match event {
                WatchEvent::Transaction(t) => t.events.last().map(|e| e.sequence),
                WatchEvent::Bookmark(b) => Some(b.sequence),
                WatchEvent::Snapshot(_) | WatchEvent::SnapshotRestarted => None,
            };
            if let Some(seq) = seq {
                self.delivered = self.delivered.max(seq);
            }
        }
        polled
    }
}

/// Whether a status that ended a stream is worth reconnecting for.
fn reconnect(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
    )
}

/// The statuses that mean "re-snapshot", as their own errors.
fn expired(status: &Status) -> Option<WatchError> {
    let info = status.get_details_error_info()?;
    if status.code() != Code::FailedPrecondition {
        return None;
    }
    let number = |key: &str| {
        info.metadata
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    match info.reason.as_str() {
        "WATCH_CURSOR_EXPIRED" => Some(WatchError::CursorExpired {
            oldest_retained: number("oldest_retained_sequence"),
            head: number("head_sequence"),
        }),
        "WATCH_LOG_RESET" => Some(WatchError::LogReset {
            head: number("head_sequence"),
        }),
        _ => None,
    }
}

impl Client {
    /// Subscribes to changes. With `snapshot`, the current state comes
    /// first; with `start_after_sequence`, the stream resumes there; with
    /// neither, it starts with the changes committed from now on (the
    /// server's first bookmark tells where "now" is).
    pub fn watch(&self, request: WatchRequest) -> WatchEvents {
        let (sender, receiver) = mpsc::channel(64);
        let start = request.start_after_sequence.unwrap_or(-1);
        // What the task has received, for resuming: events still queued for
        // the caller must not be asked for again.
        let received = Arc::new(AtomicI64::new(start));
        let task = tokio::spawn(run(self.clone(), request, sender, received));
        WatchEvents {
            receiver,
            delivered: start,
            task,
        }
    }
}

async fn run(
    client: Client,
    request: WatchRequest,
    sender: mpsc::Sender<Result<WatchEvent, WatchError>>,
    cursor: Arc<AtomicI64>,
) {
    let retry = client.retry_policy();
    let mut snapshot_pending = request.snapshot;
    let mut attempt = 0;
    loop {
        let mut call = request.clone();
        if snapshot_pending {
            call.start_after_sequence = None;
        } else {
            call.snapshot = false;
            let seq = cursor.load(Ordering::Acquire);
            call.start_after_sequence = (seq >= 0).then_some(seq);
        }
        let mut chunks_sent = false;
        // Fragments of a transaction larger than one message, put together
        // before the caller sees the transaction. A broken connection
        // drops them: the resume point is before the transaction.
        let mut pending: Option<TransactionEvents> = None;
        let ended = match client.raw().watch(call).await {
            Err(status) => status,
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(message)) => {
                            attempt = 0;
                            let event = match message.kind {
                                Some(watch_response::Kind::Transaction(part)) => {
                                    let t = match pending.take() {
                                        Some(mut whole)
                                            if whole.transaction_id == part.transaction_id =>
                                        {
                                            whole.events.extend(part.events);
                                            whole.fragment = part.fragment;
                                            whole
                                        }
                                        _ => part,
                                    };
                                    if t.fragment {
                                        pending = Some(t);
                                        continue;
                                    }
                                    if let Some(last) = t.events.last() {
                                        cursor.store(last.sequence, Ordering::Release);
                                    }
                                    WatchEvent::Transaction(t)
                                }
                                Some(watch_response::Kind::Snapshot(s)) => {
                                    chunks_sent = true;
                                    WatchEvent::Snapshot(s)
                                }
                                Some(watch_response::Kind::Bookmark(b)) => {
                                    cursor.store(b.sequence, Ordering::Release);
                                    if b.end_of_snapshot {
                                        snapshot_pending = false;
                                    }
                                    WatchEvent::Bookmark(b)
                                }
                                None => continue,
                            };
                            if sender.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break Status::unavailable("the server ended the stream"),
                        Err(status) => break status,
                    }
                }
            }
        };
        if let Some(error) = expired(&ended) {
            let _ = sender.send(Err(error)).await;
            return;
        }
        if !reconnect(&ended) {
            let _ = sender.send(Err(WatchError::Status(ended))).await;
            return;
        }
        if snapshot_pending
            && chunks_sent
            && sender
                .send(Ok(WatchEvent::SnapshotRestarted))
                .await
                .is_err()
        {
            return;
        }
        attempt += 1;
        if crate::retry::retryable_status(&ended) {
            client.server_gone();
        }
        tracing::debug!(status = %ended, attempt, "watch interrupted; resuming");
        tokio::time::sleep(retry.backoff(attempt.min(16))).await;
    }
}
