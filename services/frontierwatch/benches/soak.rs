//! The soak: a fixed mix at a fixed rate for a long time, with open
//! watches, reported minute by minute.
//!
//! First the mix runs closed-loop for 10 s to measure its peak; then it
//! runs paced at 70% of that peak (or `SOAK_RATE` operations per second)
//! for `SOAK_MINUTES` (default 30) from `SOAK_CLIENTS` clients (16), while
//! `SOAK_WATCHERS` (50) unfiltered watches count every event. The mix, per
//! operation: 30% creates, 20% updates with the etag last seen, 10%
//! deletes with it, 25% Gets, 15% Lists of 50.
//!
//! The report (`soak.md` in `LOAD_REPORT_DIR`, default
//! `services/frontierwatch/benches/report`) gives, per minute, the rate
//! held, p50 and p99, errors, the server's and PostgreSQL's CPU per
//! operation and the server's resident memory; then the drift between the
//! first and the last window (5 minutes, or a third of a shorter run), and
//! whether every watcher received every acknowledged write exactly once.
//!
//! Run: `cargo bench -p frontierwatch-server --bench soak`.

#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use frontierwatch_proto::v1::*;
use prost_types::FieldMask;
use tokio::sync::Mutex;
use tokio_stream::StreamExt as _;

use harness::{Client, TestServer};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user and system) of the processes `keep` selects, with
/// those of their children that have exited, from /proc (utime, stime,
/// cutime and cstime, fields 14 to 17 of stat(5), in USER_HZ = 100). A
/// PostgreSQL backend that exits (the pool recycles its connections after
/// sqlx's 30-minute lifetime; autovacuum workers come and go) moves into
/// the postmaster's cutime, so the sum over PostgreSQL's processes only
/// grows.
fn cpu_seconds(keep: impl Fn(u32, &str) -> bool) -> f64 {
    let mut total = 0.0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        if !keep(pid, comm) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        total += (tick(11) + tick(12) + tick(13) + tick(14)) / 100.0;
    }
    total
}

/// What one client did in one minute.
#[derive(Default)]
struct Minute {
    ops: u64,
    errors: u64,
    writes: u64,
    latencies: Vec<u32>,
}

/// One minute of the report: ops/s, p99 ms, server and PostgreSQL CPU
/// ms per op, server RSS MiB.
type Row = (f64, f64, f64, f64, f64);

/// A line of the drift table: its label, what it measures, its goal.
type Goal = (&'static str, fn(&Row) -> f64, &'static str);

/// One client's own resources: name and last etag, oldest first.
type Owned = VecDeque<(String, String)>;

/// Runs one operation of the mix; returns whether it wrote.
async fn one(
    c: &mut Client,
    owned: &mut Owned,
    id: &str,
    pick: u64,
) -> Result<bool, tonic::Status> {
    let slot = pick % 100;
    if slot < 30 || owned.is_empty() {
        let org = c
            .create_organization(CreateOrganizationRequest {
                organization_id: id.to_owned(),
                organization: Some(Organization {
                    display_name: format!("Soak {id}"),
                    country: "US".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await?
            .into_inner();
        owned.push_back((org.name, org.etag));
        return Ok(true);
    }
    let index = (pick / 100) as usize % owned.len();
    match slot {
        30..50 => {
            let (name, etag) = owned[index].clone();
            let org = c
                .update_organization(UpdateOrganizationRequest {
                    organization: Some(Organization {
                        name,
                        display_name: format!("Soak {id} updated"),
                        etag,
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["display_name".into()],
                    }),
                })
                .await?
                .into_inner();
            owned[index].1 = org.etag;
            Ok(true)
        }
        50..60 => {
            let (name, etag) = owned.pop_front().unwrap_or_default();
            c.delete_organization(DeleteOrganizationRequest { name, etag })
                .await?;
            Ok(true)
        }
        60..85 => {
            c.get_organization(GetOrganizationRequest {
                name: owned[index].0.clone(),
            })
            .await?;
            Ok(false)
        }
        _ => {
            c.list_organizations(ListOrganizationsRequest {
                page_size: 50,
                ..Default::default()
            })
            .await?;
            Ok(false)
        }
    }
}

/// A small deterministic generator, so that every run has the same mix.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the mix from `clients` clients for `duration`, paced at `rate`
/// operations per second in all (closed-loop when `rate` is 0), minute by
/// minute.
async fn run(
    server: &TestServer,
    clients: u64,
    rate: u64,
    duration: Duration,
    prefix: &str,
) -> Vec<Minute> {
    let minutes = duration.as_secs().div_ceil(60).max(1) as usize;
    let stats: Arc<Mutex<Vec<Minute>>> = Arc::new(Mutex::new(
        (0..minutes).map(|_| Minute::default()).collect(),
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let mut c = server.client().await;
        let stats = stats.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut owned = Owned::new();
            let mut state = 0x9e37_79b9_7f4a_7c15 ^ (k + 1);
            let mut ticks = (rate > 0).then(|| {
                let mut t =
                    tokio::time::interval(Duration::from_secs_f64(clients as f64 / rate as f64));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            let mut i = 0u64;
            while started.elapsed() < duration {
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                let at = Instant::now();
                let id = format!("{prefix}-{k}-{i}");
                i += 1;
                let outcome = one(&mut c, &mut owned, &id, next(&mut state)).await;
                let micros = u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX);
                let minute = (started.elapsed().as_secs() / 60) as usize;
                let mut stats = stats.lock().await;
                let Some(m) = stats.get_mut(minute.min(minutes - 1)) else {
                    continue;
                };
                m.ops += 1;
                m.latencies.push(micros);
                match outcome {
                    Ok(true) => m.writes += 1,
                    Ok(false) => {}
                    Err(status) => {
                        m.errors += 1;
                        eprintln!("soak: {status:?}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut stats = stats.lock().await;
    std::mem::take(&mut *stats)
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    f64::from(sorted[((sorted.len() - 1) as f64 * p).round() as usize]) / 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes = env("SOAK_MINUTES", 30);
    let clients = env("SOAK_CLIENTS", 16);
    let watches = env("SOAK_WATCHERS", 50);
    let report_dir = std::env::var_os("LOAD_REPORT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/report"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&report_dir).expect("the report directory");
    let server = TestServer::start().await;
    let server_pid = server.pid();

    // The peak of the mix, closed-loop.
    let peak: u64 = run(&server, clients, 0, Duration::from_secs(10), "peak")
        .await
        .iter()
        .map(|m| m.ops)
        .sum::<u64>()
        / 10;
    let rate = env("SOAK_RATE", peak * 7 / 10);
    eprintln!("soak: peak {peak} ops/s; {rate} ops/s for {minutes} min");

    // The watches: each counts events and checks they only go forward.
    let mut c = server.client().await;
    let head: i64 = {
        let pool = server.pool().await;
        let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM changes")
            .fetch_one(&pool)
            .await
            .expect("the head");
        head.unwrap_or(0)
    };
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..watches).map(|_| AtomicU64::new(0)).collect());
    let disorder = Arc::new(AtomicU64::new(0));
    let mut watch_tasks = Vec::new();
    for w in 0..watches as usize {
        let mut stream = c
            .watch(WatchRequest {
                start_after_sequence: Some(head),
                ..Default::default()
            })
            .await
            .expect("a watch opens")
            .into_inner();
        let received = received.clone();
        let disorder = disorder.clone();
        watch_tasks.push(tokio::spawn(async move {
            let mut last = head;
            while let Some(Ok(message)) = stream.next().await {
                if let Some(watch_response::Kind::Transaction(t)) = message.kind {
                    for e in t.events {
                        if e.sequence <= last {
                            disorder.fetch_add(1, Ordering::Relaxed);
                        }
                        last = e.sequence;
                        received[w].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let is_postgres = |_: u32, comm: &str| comm == "postgres";
    let is_server = move |pid: u32, _: &str| pid == server_pid;
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut every = tokio::time::interval(Duration::from_secs(60));
        // PostgreSQL's processes come and go; what one used before it
        // exited is in the postmaster's children's time (`cpu_seconds`).
        loop {
            every.tick().await;
            samples.push((
                cpu_seconds(is_server),
                cpu_seconds(is_postgres),
                harness_rss(server_pid),
            ));
            if samples.len() > minutes as usize {
                return samples;
            }
        }
    });
    let stats = run(
        &server,
        clients,
        rate,
        Duration::from_secs(minutes * 60),
        "soak",
    )
    .await;
    let samples = sampler.await.unwrap_or_default();
    let acknowledged: u64 = stats.iter().map(|m| m.writes).sum();
    // Let the watchers drain.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && received
            .iter()
            .any(|r| r.load(Ordering::Relaxed) < acknowledged)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for t in &watch_tasks {
        t.abort();
    }
    let counts: Vec<u64> = received.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    let lost: u64 = counts.iter().map(|&n| acknowledged.saturating_sub(n)).sum();
    let extra: u64 = counts.iter().map(|&n| n.saturating_sub(acknowledged)).sum();

    let mut md = String::new();
    let _ = writeln!(md, "# Soak report\n");
    let _ = writeln!(
        md,
        "Written by `cargo bench -p frontierwatch-server --bench soak` on {} ({minutes} min at {rate} ops/s = 70% of the mix's measured peak of {peak} ops/s, {clients} clients, {watches} watches; release build, 2 cores, PostgreSQL 15 with fsync on, all on one machine).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(
        md,
        "The mix: 30% CreateOrganization, 20% UpdateOrganization with the last etag, 10% DeleteOrganization with it, 25% GetOrganization, 15% ListOrganizations of 50.\n"
    );
    let _ = writeln!(
        md,
        "| minute | ops/s | p50 ms | p99 ms | errors | server CPU ms/op | PostgreSQL CPU ms/op | server RSS MiB |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (i, m) in stats.iter().enumerate() {
        let mut l = m.latencies.clone();
        l.sort_unstable();
        let cpu = |f: fn(&(f64, f64, u64)) -> f64| match (samples.get(i), samples.get(i + 1)) {
            (Some(a), Some(b)) if m.ops > 0 => (f(b) - f(a)) * 1e3 / m.ops as f64,
            _ => f64::NAN,
        };
        let server_cpu = cpu(|s| s.0);
        let pg_cpu = cpu(|s| s.1);
        let rss = samples.get(i + 1).map_or(0, |s| s.2) as f64 / 1024.0;
        let row = (
            m.ops as f64 / 60.0,
            percentile_ms(&l, 0.99),
            server_cpu,
            pg_cpu,
            rss,
        );
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.3} | {:.3} | {:.1} |",
            i + 1,
            row.0,
            percentile_ms(&l, 0.5),
            row.1,
            m.errors,
            server_cpu,
            pg_cpu,
            rss
        );
        rows.push(row);
    }
    let window = ((minutes / 3).clamp(1, 5)) as usize;
    let mean = |rows: &[Row], f: fn(&Row) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    let first = &rows[..window.min(rows.len())];
    let last = &rows[rows.len().saturating_sub(window)..];
    let drift =
        |f: fn(&(f64, f64, f64, f64, f64)) -> f64| (mean(last, f) / mean(first, f) - 1.0) * 100.0;
    let errors: u64 = stats.iter().map(|m| m.errors).sum();
    let _ = writeln!(md, "\n## First {window} min against last {window} min\n");
    let _ = writeln!(md, "| measure | first | last | drift | goal |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    let goals: [Goal; 5] = [
        ("ops/s held", |r| r.0, "the rate"),
        ("p99 ms", |r| r.1, "< 10%"),
        ("server CPU ms/op", |r| r.2, "flat"),
        ("PostgreSQL CPU ms/op", |r| r.3, "flat"),
        ("server RSS MiB", |r| r.4, "flat"),
    ];
    for (label, f, goal) in goals {
        let _ = writeln!(
            md,
            "| {label} | {:.2} | {:.2} | {:+.1}% | {goal} |",
            mean(first, f),
            mean(last, f),
            drift(f)
        );
    }
    let _ = writeln!(
        md,
        "\nErrors: {errors}. Acknowledged writes: {acknowledged}; each of the {watches} watchers received {}; events lost {lost}, extra {extra}, out of order {}.",
        if counts.iter().all(|&n| n == acknowledged) {
            "every one of them exactly once".to_owned()
        } else {
            format!("{counts:?}")
        },
        disorder.load(Ordering::Relaxed),
    );
    let path = report_dir.join("soak.md");
    std::fs::write(&path, &md).expect("the report is written");
    println!("{md}");
    eprintln!("soak: report in {}", path.display());
}

/// The server's resident memory in KiB.
fn harness_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
