//! Feeds the read cache (`storage::cache`) from a watch of its own: a
//! snapshot of every resource, then every change in sequence order, with
//! the same guarantees as any client's watch (ordered, reliable,
//! resumable after a gap by a new snapshot; it survives a restart of the
//! database). When the watch ends (the log was restored or reset, its
//! cursor expired, the server drains), the cache stops serving and a new
//! watch starts from a new snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use frontierwatch_proto::v1::{ChangeKind, WatchRequest, watch_response};
use tokio::sync::watch;
use tokio_stream::StreamExt as _;

use super::Watches;
use crate::storage::cache::{Change, Entry, ReadCache};

/// The wait before a new watch after one ended.
const RETRY: Duration = Duration::from_secs(1);

/// A read cache kept by a watch of `watches` until the server drains.
pub fn spawn(watches: Watches, mut shutdown: watch::Receiver<bool>) -> Arc<ReadCache> {
    let hub = watches.hub.clone();
    let cache = Arc::new(ReadCache::new(move || hub.head()));
    let kept = Arc::clone(&cache);
    tokio::spawn(async move {
        let cache = kept;
        loop {
            tokio::select! {
                () = follow(&watches, &cache) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            cache.stop();
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    });
    cache
}

/// One watch, until it ends.
async fn follow(watches: &Watches, cache: &ReadCache) {
    let request = WatchRequest {
        snapshot: true,
        ..Default::default()
    };
    let mut stream = match watches.open(&request, None).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "the read cache cannot watch the change log");
            return;
        }
    };
    let mut snapshot: Option<HashMap<String, Entry>> = Some(HashMap::new());
    while let Some(message) = stream.next().await {
        let message = match message {
            Ok(message) => message,
            Err(status) => {
                tracing::info!(code = ?status.code(), message = status.message(),
                    "the read cache's watch ended; it reads a new snapshot");
                return;
            }
        };
        match message.kind {
            Some(watch_response::Kind::Snapshot(chunk)) => {
                if let Some(snapshot) = snapshot.as_mut() {
                    for r in chunk.resources {
                        snapshot.insert(r.resource_name, Entry::of(r.resource_type, r.resource));
                    }
                }
            }
            Some(watch_response::Kind::Bookmark(bookmark)) => match snapshot.take() {
                Some(snapshot) if bookmark.end_of_snapshot => {
                    tracing::info!(
                        resources = snapshot.len(),
                        sequence = bookmark.sequence,
                        "the read cache is live"
                    );
                    cache.replace(snapshot, bookmark.sequence);
                }
                // Only its own bookmark ends the snapshot.
                unfinished @ Some(_) => snapshot = unfinished,
                None => cache.advance(bookmark.sequence),
            },
            Some(watch_response::Kind::Transaction(transaction)) => {
                if snapshot.is_some() {
                    tracing::warn!("the read cache's watch sent changes inside its snapshot");
                    return;
                }
                let Some(through) = transaction.events.last().map(|e| e.sequence) else {
                    continue;
                };
                let changes = transaction
                    .events
                    .into_iter()
                    .map(|event| match ChangeKind::try_from(event.kind) {
                        Ok(ChangeKind::Deleted) => Change::Remove(event.resource_name),
                        _ => Change::Put(
                            event.resource_name,
                            Entry::of(event.resource_type, event.resource),
                        ),
                    })
                    .collect();
                cache.apply(changes, through);
            }
            None => {}
        }
    }
}
