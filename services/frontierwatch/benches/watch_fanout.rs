//! Change-stream benchmark, kept apart from the tests:
//!
//! - commit-to-delivery latency (p50, p99) with 1,000 concurrent watchers on
//!   one replica at a steady write rate, against a baseline of 1 watcher at
//!   the same rate in the same run, reported as a ratio;
//! - the server's memory per idle watcher (resident set growth while 1,000
//!   idle watches are open, divided by 1,000);
//! - the shape real subscribers have: FILTERED watchers (10,000) each
//!   filtered to one of BENCHMARKS benchmarks (1,000), plus FIREHOSE
//!   unfiltered ones (100), at FILTERED_RATE result creates per second
//!   (1,000) from WRITERS concurrent writers (16): commit-to-delivery p50
//!   and p99 over every delivery, memory per watcher, and the server's CPU
//!   per committed event, side by side with the same run plus as many
//!   watchers again filtered to benchmarks nobody writes (the ratio is 1.0
//!   when watchers an event does not concern cost it nothing).
//!
//! Run: `cargo bench -p frontierwatch-server --bench watch_fanout`
//! (environment: WATCHERS, RATE per second, SECONDS, and the names above;
//! SHAPE=firehose or SHAPE=filtered runs one part only).

#[path = "../../../tests/api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
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
    open_all(server, vec![request; n], latencies).await
}

/// Opens watches, one per request, spread over connections of 100 streams.
async fn open_all(
    server: &TestServer,
    requests: Vec<WatchRequest>,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> (Vec<tokio::task::JoinHandle<()>>, Vec<Client>) {
    let n = requests.len();
    let mut clients = Vec::new();
    for _ in 0..n.div_ceil(100) {
        clients.push(server.client().await);
    }
    let mut tasks = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        let mut client = clients[i / 100].clone();
        let mut stream = client
            .watch(request)
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

/// The server's CPU time so far (user and system), in seconds.
fn cpu_seconds(server: &TestServer) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid())).unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), in USER_HZ (100).
    (ticks(11) + ticks(12)) / 100.0
}

/// Result creates at `rate` per second for `seconds`, spread over
/// `writers` concurrent clients, each on one of `benchmarks` benchmarks.
async fn paced_results(
    server: &TestServer,
    rate: u64,
    seconds: u64,
    writers: u64,
    benchmarks: u64,
    label: &str,
) -> u64 {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut c = server.client().await;
        let label = label.to_owned();
        tasks.push(tokio::spawn(async move {
            let each = rate * seconds / writers;
            let mut ticks =
                tokio::time::interval(Duration::from_secs_f64(writers as f64 / rate as f64));
            for i in 0..each {
                ticks.tick().await;
                let n = i * writers + w;
                c.create_benchmark_result(CreateBenchmarkResultRequest {
                    benchmark_result_id: format!("{label}-{n}"),
                    benchmark_result: Some(fixtures::result(
                        "models/line/releases/v1",
                        &format!("benchmarks/b{}", n % benchmarks),
                        (n % 100) as f64,
                    )),
                    request_id: String::new(),
                })
                .await
                .expect("a result is created");
            }
            each
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap_or(0);
    }
    written
}

/// The filtered shape, and the same with idle watchers added.
async fn filtered_shape(server: &TestServer) {
    let benchmarks = env("BENCHMARKS", 1000);
    let filtered = env("FILTERED", 10_000) as usize;
    let firehose = env("FIREHOSE", 100) as usize;
    let rate = env("FILTERED_RATE", 1000);
    let seconds = env("SECONDS", 10);
    let writers = env("WRITERS", 16);
    println!(
        "filtered shape: {filtered} watchers over {benchmarks} benchmarks + {firehose} firehose, \
         {rate} result creates/s from {writers} writers for {seconds} s"
    );
    let mut c = server.client().await;
    c.create_organization(CreateOrganizationRequest {
        organization_id: "lab".into(),
        organization: Some(Organization {
            display_name: "Lab".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .expect("an organization");
    c.create_model(CreateModelRequest {
        model_id: "line".into(),
        model: Some(Model {
            display_name: "Line".into(),
            developers: vec!["organizations/lab".into()],
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .expect("a model");
    fixtures::create_release(&mut c, "line", "v1", fixtures::release("Line v1")).await;
    for b in 0..benchmarks {
        c.create_benchmark(CreateBenchmarkRequest {
            benchmark_id: format!("b{b}"),
            benchmark: Some(Benchmark {
                display_name: format!("B{b}"),
                scale: ScoreScale::Percent as i32,
                direction: ScoreDirection::HigherIsBetter as i32,
                category: "coding".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("a benchmark");
    }
    let mut rows = Vec::new();
    for (label, idle) in [("shape", 0), ("shape + idle", filtered)] {
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let mut requests: Vec<WatchRequest> =
            (0..firehose).map(|_| WatchRequest::default()).collect();
        requests.extend((0..filtered).map(|i| WatchRequest {
            benchmark: format!("benchmarks/b{}", i as u64 % benchmarks),
            ..Default::default()
        }));
        requests.extend((0..idle).map(|i| WatchRequest {
            benchmark: format!("benchmarks/idle-{i}"),
            ..Default::default()
        }));
        let watches = requests.len();
        let before = server.memory_kib("VmRSS");
        let (tasks, clients) = open_all(server, requests, latencies.clone()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = server.memory_kib("VmRSS");
        let cpu = cpu_seconds(server);
        let tag = if idle == 0 { "s" } else { "i" };
        let written = paced_results(server, rate, seconds, writers, benchmarks, tag).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cpu = cpu_seconds(server) - cpu;
        for t in &tasks {
            t.abort();
        }
        drop(clients);
        let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
        all.sort_by(f64::total_cmp);
        let per_watch = after.saturating_sub(before) as f64 * 1024.0 / watches as f64;
        println!(
            "{label}: {watches} watches, {written} events, {} deliveries: p50 {:.2} ms p99 {:.2} ms; \
             server CPU {:.0} us per event; {:.0} bytes per open watch",
            all.len(),
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            cpu * 1e6 / written as f64,
            per_watch
        );
        rows.push(cpu * 1e6 / written as f64);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "ratio of server CPU per event (with {filtered} idle watchers added / without): {:.2}x",
        rows[1] / rows[0]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let shape = std::env::var("SHAPE").unwrap_or_default();
    if shape != "firehose" {
        // Room for the shape and as many idle watchers again, all under
        // the harness's one token.
        let server = TestServer::start_with(harness::ServerOptions {
            env: vec![
                ("FRONTIERWATCH_MAX_WATCHES".into(), "50000".into()),
                ("FRONTIERWATCH_MAX_WATCHES_PER_TOKEN".into(), "50000".into()),
            ],
            ..Default::default()
        })
        .await
        .expect("the server starts");
        filtered_shape(&server).await;
        if shape == "filtered" {
            return;
        }
    }
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
