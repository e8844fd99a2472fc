//! Alerts are neither lost nor suppressed: a lead that changes back and
//! forth is announced every time, and long commitment ids do not collide.
//! The evaluator's work per tick follows what changed, not what is stored.

use std::time::Duration;

use frontierwatch_proto::v1::*;

use crate::fixtures::*;
use crate::harness::{TestServer, fresh_database};
use crate::watch::server_with;

async fn evaluating_server() -> TestServer {
    server_with(
        &fresh_database().await,
        vec![("FRONTIERWATCH_ALERT_SECONDS".to_owned(), "0.2".to_owned())],
    )
    .await
}

/// The alert names on the change log, in order.
async fn alerts(s: &TestServer) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT resource_name FROM changes WHERE resource_type = 'frontierwatch.v1.Alert' ORDER BY seq",
    )
    .fetch_all(&s.pool().await)
    .await
    .unwrap();
    rows.into_iter().map(|(n,)| n).collect()
}

/// Waits until the log holds `n` alerts (or returns what it has after 10 s).
async fn until_alerts(s: &TestServer, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let names = alerts(s).await;
        if names.len() >= n {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alerts(s).await
}

async fn leader(s: &TestServer) -> Option<String> {
    sqlx::query_as::<_, (String,)>("SELECT release FROM leaders")
        .fetch_optional(&s.pool().await)
        .await
        .unwrap()
        .map(|(r,)| r)
}

async fn until_leader(s: &TestServer, release: &str) {
    for _ in 0..100 {
        if leader(s).await.as_deref() == Some(release) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{release} never became the leader");
}

#[tokio::test]
async fn a_lead_that_changes_back_and_forth_is_announced_every_time() {
    let s = evaluating_server().await;
    let mut c = s.client().await;
    for org in ["lab-a", "lab-b"] {
        create_org(&mut c, org).await;
    }
    create_model(&mut c, "alpha", &["lab-a"]).await;
    create_model(&mut c, "beta", &["lab-b"]).await;
    create_release(&mut c, "alpha", "a1", release("A1")).await;
    create_release(&mut c, "beta", "b1", release("B1")).await;
    create_benchmark(&mut c, "gpqa", ScoreScale::Percent, "science").await;
    let (a, b) = ("models/alpha/releases/a1", "models/beta/releases/b1");
    // A leads (recorded, not announced), then B, A and B again.
    for (i, (release, score)) in [(a, 70.0), (b, 75.0), (a, 80.0), (b, 85.0)]
        .into_iter()
        .enumerate()
    {
        create_result(
            &mut c,
            &format!("r{i}"),
            result(release, "benchmarks/gpqa", score),
        )
        .await;
        until_leader(&s, release).await;
    }
    let names = until_alerts(&s, 3).await;
    assert_eq!(
        names.len(),
        3,
        "B over A, A over B, B over A again: {names:?}"
    );
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{names:?}");
}

#[tokio::test]
async fn long_commitment_ids_that_share_a_prefix_get_an_alert_each() {
    let s = evaluating_server().await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    let prefix = "a-very-long-commitment-id-shared-by-two-promises-of-l";
    let ids = [format!("{prefix}ab-one"), format!("{prefix}ab-two")];
    for id in &ids {
        assert_eq!(id.len(), 59);
        c.create_commitment(CreateCommitmentRequest {
            commitment_id: id.clone(),
            commitment: Some(Commitment {
                organization: "organizations/lab".into(),
                promise: "A new model every month.".into(),
                provenance: Some(source("https://example.com/promise")),
                period: CommitmentPeriod::Monthly as i32,
                start_date: Some(date(2025, 1, 1)),
                end_date: Some(date(2025, 3, 31)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("the commitment is created");
    }
    // Three missed months each.
    let names = until_alerts(&s, 6).await;
    assert_eq!(names.len(), 6, "{names:?}");
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "{names:?}");
}

/// The `boards=N` of the evaluator's log lines among `lines`.
fn boards_evaluated(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| l.contains("leaderboards evaluated"))
        .filter_map(|l| l.split("boards=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_evaluates_the_leaderboards_of_changed_benchmarks_only() {
    let s = evaluating_server().await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "m", &["lab"]).await;
    create_release(&mut c, "m", "r1", release("R1")).await;
    create_release(&mut c, "m", "r2", release("R2")).await;
    for (i, benchmark) in ["gpqa", "mmlu", "aime"].into_iter().enumerate() {
        create_benchmark(&mut c, benchmark, ScoreScale::Percent, "science").await;
        let name = format!("benchmarks/{benchmark}");
        create_result(
            &mut c,
            &format!("r1-{i}"),
            result("models/m/releases/r1", &name, 50.0),
        )
        .await;
    }
    for _ in 0..100 {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM leaders")
            .fetch_one(&s.pool().await)
            .await
            .unwrap();
        if n == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Quiet: ticks (every 0.2 s) with nothing changed evaluate nothing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = s.new_lines();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let quiet = s.new_lines();
    assert_eq!(boards_evaluated(&quiet), Vec::<u64>::new(), "{quiet:#?}");

    // One new result: the next tick evaluates its benchmark alone, and its
    // new leader is announced.
    create_result(
        &mut c,
        "r2-mmlu",
        result("models/m/releases/r2", "benchmarks/mmlu", 60.0),
    )
    .await;
    until_leader_of(&s, "benchmarks/mmlu", "models/m/releases/r2").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let evaluated = boards_evaluated(&s.new_lines());
    assert_eq!(evaluated, vec![1], "one board, once");
    assert_eq!(until_alerts(&s, 1).await.len(), 1);
}

async fn until_leader_of(s: &TestServer, benchmark: &str, release: &str) {
    for _ in 0..100 {
        let leader: Option<(String,)> =
            sqlx::query_as("SELECT release FROM leaders WHERE benchmark = $1")
                .bind(benchmark)
                .fetch_optional(&s.pool().await)
                .await
                .unwrap();
        if leader.is_some_and(|(r,)| r == release) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{release} never led {benchmark}");
}
