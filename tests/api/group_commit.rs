//! Group commit: concurrent creates share transactions, yet each is
//! answered alone. A refused create rolls back alone, the others commit,
//! retries with one request id create one resource, and the change stream
//! keeps its guarantees over the shared transactions.

use std::collections::BTreeSet;
use std::sync::Arc;

use frontierwatch_proto::v1::*;
use tokio::sync::Barrier;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::TestServer;
use crate::watch_support::*;

/// Concurrent callers per round; more than the server's committers, so
/// that creates queue and share transactions.
const CALLERS: usize = 24;

fn batch_stats(server: &TestServer) -> (f64, f64) {
    let samples = crate::metrics::scrape(server).1;
    (
        crate::metrics::value(&samples, "frontierwatch_db_write_batch_size_sum", &[]),
        crate::metrics::value(&samples, "frontierwatch_db_write_batch_size_count", &[]),
    )
}

/// What caller `i` of round `round` sends: a valid create, a create of a
/// name that exists, a model whose developer does not exist, or a retry
/// of its neighbour's request id.
fn request(round: usize, i: usize) -> (String, CreateModelRequest) {
    let id = format!("m{round}-{i}");
    let mut request = CreateModelRequest {
        model_id: id.clone(),
        model: Some(Model {
            display_name: format!("Model {id}"),
            developers: vec!["organizations/lab".into()],
            ..Default::default()
        }),
        request_id: String::new(),
    };
    match i % 4 {
        1 => request.model_id = "taken".into(),
        2 => {
            if let Some(m) = request.model.as_mut() {
                m.developers = vec!["organizations/nobody".into()];
            }
        }
        3 => {
            // The same request as caller i - 1 would send, with one id.
            let twin = i - 1;
            request.model_id = format!("m{round}-{twin}-retried");
            request.request_id = format!("00000000-0000-4000-8000-{:06}{twin:06}", round);
        }
        _ => {}
    }
    (id, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_share_transactions_and_each_is_answered_alone() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "taken", &["lab"]).await;
    let start = {
        let truth = truth(&server.pool().await).await;
        truth.last().map_or(0, |t| t.seq)
    };
    let watcher = Recorder::after(&mut c, start).await;
    let mut clients = Vec::new();
    for _ in 0..CALLERS + CALLERS / 4 {
        clients.push(server.client().await);
    }
    let mut created = BTreeSet::new();
    let mut rounds = 0;
    // Rounds until some transaction held more than one create (the first
    // usually does); at most 20.
    while rounds < 20 {
        let barrier = Arc::new(Barrier::new(clients.len()));
        let mut calls = Vec::new();
        for (i, client) in clients.iter().enumerate() {
            let mut client = client.clone();
            let barrier = barrier.clone();
            // The retried requests are sent twice, by two callers.
            let (_, req) = request(
                rounds,
                if i < CALLERS {
                    i
                } else {
                    (i - CALLERS) * 4 + 3
                },
            );
            calls.push(tokio::spawn(async move {
                barrier.wait().await;
                let answer = client
                    .create_model(req.clone())
                    .await
                    .map(|r| r.into_inner());
                (req, answer)
            }));
        }
        for call in calls {
            let (req, answer) = call.await.unwrap();
            let wanted = format!("models/{}", req.model_id);
            match (
                req.model_id.as_str(),
                &req.model.as_ref().unwrap().developers[0],
            ) {
                ("taken", _) => {
                    let status = answer.expect_err("a taken name is refused");
                    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                }
                (_, developer) if developer.ends_with("nobody") => {
                    let status = answer.expect_err("a missing developer is refused");
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert_eq!(reason(&status), "REFERENCED_RESOURCE_NOT_FOUND");
                }
                _ => {
                    let model = answer.expect("a valid create succeeds");
                    assert_eq!(model.name, wanted);
                    created.insert(model.name);
                }
            }
        }
        rounds += 1;
        let (sum, count) = batch_stats(&server);
        if sum > count {
            break;
        }
    }
    let (sum, count) = batch_stats(&server);
    assert!(
        sum > count,
        "no transaction held two creates: {sum} creates in {count}"
    );
    // Exactly the valid creates are stored, once each; nothing of the
    // refused ones is.
    let pool = server.pool().await;
    let stored: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM resources WHERE kind = 'model' AND name <> 'models/taken'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let stored: BTreeSet<String> = stored.into_iter().map(|(n,)| n).collect();
    assert_eq!(stored, created);
    assert_eq!(created.len(), rounds * CALLERS / 2);
    let (ids,): (i64,) = sqlx::query_as("SELECT count(*) FROM request_ids")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        ids as usize,
        rounds * CALLERS / 4,
        "one recorded answer per request id"
    );

    // The stream has every create exactly once, grouped as committed.
    let truth = truth(&pool).await;
    let head = truth.last().map_or(0, |t| t.seq);
    assert_eq!(
        truth.iter().filter(|t| t.seq > start).count(),
        created.len()
    );
    assert!(
        watcher
            .wait_for(head, std::time::Duration::from_secs(10))
            .await
    );
    let got = validate(&watcher.stop(), &truth, start, |_| true);
    assert_eq!(got, created.len());
}

/// Waits until a session waits for a lock that the session `pid` holds.
async fn until_blocked_by(pool: &sqlx::PgPool, pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
        if blocked > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no create came to wait for the row in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The backend of a connection.
async fn backend(conn: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Stores organizations straight into the table, in `tx`, uncommitted.
async fn hold_names(tx: &mut sqlx::PgConnection, names: &[&str]) {
    for name in names {
        sqlx::query(
            "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
             VALUES ($1, 'organization', '\\x', 'e', now(), now())",
        )
        .bind(format!("organizations/{name}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
}

fn create(
    client: &crate::harness::Client,
    id: &str,
) -> tokio::task::JoinHandle<Result<Organization, tonic::Status>> {
    let mut client = client.clone();
    let request = org_request(id);
    tokio::spawn(async move {
        client
            .create_organization(request)
            .await
            .map(|r| r.into_inner())
    })
}

/// Keeps every committer busy: stores `names` in a transaction of its own,
/// uncommitted, and starts their creates, which wait for it. Creates
/// started next queue, and are taken as one batch once it commits.
async fn occupy_committers(
    pool: &sqlx::PgPool,
    client: &crate::harness::Client,
    names: &[&str],
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    Vec<tokio::task::JoinHandle<Result<Organization, tonic::Status>>>,
) {
    let mut held = pool.begin().await.unwrap();
    hold_names(&mut held, names).await;
    let held_by = backend(&mut held).await;
    let blocked = names.iter().map(|id| create(client, id)).collect();
    until_blocked_by(pool, held_by).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    (held, blocked)
}

fn group_writes(server: &TestServer, path: &str) -> f64 {
    let samples = crate::metrics::scrape(server).1;
    crate::metrics::value(
        &samples,
        "frontierwatch_db_group_writes_total",
        &[("path", path)],
    )
}

/// Creates queued behind busy committers are decided and written together
/// as one batch (one read at most, a few statements for all), not one by
/// one in savepoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_creates_are_decided_in_memory_as_one_batch() {
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let client = server.client().await;
    let (held, blocked) = occupy_committers(&pool, &client, &["b1", "b2", "b3", "b4"]).await;
    let batch: Vec<_> = ["c1", "c2", "c3"]
        .iter()
        .map(|id| create(&client, id))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    held.commit().await.unwrap();
    for call in blocked {
        let status = call.await.unwrap().expect_err("the name was taken");
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    }
    for call in batch {
        call.await.unwrap().expect("a queued create succeeds");
    }
    assert!(
        group_writes(&server, "together") >= 3.0,
        "the queued creates were not decided together: {} alone, {} together, {} again, {} one by one",
        group_writes(&server, "alone"),
        group_writes(&server, "together"),
        group_writes(&server, "again"),
        group_writes(&server, "one_by_one")
    );
    assert_eq!(group_writes(&server, "one_by_one"), 0.0);
}

/// A batch finds at its write that a concurrent transaction took one of
/// its names after its read: it is read and decided again in a fresh
/// transaction, and answers exactly as alone: the taken name
/// `ALREADY_EXISTS`, the others created, each once on the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_whose_name_is_taken_after_its_read_is_decided_again() {
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let client = server.client().await;
    let start = truth(&pool).await.last().map_or(0, |t| t.seq);
    let watcher = Recorder::after(&mut client.clone(), start).await;

    let (held, blocked) = occupy_committers(&pool, &client, &["b1", "b2", "b3", "b4"]).await;
    // The name the batch will find taken after its read.
    let mut taker = pool.begin().await.unwrap();
    hold_names(&mut taker, &["x"]).await;
    let taken_by = backend(&mut taker).await;
    let batch: Vec<_> = ["x", "z1", "z2", "z3"]
        .iter()
        .map(|id| create(&client, id))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // The blockers' names now exist; the queued batch is read (x not
    // yet), and its write waits for `taker`, which then commits x.
    held.commit().await.unwrap();
    until_blocked_by(&pool, taken_by).await;
    taker.commit().await.unwrap();
    for call in blocked {
        let status = call.await.unwrap().expect_err("the name was taken");
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    }

    let mut answers = Vec::new();
    for call in batch {
        answers.push(call.await.unwrap());
    }
    let status = answers[0].as_ref().expect_err("x was taken meanwhile");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let mut created = BTreeSet::new();
    for answer in &answers[1..] {
        created.insert(
            answer
                .as_ref()
                .expect("the others are created")
                .name
                .clone(),
        );
    }
    assert_eq!(created.len(), 3);

    let again = group_writes(&server, "again");
    assert!(again >= 4.0, "the batch was not decided again: {again}");

    // The stream has each create once.
    let truth = truth(&pool).await;
    let head = truth.last().map_or(0, |t| t.seq);
    assert_eq!(truth.iter().filter(|t| t.seq > start).count(), 3);
    assert!(
        watcher
            .wait_for(head, std::time::Duration::from_secs(10))
            .await
    );
    assert_eq!(validate(&watcher.stop(), &truth, start, |_| true), 3);
}
