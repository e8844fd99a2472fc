//! The change stream under concurrent writers, across replicas, and at its
//! edges (expired cursor, slow consumer, watch limit, shutdown).

use std::time::Duration;

use frontierwatch_proto::v1::*;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::fixtures::*;
use crate::harness::{Client, ServerOptions, TestServer, fresh_database};
use crate::watch_support::*;

/// Options that make bookmarks frequent.
pub fn fast_bookmarks() -> Vec<(String, String)> {
    vec![("FRONTIERWATCH_WATCH_BOOKMARK_SECONDS".into(), "0.2".into())]
}

pub async fn server_with(database_url: &str, env: Vec<(String, String)>) -> TestServer {
    TestServer::start_with(ServerOptions {
        database_url: Some(database_url.to_owned()),
        env,
        ..Default::default()
    })
    .await
    .expect("server starts")
}

/// A release and a benchmark that results can be written against.
pub async fn scaffold(c: &mut Client) {
    create_org(c, "lab").await;
    create_model(c, "line", &["lab"]).await;
    create_release(c, "line", "v1", release("Line v1")).await;
    create_benchmark(c, "bench", ScoreScale::Percent, "coding").await;
}

/// Retries a write while the server answers UNAVAILABLE or INTERNAL (a
/// database restart); ALREADY_EXISTS after a retry means the first try
/// committed.
async fn write<T, F, Fut>(mut op: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut retried = false;
    for _ in 0..200 {
        match op().await {
            Ok(_) => return,
            Err(s) if retried && s.code() == Code::AlreadyExists => return,
            Err(s) if matches!(s.code(), Code::Unavailable | Code::Internal | Code::Unknown) => {
                retried = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("write failed: {s:?}"),
        }
    }
    panic!("write kept failing");
}

/// One writer: creates and updates organizations, and every fourth step
/// creates four results in one transaction. 7 events per 4 steps.
pub async fn writer(c: Client, writer: usize, steps: usize) {
    for i in 0..steps {
        let id = format!("w{writer}-s{i}");
        match i % 4 {
            0 => {
                let requests = (0..4)
                    .map(|k| CreateBenchmarkResultRequest {
                        benchmark_result_id: format!("{id}-r{k}"),
                        benchmark_result: Some(result(
                            "models/line/releases/v1",
                            "benchmarks/bench",
                            50.0 + k as f64,
                        )),
                        request_id: String::new(),
                    })
                    .collect::<Vec<_>>();
                write(|| {
                    let (mut c, requests) = (c.clone(), requests.clone());
                    async move {
                        c.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest {
                            requests,
                        })
                        .await
                    }
                })
                .await;
            }
            1 | 2 => {
                write(|| {
                    let mut c = c.clone();
                    let request = CreateOrganizationRequest {
                        organization_id: id.clone(),
                        organization: Some(Organization {
                            display_name: id.clone(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    };
                    async move { c.create_organization(request).await }
                })
                .await;
            }
            _ => {
                let previous = format!("organizations/w{writer}-s{}", i - 1);
                write(|| {
                    let mut c = c.clone();
                    let request = UpdateOrganizationRequest {
                        organization: Some(Organization {
                            name: previous.clone(),
                            country: "US".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["country".into()],
                        }),
                    };
                    async move { c.update_organization(request).await }
                })
                .await;
            }
        }
    }
}

pub async fn head(server: &TestServer) -> i64 {
    let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(&server.pool().await)
        .await
        .unwrap();
    head.unwrap_or(0)
}

fn is_result(t: &Truth) -> bool {
    t.resource_type == "frontierwatch.v1.BenchmarkResult"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_streams_keep_all_six_guarantees_under_eight_concurrent_writers() {
    let server = server_with(&fresh_database().await, fast_bookmarks()).await;
    let mut c = server.client().await;
    scaffold(&mut c).await;
    let start = head(&server).await;

    // An unfiltered watcher, a filtered one, one that leaves and resumes,
    // and one that starts with a snapshot while writes are under way.
    let all = Recorder::after(&mut c, start).await;
    let results = Recorder::start(
        &mut c,
        WatchRequest {
            start_after_sequence: Some(start),
            resource_types: vec![ResourceType::BenchmarkResult as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first_half = Recorder::after(&mut c, start).await;

    let writing = {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let c = server.client().await;
            tasks.push(tokio::spawn(writer(c, w, 160)));
        }
        tasks
    };

    // Midway, one watcher leaves and a new stream resumes after its last
    // sequence; another starts from a snapshot.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let left = first_half.stop();
    let resumed_from = last_seq(&left);
    let resumed = Recorder::after(&mut c, resumed_from).await;
    let snapshot = Recorder::start(
        &mut c,
        WatchRequest {
            snapshot: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    for t in writing {
        t.await.expect("writer does not panic");
    }
    let final_head = head(&server).await;
    for r in [&all, &results, &resumed, &snapshot] {
        assert!(
            r.wait_for(final_head, Duration::from_secs(30)).await,
            "a watcher did not catch up to {final_head}"
        );
    }
    let truth = truth(&server.pool().await).await;
    let events_total = truth.iter().filter(|t| t.seq > start).count();
    assert!(events_total >= 2000, "only {events_total} events written");

    let all = all.stop();
    assert_eq!(validate(&all, &truth, start, |_| true), events_total);
    assert!(
        all.iter()
            .any(|m| matches!(m, Msg::Transaction { events, .. } if events.len() == 4)),
        "multi-resource transactions arrive whole"
    );
    assert!(
        all.iter().any(|m| matches!(m, Msg::Bookmark { .. })),
        "bookmarks are sent"
    );

    let results = results.stop();
    let expected_results = truth
        .iter()
        .filter(|t| t.seq > start && is_result(t))
        .count();
    assert_eq!(
        validate(&results, &truth, start, is_result),
        expected_results
    );

    // Resumable: the first stream and its continuation together are one
    // valid stream.
    let mut joined = left.clone();
    joined.extend(resumed.stop());
    assert_eq!(validate(&joined, &truth, start, |_| true), events_total);

    // The snapshot ends with a bookmark; what follows is exactly the log
    // after it.
    let snapshot = snapshot.stop();
    let end = snapshot
        .iter()
        .position(|m| {
            matches!(
                m,
                Msg::Bookmark {
                    end_of_snapshot: true,
                    ..
                }
            )
        })
        .expect("the snapshot ends with a bookmark");
    let Msg::Bookmark {
        seq: snapshot_head, ..
    } = snapshot[end]
    else {
        unreachable!()
    };
    assert!(
        snapshot[..end]
            .iter()
            .all(|m| matches!(m, Msg::Snapshot(_)))
    );
    let listed: usize = snapshot[..end]
        .iter()
        .map(|m| if let Msg::Snapshot(n) = m { n.len() } else { 0 })
        .sum();
    let pool = server.pool().await;
    let (existing_then,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT resource_name) FROM changes WHERE seq <= $1 AND change_kind = 'created'",
    )
    .bind(snapshot_head)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        listed as i64, existing_then,
        "the snapshot holds every resource as of its bookmark"
    );
    validate(&snapshot[end..], &truth, snapshot_head, |_| true);
}

#[tokio::test]
async fn a_change_written_through_one_replica_reaches_a_watcher_on_another() {
    let a = TestServer::start().await;
    let b = server_with(&a.database_url, vec![]).await;
    let mut on_b = b.client().await;
    let watcher = Recorder::start(&mut on_b, WatchRequest::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut on_a = a.client().await;
    create_org(&mut on_a, "written-on-a").await;
    let h = head(&a).await;
    assert!(
        watcher.wait_for(h, Duration::from_secs(10)).await,
        "replica B delivered the change"
    );
    let got = watcher.stop();
    assert!(got.iter().any(|m| matches!(m, Msg::Transaction { events, .. } if events[0].1 == "organizations/written-on-a")));
}

#[tokio::test]
async fn bookmarks_carry_the_head_when_no_matching_event_flows() {
    let s = server_with(&fresh_database().await, fast_bookmarks()).await;
    let mut c = s.client().await;
    let watcher = Recorder::start(
        &mut c,
        WatchRequest {
            resource_types: vec![ResourceType::Disclosure as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for i in 0..5 {
        create_org(&mut c, &format!("o{i}")).await;
    }
    let h = head(&s).await;
    assert!(
        watcher.wait_for(h, Duration::from_secs(10)).await,
        "a bookmark reached the head"
    );
    let got = watcher.stop();
    assert!(
        got.iter().all(|m| matches!(m, Msg::Bookmark { .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn resuming_from_before_the_retained_window_fails_with_the_window_in_error_info() {
    let s = TestServer::start().await;
    let s = server_with(
        &s.database_url,
        vec![
            ("FRONTIERWATCH_CHANGE_RETENTION_SECONDS".into(), "1".into()),
            ("FRONTIERWATCH_CHANGE_PRUNE_SECONDS".into(), "0.2".into()),
        ],
    )
    .await;
    let mut c = s.client().await;
    for i in 0..5 {
        create_org(&mut c, &format!("old{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    create_org(&mut c, "new").await;
    let pool = s.pool().await;
    let mut pruned = 0;
    for _ in 0..50 {
        (pruned,) = sqlx::query_as("SELECT pruned_through FROM change_log_state")
            .fetch_one(&pool)
            .await
            .unwrap();
        if pruned >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pruned >= 5, "old records were pruned");
    let (oldest, head): (i64, i64) = sqlx::query_as("SELECT min(seq), max(seq) FROM changes")
        .fetch_one(&pool)
        .await
        .unwrap();

    let err = c
        .watch(WatchRequest {
            start_after_sequence: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "WATCH_CURSOR_EXPIRED");
    assert_eq!(
        info.metadata["oldest_retained_sequence"],
        oldest.to_string()
    );
    assert_eq!(info.metadata["head_sequence"], head.to_string());

    // Resuming inside the window still works.
    assert!(
        c.watch(WatchRequest {
            start_after_sequence: Some(pruned),
            ..Default::default()
        })
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_watcher_that_stops_reading_is_ended_with_the_sequence_to_resume_after() {
    let s = server_with(
        &fresh_database().await,
        vec![(
            "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS".into(),
            "1".into(),
        )],
    )
    .await;
    let mut c = s.client().await;
    create_org(&mut c, "xai").await;
    // Open the stream but do not read it.
    let mut stream = c.watch(WatchRequest::default()).await.unwrap().into_inner();
    let mut writer = s.client().await;
    for i in 0..150 {
        let mut d = disclosure(
            "organizations/xai",
            DisclosureCategory::TrainingDataProvenance,
        );
        d.statement = "x".repeat(60_000);
        create_disclosure(&mut writer, &format!("d{i}"), d).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Now read: buffered events, then the terminal status.
    let mut last = 0;
    let status = loop {
        match tokio_stream::StreamExt::next(&mut stream).await {
            Some(Ok(WatchResponse {
                kind: Some(watch_response::Kind::Transaction(t)),
            })) => {
                last = t.events.last().unwrap().sequence;
            }
            Some(Ok(_)) => {}
            Some(Err(status)) => break status,
            None => panic!("the stream ended without a status"),
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "WATCH_SLOW_CONSUMER");
    assert_eq!(info.metadata["resume_after_sequence"], last.to_string());
    assert!(last < head(&s).await, "the consumer really fell behind");
}

#[tokio::test]
async fn watches_beyond_the_replica_limit_are_refused() {
    let s = server_with(
        &fresh_database().await,
        vec![("FRONTIERWATCH_MAX_WATCHES".into(), "2".into())],
    )
    .await;
    let mut c = s.client().await;
    let first = c.watch(WatchRequest::default()).await.unwrap().into_inner();
    let _second = c.watch(WatchRequest::default()).await.unwrap().into_inner();
    let err = c.watch(WatchRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "WATCH_LIMIT_REACHED");
    assert_eq!(info.metadata["limit"], "2");
    // A watch that ends frees its place.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if c.watch(WatchRequest::default()).await.is_ok() {
            admitted = true;
            break;
        }
    }
    assert!(admitted);
}

#[tokio::test]
async fn on_sigterm_open_watches_end_unavailable_with_their_resume_sequence_and_the_server_exits() {
    let mut s = server_with(
        &fresh_database().await,
        vec![("FRONTIERWATCH_SHUTDOWN_GRACE_SECONDS".into(), "30".into())],
    )
    .await;
    let mut c = s.client().await;
    let watcher = Recorder::start(&mut c, WatchRequest::default())
        .await
        .unwrap();
    let idle = Recorder::start(
        &mut c,
        WatchRequest {
            resource_types: vec![ResourceType::Disclosure as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    create_org(&mut c, "xai").await;
    let h = head(&s).await;
    assert!(watcher.wait_for(h, Duration::from_secs(10)).await);
    let started = std::time::Instant::now();
    let (clean, _) = s.terminate().await;
    let took = started.elapsed();
    assert!(clean, "the server exits cleanly");
    assert!(
        took < Duration::from_secs(10),
        "shutdown took {took:?} with watches open"
    );
    for r in [&watcher, &idle] {
        let status = r
            .wait_end(Duration::from_secs(5))
            .await
            .expect("the watch ended with a status");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "SERVER_SHUTTING_DOWN");
        assert_eq!(info.metadata["resume_after_sequence"], h.to_string());
    }
}

#[tokio::test]
async fn invalid_watch_requests_name_the_field() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    for (request, field) in [
        (
            WatchRequest {
                snapshot: true,
                start_after_sequence: Some(3),
                ..Default::default()
            },
            "start_after_sequence",
        ),
        (
            WatchRequest {
                start_after_sequence: Some(-1),
                ..Default::default()
            },
            "start_after_sequence",
        ),
        (
            WatchRequest {
                resource_types: vec![42],
                ..Default::default()
            },
            "resource_types[0]",
        ),
        (
            WatchRequest {
                change_kinds: vec![0],
                ..Default::default()
            },
            "change_kinds[0]",
        ),
        (
            WatchRequest {
                organization: "xai".into(),
                ..Default::default()
            },
            "organization",
        ),
    ] {
        let err = c.watch(request).await.unwrap_err();
        assert_invalid(&err, field);
    }
}

/// The follower hands a batch only to the watchers whose filter names
/// what the batch carries (and to those that name nothing): 49 watchers of
/// other benchmarks are never woken by results on a benchmark of their
/// own, however many there are. Counted by the server's own metric of
/// batches handed to watchers, against the transactions in the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_reaches_only_the_watchers_whose_filter_it_concerns() {
    let s = server_with(&fresh_database().await, fast_bookmarks()).await;
    let mut c = s.client().await;
    scaffold(&mut c).await;
    for i in 1..50 {
        create_benchmark(&mut c, &format!("other-{i}"), ScoreScale::Percent, "coding").await;
    }
    let filtered = |field: &str, name: &str| {
        let mut request = WatchRequest::default();
        match field {
            "benchmark" => request.benchmark = name.into(),
            "model" => request.model = name.into(),
            _ => request.organization = name.into(),
        }
        request
    };
    let mut others = Vec::new();
    for i in 1..50 {
        let request = filtered("benchmark", &format!("benchmarks/other-{i}"));
        others.push(Recorder::start(&mut c, request).await.unwrap());
    }
    let concerned = [
        Recorder::start(&mut c, filtered("benchmark", "benchmarks/bench"))
            .await
            .unwrap(),
        Recorder::start(&mut c, filtered("model", "models/line"))
            .await
            .unwrap(),
        Recorder::start(&mut c, filtered("organization", "organizations/lab"))
            .await
            .unwrap(),
        Recorder::start(&mut c, WatchRequest::default())
            .await
            .unwrap(),
    ];
    let start = head(&s).await;
    // Every watch has sent its first bookmark: all are registered.
    for recorder in concerned.iter().chain(&others) {
        assert!(recorder.wait_for(start, Duration::from_secs(10)).await);
    }
    let dispatched = || {
        let samples = crate::metrics::scrape(&s).1;
        crate::metrics::value(
            &samples,
            "frontierwatch_watch_batches_dispatched_total",
            &[],
        )
    };
    let before = dispatched();
    for i in 0..10 {
        create_result(
            &mut c,
            &format!("r{i}"),
            result(
                "models/line/releases/v1",
                "benchmarks/bench",
                50.0 + f64::from(i),
            ),
        )
        .await;
    }
    let end = head(&s).await;
    for recorder in &concerned {
        assert!(recorder.wait_for(end, Duration::from_secs(10)).await);
    }
    // The follower has handed out everything up to `end` once the
    // concerned watchers have it; the others' bookmarks follow.
    for recorder in &others {
        assert!(recorder.wait_for(end, Duration::from_secs(10)).await);
    }
    let after = dispatched();
    let truth = truth(&s.pool().await).await;
    let transactions: std::collections::BTreeSet<i64> = truth
        .iter()
        .filter(|t| t.seq > start && t.seq <= end)
        .map(|t| t.tx_id)
        .collect();
    assert!(transactions.len() >= 10, "{transactions:?}");
    // A batch holds one transaction or more: each reached at most the
    // four concerned watchers (49 more if every watcher were woken).
    let handed = after - before;
    assert!(
        handed >= 4.0 && handed <= 4.0 * transactions.len() as f64,
        "{handed} batches handed to watchers for {} transactions",
        transactions.len()
    );
    for recorder in concerned {
        let messages = recorder.stop();
        // Everything written in the window concerns all four.
        let got = validate(&messages, &truth, start, |_| true);
        assert!(got >= 10, "{got} results delivered");
    }
    for recorder in others {
        let messages = recorder.stop();
        assert!(
            messages.iter().all(|m| matches!(m, Msg::Bookmark { .. })),
            "{messages:?}"
        );
    }
}
