//! The change stream through faults: the listener's backend terminated, the
//! server killed and restarted, PostgreSQL restarted. No event is lost and
//! none is duplicated within a stream.

use std::time::Duration;

use crate::deployment::OwnCluster;
use crate::harness::{ServerOptions, TestServer, fresh_database};
use crate::watch::{head, scaffold, server_with};
use crate::watch_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminating_the_listeners_backend_loses_nothing() {
    // A long fallback poll: recovery must come from the reconnect's catch-up.
    let server = server_with(
        &fresh_database().await,
        vec![("FRONTIERWATCH_CHANGE_POLL_SECONDS".into(), "120".into())],
    )
    .await;
    let mut c = server.client().await;
    scaffold(&mut c).await;
    let start = head(&server).await;
    let watcher = Recorder::after(&mut c, start).await;
    let pool = server.pool().await;
    let writes = tokio::spawn({
        let c = server.client().await;
        async move { crate::watch::writer(c, 0, 200).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listeners: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(listeners.len(), 1, "one LISTEN connection per replica");
    let (terminated,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
        .bind(listeners[0].0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(terminated);
    let at_termination = head(&server).await;
    writes.await.unwrap();
    let final_head = head(&server).await;
    assert!(
        final_head > at_termination,
        "writes continued after the listener died"
    );
    assert!(
        watcher.wait_for(final_head, Duration::from_secs(30)).await,
        "the watcher caught up after the listener died"
    );
    let truth = truth(&pool).await;
    let got = watcher.stop();
    let expected = truth.iter().filter(|t| t.seq > start).count();
    assert_eq!(validate(&got, &truth, start, |_| true), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_stream_and_restarted_is_resumed_without_loss() {
    let database = fresh_database().await;
    // Writes go through one replica; the watched replica is killed.
    let writes_to = server_with(&database, vec![]).await;
    let mut c = writes_to.client().await;
    scaffold(&mut c).await;
    let start = head(&writes_to).await;
    let watched = server_with(&database, vec![]).await;
    let mut w = watched.client().await;
    let first = Recorder::after(&mut w, start).await;
    let writing = tokio::spawn({
        let c = writes_to.client().await;
        async move { crate::watch::writer(c, 0, 200).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(watched); // SIGKILL
    let before = first.stop();
    let resume_after = last_seq(&before);
    assert!(resume_after > start, "the first stream received something");

    let restarted = server_with(&database, vec![]).await;
    let mut w = restarted.client().await;
    let second = Recorder::after(&mut w, resume_after).await;
    writing.await.unwrap();
    let final_head = head(&writes_to).await;
    assert!(second.wait_for(final_head, Duration::from_secs(30)).await);
    let truth = truth(&writes_to.pool().await).await;
    let mut joined = before;
    joined.extend(second.stop());
    let expected = truth.iter().filter(|t| t.seq > start).count();
    assert_eq!(validate(&joined, &truth, start, |_| true), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarting_postgresql_mid_stream_loses_nothing() {
    // Its own cluster: the shared one serves other tests.
    let (mut cluster, url) = OwnCluster::start().await;
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = server.client().await;
    crate::watch::scaffold(&mut c).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (start,): (i64,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let watcher = Recorder::after(&mut c, start).await;
    let writing = tokio::spawn({
        let c = server.client().await;
        async move { crate::watch::writer(c, 0, 120).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (at_restart,): (i64,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert!(at_restart > start, "writes happened before the restart");
    cluster.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart().await;
    writing.await.unwrap();

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (final_head,): (i64,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        final_head > at_restart,
        "writes continued after the restart"
    );
    assert!(
        watcher.wait_for(final_head, Duration::from_secs(30)).await,
        "the watcher caught up after the restart"
    );
    assert!(
        watcher.end.lock().unwrap().is_none(),
        "the stream survived the restart"
    );
    let truth = truth(&pool).await;
    let got = watcher.stop();
    let expected = truth.iter().filter(|t| t.seq > start).count();
    assert_eq!(validate(&got, &truth, start, |_| true), expected);
    pool.close().await;
    drop(server);
    drop(cluster);
}
