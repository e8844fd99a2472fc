//! Change-stream benchmark, kept apart from the tests:
//!
//! - commit-to-delivery latency (p50, p99) with 1,000 concurrent watchers on
//!   one replica at a steady write rate, against a baseline of 1 watcher at
//!   the same rate in the same run, reported as a ratio;
//! - the server's memory per idle watcher (resident set growth while 1,000
//!   idle watches are open, divided by 1,000).
//!
//! Run: `cargo bench -p frontierwatch-server --bench watch_fanout`
//! (environment: WATCHERS, RATE per second, SECONDS).

#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frontierwatch_proto::v1::*;
use tokio_stream::StreamExt as _;

use harness::{Client, TestServer};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Opens `n` watches spread over channels (a connection carries at most a
/// few hundred streams), each recording commit-to-delivery latencies.
async fn watchers(
    server: &TestServer,
    n: usize,
    request: WatchRequest,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> (Vec<tokio::task::JoinHandle<()>>, Vec<Client>) {
    let mut clients = Vec::new();
    for _ in 0..n.div_ceil(100) {
        clients.push(server.client().await);
    }
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut client = clients[i / 100].clone();
        let mut stream = client
            .watch(request.clone())
            .await
            .expect("watch opens")
            .into_inner();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Some(watch_response::Kind::Transaction(t)) = message.kind {
                    let received = now_nanos();
                    for e in t.events {
                        if let Some(ts) = e.commit_time {
                            let committed =
                                i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
                            let ms = (received - committed) as f64 / 1e6;
                            latencies.lock().map(|mut l| l.push(ms)).ok();
                        }
                    }
                }
            }
        }));
    }
    (tasks, clients)
}

async fn steady_writes(server: &TestServer, rate: u64, seconds: u64, prefix: &str) {
    let mut c = server.client().await;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticks = tokio::time::interval(interval);
    for i in 0..rate * seconds {
        ticks.tick().await;
        c.create_organization(CreateOrganizationRequest {
            organization_id: format!("{prefix}-{i}"),
            organization: Some(Organization {
                display_name: format!("{prefix} {i}"),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("write succeeds");
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(
    server: &TestServer,
    n: usize,
    rate: u64,
    seconds: u64,
    label: &str,
) -> (f64, f64, usize) {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (tasks, clients) = watchers(server, n, WatchRequest::default(), latencies.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    steady_writes(server, rate, seconds, label).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in &tasks {
        t.abort();
    }
    drop(clients);
    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort_by(f64::total_cmp);
    (percentile(&all, 0.5), percentile(&all, 0.99), all.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let n = env("WATCHERS", 1000) as usize;
    let rate = env("RATE", 50);
    let seconds = env("SECONDS", 10);
    let started = Instant::now();
    let server = TestServer::start().await;
    println!("watch_fanout: {n} watchers, {rate} writes/s for {seconds} s, one replica");

    // Memory per idle watcher, first, on a fresh server: watches that
    // match nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.memory_kib("VmRSS");
    let idle = WatchRequest {
        resource_types: vec![ResourceType::Disclosure as i32],
        ..Default::default()
    };
    let (tasks, clients) = watchers(&server, n, idle, Arc::new(Mutex::new(Vec::new()))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.memory_kib("VmRSS");
    let per = (after.saturating_sub(before) as f64 * 1024.0) / n as f64;
    println!(
        "memory: server RSS {before} KiB -> {after} KiB with {n} idle watches: {per:.0} bytes per idle watcher"
    );
    for t in tasks {
        t.abort();
    }
    drop(clients);

    // Baseline and subject in the same run, same server, same rate.
    let (b50, b99, bn) = measure(&server, 1, rate, seconds, "base").await;
    let (p50, p99, pn) = measure(&server, n, rate, seconds, "fan").await;
    println!("baseline  1 watcher : p50 {b50:.2} ms  p99 {b99:.2} ms  ({bn} deliveries)");
    println!("subject {n:>4} watchers: p50 {p50:.2} ms  p99 {p99:.2} ms  ({pn} deliveries)");
    println!(
        "ratio (subject / baseline): p50 {:.2}x  p99 {:.2}x",
        p50 / b50,
        p99 / b99
    );

    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
