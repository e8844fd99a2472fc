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
