//! Response-size latency benchmark, kept apart from the tests: one client,
//! one call at a time, on an idle server. Measures a List of 50 releases
//! (about 5.5 KB) side by side with a Get of one release by name (the
//! baseline, a few hundred bytes) in the same run and reports the ratio of
//! their medians.
//!
//! A List costs a few times a Get (more rows to read and encode). A ratio
//! near 100 means responses wait for something other than work: before the
//! server set `TCP_NODELAY` on accepted connections, every response larger
//! than one segment waited about 40 ms for the client's delayed ACK
//! (Nagle's algorithm).
//!
//! Run: `cargo bench -p frontierwatch-server --bench list_latency`
//! (environment: CALLS, default 200).

#[path = "../../../tests/api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use frontierwatch_proto::v1::*;

use harness::TestServer;

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = TestServer::start().await;
    let mut client = server.client().await;
    fixtures::create_org(&mut client, "lab").await;
    fixtures::create_model(&mut client, "m", &["lab"]).await;
    for i in 0..50 {
        fixtures::create_release(&mut client, "m", &format!("r{i}"), fixtures::release("R")).await;
    }

    let mut gets = Vec::with_capacity(calls);
    let mut lists = Vec::with_capacity(calls);
    let mut list_bytes = 0;
    for _ in 0..calls {
        let start = Instant::now();
        client
            .get_release(GetReleaseRequest {
                name: "models/m/releases/r0".into(),
            })
            .await
            .expect("get succeeds");
        gets.push(start.elapsed());
        let start = Instant::now();
        let page = client
            .list_releases(ListReleasesRequest {
                parent: "models/m".into(),
                page_size: 50,
                ..Default::default()
            })
            .await
            .expect("list succeeds")
            .into_inner();
        lists.push(start.elapsed());
        assert_eq!(page.releases.len(), 50);
        list_bytes = prost::Message::encoded_len(&page);
    }
    let (get, list) = (median_ms(gets), median_ms(lists));
    println!("| call | response | p50 | ratio |");
    println!("|---|---|---|---|");
    println!("| GetRelease (baseline) | one release | {get:.3} ms | 1.00× |");
    println!(
        "| ListReleases, 50 items | {list_bytes} bytes | {list:.3} ms | {:.2}× |",
        list / get
    );
}
