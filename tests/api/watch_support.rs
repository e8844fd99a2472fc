//! Recording watch streams and validating them against the change log, in
//! the manner of etcd's robustness watch validation: ordered, unique,
//! reliable, atomic, resumable and bookmarkable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontierwatch_proto::v1::{WatchRequest, WatchResponse, watch_response};
use sqlx::PgPool;
use tokio_stream::StreamExt as _;
use tonic::Status;

use crate::harness::Client;

/// One received message, reduced to what the validator needs.
#[derive(Debug, Clone)]
pub enum Msg {
    Transaction {
        tx_id: u64,
        events: Vec<(i64, String, i32)>,
    },
    Snapshot(Vec<String>),
    Bookmark {
        seq: i64,
        end_of_snapshot: bool,
    },
}

/// A stream being recorded in the background.
pub struct Recorder {
    pub messages: Arc<Mutex<Vec<Msg>>>,
    pub end: Arc<Mutex<Option<Status>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Opens a watch and records it until it ends or is stopped.
    pub async fn start(client: &mut Client, request: WatchRequest) -> Result<Recorder, Status> {
        let mut stream = client.watch(request).await?.into_inner();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let end = Arc::new(Mutex::new(None));
        let (m, e) = (messages.clone(), end.clone());
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(response) => m.lock().unwrap().push(reduce(response)),
                    Err(status) => {
                        *e.lock().unwrap() = Some(status);
                        return;
                    }
                }
            }
        });
        Ok(Recorder {
            messages,
            end,
            task,
        })
    }

    /// Opens a watch that resumes after `seq` and records it.
    pub async fn after(client: &mut Client, seq: i64) -> Recorder {
        let request = WatchRequest {
            start_after_sequence: Some(seq),
            ..Default::default()
        };
        Recorder::start(client, request)
            .await
            .expect("the watch opens")
    }

    /// Stops reading (the client goes away).
    pub fn stop(self) -> Vec<Msg> {
        self.task.abort();
        self.messages.lock().unwrap().clone()
    }

    /// The highest sequence received in an event or bookmark.
    pub fn last_seq(&self) -> i64 {
        last_seq(&self.messages.lock().unwrap())
    }

    /// Waits until a bookmark or event at or beyond `seq` arrived.
    pub async fn wait_for(&self, seq: i64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.last_seq() >= seq {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits until the stream ended with a status.
    pub async fn wait_end(&self, timeout: Duration) -> Option<Status> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.end.lock().unwrap().clone() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

fn reduce(response: WatchResponse) -> Msg {
    match response.kind {
        Some(watch_response::Kind::Transaction(t)) => Msg::Transaction {
            tx_id: t.transaction_id,
            events: t
                .events
                .into_iter()
                .map(|e| (e.sequence, e.resource_name, e.kind))
                .collect(),
        },
        Some(watch_response::Kind::Snapshot(s)) => {
            Msg::Snapshot(s.resources.into_iter().map(|r| r.resource_name).collect())
        }
        Some(watch_response::Kind::Bookmark(b)) => Msg::Bookmark {
            seq: b.sequence,
            end_of_snapshot: b.end_of_snapshot,
        },
        None => panic!("empty watch response"),
    }
}

pub fn last_seq(messages: &[Msg]) -> i64 {
    messages
        .iter()
        .filter_map(|m| match m {
            Msg::Transaction { events, .. } => events.last().map(|e| e.0),
            Msg::Bookmark { seq, .. } => Some(*seq),
            Msg::Snapshot(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// One record of the change log, as the database holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Truth {
    pub seq: i64,
    pub tx_id: i64,
    pub resource_name: String,
    pub resource_type: String,
}

pub async fn truth(pool: &PgPool) -> Vec<Truth> {
    sqlx::query_as("SELECT seq, tx_id::text::bigint AS tx_id, resource_name, resource_type FROM changes ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Checks the six guarantees of a recorded stream that started after
/// `start_after`, for events matching `matches`. Returns the number of
/// events validated.
pub fn validate(
    messages: &[Msg],
    truth: &[Truth],
    start_after: i64,
    matches: impl Fn(&Truth) -> bool,
) -> usize {
    let mut last_event = start_after;
    let mut last_bookmark = i64::MIN;
    let mut received = Vec::new();
    let by_tx: BTreeMap<i64, Vec<&Truth>> = truth.iter().fold(BTreeMap::new(), |mut m, t| {
        m.entry(t.tx_id).or_insert_with(Vec::new).push(t);
        m
    });
    let by_seq: BTreeMap<i64, &Truth> = truth.iter().map(|t| (t.seq, t)).collect();
    for message in messages {
        match message {
            Msg::Transaction { tx_id, events } => {
                assert!(!events.is_empty(), "empty transaction message");
                for (seq, name, _) in events {
                    // ordered and unique
                    assert!(
                        *seq > last_event,
                        "event {seq} after {last_event}: out of order or repeated"
                    );
                    // bookmarkable: nothing at or below a bookmark follows it
                    assert!(
                        *seq > last_bookmark,
                        "event {seq} after bookmark {last_bookmark}"
                    );
                    let t = by_seq
                        .get(seq)
                        .unwrap_or_else(|| panic!("event {seq} is not in the change log"));
                    assert_eq!(&t.resource_name, name, "event {seq} names another resource");
                    // atomic: the marker identifies the transaction
                    assert_eq!(
                        t.tx_id as u64, *tx_id,
                        "event {seq} carries another transaction's id"
                    );
                    last_event = *seq;
                    received.push(*seq);
                }
                // atomic: the message holds every matching change of its transaction
                let expected: Vec<i64> = by_tx[&(*tx_id as i64)]
                    .iter()
                    .filter(|t| matches(t))
                    .map(|t| t.seq)
                    .collect();
                let got: Vec<i64> = events.iter().map(|e| e.0).collect();
                assert_eq!(
                    got, expected,
                    "transaction {tx_id} arrived split or incomplete"
                );
            }
            Msg::Bookmark { seq, .. } => {
                assert!(
                    *seq >= last_event,
                    "bookmark {seq} behind delivered event {last_event}"
                );
                assert!(*seq >= last_bookmark, "bookmarks went backwards");
                last_bookmark = *seq;
            }
            Msg::Snapshot(_) => {}
        }
    }
    // reliable: every matching record up to the stream's progress arrived
    let through = last_seq(messages);
    let expected: BTreeSet<i64> = truth
        .iter()
        .filter(|t| t.seq > start_after && t.seq <= through && matches(t))
        .map(|t| t.seq)
        .collect();
    let got: BTreeSet<i64> = received.iter().copied().collect();
    let missing: Vec<_> = expected.difference(&got).take(10).collect();
    assert!(
        missing.is_empty(),
        "events lost: {missing:?} (of {})",
        expected.len()
    );
    assert_eq!(got.len(), received.len(), "events duplicated");
    received.len()
}

#[cfg(test)]
mod validator_checks {
    use super::*;

    fn t(seq: i64, tx_id: i64) -> Truth {
        Truth {
            seq,
            tx_id,
            resource_name: format!("organizations/o{seq}"),
            resource_type: "frontierwatch.v1.Organization".into(),
        }
    }

    fn tx(tx_id: u64, seqs: &[i64]) -> Msg {
        Msg::Transaction {
            tx_id,
            events: seqs
                .iter()
                .map(|s| (*s, format!("organizations/o{s}"), 1))
                .collect(),
        }
    }

    fn fails(messages: Vec<Msg>, truth: &[Truth]) -> bool {
        let truth = truth.to_vec();
        std::panic::catch_unwind(move || validate(&messages, &truth, 0, |_| true)).is_err()
    }

    #[test]
    fn the_validator_rejects_lost_duplicated_reordered_split_and_misplaced_events() {
        let truth = [t(1, 10), t(2, 11), t(3, 11), t(4, 12)];
        let good = vec![
            tx(10, &[1]),
            tx(11, &[2, 3]),
            Msg::Bookmark {
                seq: 3,
                end_of_snapshot: false,
            },
            tx(12, &[4]),
        ];
        assert_eq!(validate(&good, &truth, 0, |_| true), 4);
        assert!(
            fails(vec![tx(10, &[1]), tx(12, &[4])], &truth),
            "lost events"
        );
        assert!(
            fails(
                vec![tx(10, &[1]), tx(10, &[1]), tx(11, &[2, 3]), tx(12, &[4])],
                &truth
            ),
            "duplicates"
        );
        assert!(
            fails(vec![tx(11, &[2, 3]), tx(10, &[1]), tx(12, &[4])], &truth),
            "reordered"
        );
        assert!(
            fails(
                vec![tx(10, &[1]), tx(11, &[2]), tx(11, &[3]), tx(12, &[4])],
                &truth
            ),
            "split transaction"
        );
        assert!(
            fails(vec![tx(10, &[1]), tx(99, &[2, 3]), tx(12, &[4])], &truth),
            "wrong transaction marker"
        );
        assert!(
            fails(
                vec![
                    tx(10, &[1]),
                    Msg::Bookmark {
                        seq: 4,
                        end_of_snapshot: false
                    },
                    tx(11, &[2, 3])
                ],
                &truth
            ),
            "bookmark ahead of events"
        );
    }
}
