//! The change stream at its edges, where a watcher could otherwise skip
//! events without being told: a prune that overtakes a catch-up, a cursor
//! beyond the head, a change log that goes backwards, a follower that
//! starts after the server serves, and a snapshot cut short.

use std::time::Duration;

use frontierwatch_proto::v1::*;
use sqlx::PgPool;
use tokio_stream::StreamExt as _;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt as _;

use crate::fixtures::create_org;
use crate::harness::{TestServer, fresh_database};
use crate::watch::{head, server_with};

/// Appends `n` change records of 2 KB each, each in its own transaction,
/// the way writes do (the trigger assigns sequence and commit time). Their
/// size keeps them from all fitting in a watcher's buffers and the
/// transport's windows.
async fn append_changes(pool: &PgPool, n: usize) {
    let resource = Organization {
        display_name: "x".repeat(2000),
        ..Default::default()
    };
    let resource = prost::Message::encode_to_vec(&resource);
    for i in 0..n {
        sqlx::query(
            "INSERT INTO changes (resource_name, resource_type, change_kind, resource) \
             VALUES ($1, 'frontierwatch.v1.Organization', 'created', $2)",
        )
        .bind(format!("organizations/raw{i}"))
        .bind(&resource)
        .execute(pool)
        .await
        .expect("a change record is appended");
    }
}

/// Reads until the stream ends, fails, or is idle for `idle`; returns the
/// event sequences received and the terminal status, if any.
async fn drain(
    stream: &mut Streaming<WatchResponse>,
    idle: Duration,
) -> (Vec<i64>, Option<Status>) {
    let mut seqs = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) | Ok(None) => return (seqs, None),
            Ok(Some(Err(status))) => return (seqs, Some(status)),
            Ok(Some(Ok(message))) => {
                if let Some(watch_response::Kind::Transaction(t)) = message.kind {
                    seqs.extend(t.events.iter().map(|e| e.sequence));
                }
            }
        }
    }
}

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_catch_up_overtaken_by_the_pruner_ends_expired_instead_of_skipping_records() {
    let s = server_with(
        &fresh_database().await,
        vec![(
            "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS".into(),
            "120".into(),
        )],
    )
    .await;
    let pool = s.pool().await;
    append_changes(&pool, 5000).await;
    let mut c = s.client().await;
    let mut stream = c
        .watch(WatchRequest {
            start_after_sequence: Some(0),
            ..Default::default()
        })
        .await
        .expect("the log is complete, so the watch opens")
        .into_inner();
    // Read a little, then stop: the watcher blocks inside its first page
    // (1,000 records) of the catch-up.
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        if let Some(watch_response::Kind::Transaction(t)) =
            stream.next().await.expect("open").expect("no error").kind
        {
            seqs.extend(t.events.iter().map(|e| e.sequence));
        }
    }
    // Another replica with a one-second retention prunes all but the
    // newest record meanwhile.
    let pruner = server_with(
        &s.database_url,
        vec![
            ("FRONTIERWATCH_CHANGE_RETENTION_SECONDS".into(), "1".into()),
            ("FRONTIERWATCH_CHANGE_PRUNE_SECONDS".into(), "0.2".into()),
        ],
    )
    .await;
    let mut pruned = 0i64;
    for _ in 0..100 {
        (pruned,) = sqlx::query_as("SELECT pruned_through FROM change_log_state")
            .fetch_one(&pool)
            .await
            .expect("state");
        if pruned >= 4999 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(pruner);
    assert_eq!(pruned, 4999, "the pruner overtook the watcher");

    let (rest, end) = drain(&mut stream, Duration::from_secs(5)).await;
    seqs.extend(rest);
    assert_eq!(seqs[0], 1);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no record is skipped: received {} records, then a jump to {:?}",
        seqs.len(),
        seqs.windows(2).find(|w| w[1] != w[0] + 1)
    );
    let end = end.expect("the watch is ended, not left running past a gap");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert_eq!(reason(&end), "WATCH_CURSOR_EXPIRED");
}

#[tokio::test]
async fn a_cursor_beyond_the_head_is_refused_out_of_range_with_the_head() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    let head = head(&s).await;
    let error = c
        .watch(WatchRequest {
            start_after_sequence: Some(head + 100),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::OutOfRange, "{error:?}");
    let info = error.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "WATCH_CURSOR_AHEAD");
    assert_eq!(info.metadata["head_sequence"], head.to_string());
    // The head itself is a valid cursor.
    c.watch(WatchRequest {
        start_after_sequence: Some(head),
        ..Default::default()
    })
    .await
    .expect("the head is accepted");
}

#[tokio::test]
async fn a_change_log_that_goes_backwards_ends_open_watches_with_a_clear_error() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    for i in 0..5 {
        create_org(&mut c, &format!("o{i}")).await;
    }
    let head = head(&s).await;
    let mut stream = c
        .watch(WatchRequest {
            start_after_sequence: Some(head),
            ..Default::default()
        })
        .await
        .expect("opens")
        .into_inner();
    stream.next().await.expect("a bookmark").expect("no error");
    // A restore from an older backup: the log ends earlier, and its
    // sequence numbers will be handed out again.
    let pool = s.pool().await;
    sqlx::query("DELETE FROM changes WHERE seq > $1")
        .bind(head - 3)
        .execute(&pool)
        .await
        .expect("delete");
    sqlx::query("SELECT setval('changes_seq', $1)")
        .bind(head - 3)
        .execute(&pool)
        .await
        .expect("setval");
    // The replica's follower reconnects, as after any database restart.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&pool)
    .await
    .expect("terminate");
    let (_, end) = drain(&mut stream, Duration::from_secs(15)).await;
    let end = end.expect("the watch is ended instead of waiting for reused sequences");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert_eq!(reason(&end), "WATCH_LOG_RESET");
    let info = end.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.metadata["head_sequence"], (head - 3).to_string());
}

/// The server must not serve Watch before its change-log follower knows
/// the head: `Hub::start` returns only then (before, it returned at once
/// with the head unknown, -1).
#[tokio::test]
async fn the_change_log_follower_knows_the_head_when_it_starts() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let hub = frontierwatch_server::stream::hub::Hub::start(
        s.pool().await,
        Duration::from_secs(1),
        shutdown_rx,
    )
    .await
    .expect("starts");
    assert_eq!(hub.head(), head(&s).await);
}

#[tokio::test]
async fn a_snapshot_cut_short_gives_no_resume_point() {
    let s = server_with(
        &fresh_database().await,
        vec![(
            "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS".into(),
            "1".into(),
        )],
    )
    .await;
    crate::fixtures::store_large_organizations(&s.pool().await, 20_000).await;
    let mut c = s.client().await;
    let mut stream = c
        .watch(WatchRequest {
            snapshot: true,
            ..Default::default()
        })
        .await
        .expect("opens")
        .into_inner();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, end) = drain(&mut stream, Duration::from_secs(10)).await;
    let end = end.expect("the slow snapshot reader is ended");
    assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
    let info = end.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "WATCH_SLOW_CONSUMER");
    assert!(
        !info.metadata.contains_key("resume_after_sequence"),
        "a cut-short snapshot names no resume point: {:?}",
        info.metadata
    );
    assert!(
        end.message().contains("open a new snapshot"),
        "{}",
        end.message()
    );
}
