//! Bytes, not items: every message of the stream fits a byte budget far
//! below a default client's 4 MiB receive limit (grpcurl, grpcio, Go), and
//! each watcher buffers a bounded number of bytes.
//!
//! A transaction larger than the budget goes out as several consecutive
//! messages with the same transaction id, each but the last marked
//! `fragment` (etcd's watch fragments are the model); snapshot chunks are
//! cut by size too. An item larger than the budget on its own (one
//! resource near the largest allowed size) travels alone.

use frontierwatch_proto::v1::{
    ChangeEvent, SnapshotChunk, SnapshotResource, TransactionEvents, WatchResponse, watch_response,
};
use prost::Message;

/// The most bytes of items one message carries.
pub const MESSAGE_BUDGET: usize = 1 << 20;
/// The most bytes buffered per watcher (queued for the client, not yet
/// taken by the transport) before the slow-consumer clock starts.
pub const WATCHER_BUFFER_BYTES: usize = 4 << 20;

/// Splits `items` into runs whose encoded size stays within `budget`
/// (a run holds at least one item).
fn split<T: Message>(items: Vec<T>, budget: usize) -> Vec<Vec<T>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut size = 0;
    for item in items {
        // The item's bytes, its length prefix and its tag.
        let len = item.encoded_len();
        let framed = len + prost::length_delimiter_len(len) + 1;
        if !run.is_empty() && size + framed > budget {
            runs.push(std::mem::take(&mut run));
            size = 0;
        }
        size += framed;
        run.push(item);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The messages of one transaction's matching events.
pub fn transaction(transaction_id: u64, events: Vec<ChangeEvent>) -> Vec<WatchResponse> {
    let runs = split(events, MESSAGE_BUDGET);
    let last = runs.len().saturating_sub(1);
    runs.into_iter()
        .enumerate()
        .map(|(i, events)| WatchResponse {
            kind: Some(watch_response::Kind::Transaction(TransactionEvents {
                transaction_id,
                events,
                fragment: i < last,
            })),
        })
        .collect()
}

/// The messages of one page of a snapshot.
pub fn snapshot(resources: Vec<SnapshotResource>) -> Vec<WatchResponse> {
    split(resources, MESSAGE_BUDGET)
        .into_iter()
        .map(|resources| WatchResponse {
            kind: Some(watch_response::Kind::Snapshot(SnapshotChunk { resources })),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sequence: i64, bytes: usize) -> ChangeEvent {
        ChangeEvent {
            sequence,
            resource_name: "x".repeat(bytes),
            ..Default::default()
        }
    }

    #[test]
    fn a_large_transaction_is_cut_into_fragments_within_the_budget() {
        let events: Vec<_> = (1..=5000).map(|i| event(i, 1000)).collect();
        let messages = transaction(7, events);
        assert!(messages.len() >= 5);
        let mut sequences = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            assert!(message.encoded_len() <= MESSAGE_BUDGET + 64);
            let Some(watch_response::Kind::Transaction(t)) = &message.kind else {
                panic!("a transaction message");
            };
            assert_eq!(t.transaction_id, 7);
            assert_eq!(
                t.fragment,
                i + 1 < messages.len(),
                "only the last is unmarked"
            );
            sequences.extend(t.events.iter().map(|e| e.sequence));
        }
        assert_eq!(sequences, (1..=5000).collect::<Vec<_>>());
    }

    #[test]
    fn a_small_transaction_is_one_message_and_a_huge_event_travels_alone() {
        let one = transaction(1, vec![event(1, 10), event(2, 10)]);
        assert_eq!(one.len(), 1);
        let huge = transaction(2, vec![event(1, 10), event(2, 2 << 20), event(3, 10)]);
        let sizes: Vec<usize> = huge
            .iter()
            .map(|m| match &m.kind {
                Some(watch_response::Kind::Transaction(t)) => t.events.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }
}
