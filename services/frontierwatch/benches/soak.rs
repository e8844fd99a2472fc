//! The soak: a fixed mix at a fixed rate for a long time, with open
//! watches, reported minute by minute.
//!
//! First `SOAK_PREFILL` organizations (default 250,000) are imported, so
//! that the soak runs on a database larger than PostgreSQL's shared
//! buffers, as a service in use does, and `SOAK_WATCHERS` (50) unfiltered
//! watches open, each counting every event. Then the mix runs closed-loop
//! for 10 s to measure its peak under those conditions, then paced at 70%
//! of that peak (or `SOAK_RATE` operations per second) for `SOAK_MINUTES`
//! (default 30) from `SOAK_CLIENTS` clients (16). The mix, per operation:
//! 30% creates, 20% updates with the etag last seen, 10% deletes with it,
//! 25% Gets, 15% Lists of 50.
//!
//! The report (`soak.md` in `LOAD_REPORT_DIR`, default
//! `services/frontierwatch/benches/report`) gives, per minute, the rate
//! held, p50 and p99, errors, the server's and PostgreSQL's CPU per
//! operation, the server's resident memory, the database's size,
//! PostgreSQL's checkpoints, autovacuum runs and sessions opened, and the
//! baseline: the latency of a bare commit (an autocommit INSERT of one row
//! into a table of its own, 20 a second on a connection of its own, past
//! the server), which no write can beat and which moves with the machine's
//! disk; then the drift between the first and the last window (5 minutes,
//! or a third of a shorter run), overall, by operation and of that
//! baseline, and whether every watcher received every acknowledged write
//! exactly once.
//!
//! Run: `cargo bench -p frontierwatch-server --bench soak`.

#[path = "support/cpu.rs"]
#[allow(dead_code)]
mod cpu;
#[path = "../../../tests/api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
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

/// The operations of the mix, in the order of `OPS`.
const OPS: [&str; 5] = ["create", "update", "delete", "get", "list of 50"];

/// What one client did in one minute.
#[derive(Default)]
struct Minute {
    ops: u64,
    errors: u64,
    writes: u64,
    /// Latencies by operation (indexed as `OPS`).
    by_op: [Vec<u32>; OPS.len()],
}

/// What the sampler reads at each minute's end.
struct Sample {
    server_cpu: f64,
    postgres_cpu: f64,
    rss_kib: u64,
    database_bytes: i64,
    checkpoints: i64,
    /// Autovacuum and autoanalyze runs so far, over every table.
    autovacuums: i64,
    /// Sessions the database has opened so far (pool connections made).
    sessions: i64,
}

/// The baseline's period: one bare commit every 50 ms.
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// One minute of the report: ops/s, p99 ms, server and PostgreSQL CPU
/// ms per op, server RSS MiB, the baseline's p99 ms.
type Row = (f64, f64, f64, f64, f64, f64);

/// A line of the drift table: its label, what it measures, its goal.
type Goal = (&'static str, fn(&Row) -> f64, &'static str);

/// One client's own resources: name and last etag, oldest first.
type Owned = VecDeque<(String, String)>;

/// Which operation of the mix `pick` selects (its index in `OPS`).
fn op_of(pick: u64, owned: &Owned) -> usize {
    match pick % 100 {
        _ if owned.is_empty() => 0,
        0..30 => 0,
        30..50 => 1,
        50..60 => 2,
        60..85 => 3,
        _ => 4,
    }
}

/// Runs operation `op` (`op_of(pick, owned)`) of the mix; returns
/// whether it wrote.
async fn one(
    c: &mut Client,
    owned: &mut Owned,
    id: &str,
    op: usize,
    pick: u64,
) -> Result<bool, tonic::Status> {
    if op == 0 {
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
    match op {
        1 => {
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
        2 => {
            let (name, etag) = owned.pop_front().unwrap_or_default();
            c.delete_organization(DeleteOrganizationRequest { name, etag })
                .await?;
            Ok(true)
        }
        3 => {
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
                let pick = next(&mut state);
                let op = op_of(pick, &owned);
                let outcome = one(&mut c, &mut owned, &id, op, pick).await;
                let micros = u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX);
                let minute = (started.elapsed().as_secs() / 60) as usize;
                let mut stats = stats.lock().await;
                let Some(m) = stats.get_mut(minute.min(minutes - 1)) else {
                    continue;
                };
                m.ops += 1;
                m.by_op[op].push(micros);
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

    // The database of a service in use: `SOAK_PREFILL` organizations
    // imported (then vacuumed, as autovacuum would have, and checkpointed)
    // before anything is measured. From an empty database, the first
    // minutes ran while every table still fit in PostgreSQL's shared
    // buffers (128 MiB), and cost it less per operation than every later
    // minute (the report's database size per minute shows where it
    // crossed).
    let prefill = env("SOAK_PREFILL", 250_000);
    let mut c = server.client().await;
    for start in (0..prefill).step_by(1000) {
        let items = (start..(start + 1000).min(prefill))
            .map(|i| fixtures::org_import_item(i as i64, &format!("prefill-{i}")))
            .collect();
        c.import_resources(ImportResourcesRequest {
            items,
            source: None,
        })
        .await
        .expect("a prefill batch imports");
    }
    let pool = server.pool().await;
    for maintenance in ["VACUUM ANALYZE", "CHECKPOINT"] {
        sqlx::query(maintenance)
            .execute(&pool)
            .await
            .expect("the prefilled database is vacuumed and checkpointed");
    }
    let prefilled_mib = {
        let (size,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await
            .expect("the database's size");
        size as f64 / 1048576.0
    };
    eprintln!("soak: prefilled {prefill} organizations, {prefilled_mib:.0} MiB");

    // The watches: each counts events and checks they only go forward.
    let head: i64 = {
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

    // The peak of the mix, closed-loop, with the watches open: the
    // conditions the soak runs under.
    let peak_run = run(&server, clients, 0, Duration::from_secs(10), "peak").await;
    let peak: u64 = peak_run.iter().map(|m| m.ops).sum::<u64>() / 10;
    let peak_writes: u64 = peak_run.iter().map(|m| m.writes).sum();
    let rate = env("SOAK_RATE", peak * 7 / 10);
    eprintln!("soak: peak {peak} ops/s; {rate} ops/s for {minutes} min");

    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut every = tokio::time::interval(Duration::from_secs(60));
        // PostgreSQL's processes come and go; what one used before it
        // exited is in the postmaster's children's time (`cpu::Cpu`).
        loop {
            every.tick().await;
            // The database's size and the checkpoints so far: what grows
            // under the mix, and what PostgreSQL does on a timer.
            // Also autovacuum's runs and the sessions opened: what could
            // run in some minutes and not others.
            let (size, checkpoints, autovacuums, sessions): (i64, i64, i64, i64) = sqlx::query_as(
                "SELECT pg_database_size(current_database()), \
                            (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter), \
                            (SELECT COALESCE(sum(autovacuum_count + autoanalyze_count), 0)::int8 \
                               FROM pg_stat_all_tables), \
                            (SELECT sessions FROM pg_stat_database \
                              WHERE datname = current_database())",
            )
            .fetch_one(&pool)
            .await
            .unwrap_or_default();
            let cpu = cpu::Cpu::now(server_pid);
            samples.push(Sample {
                server_cpu: cpu.server,
                postgres_cpu: cpu.postgres,
                rss_kib: harness_rss(server_pid),
                database_bytes: size,
                checkpoints,
                autovacuums,
                sessions,
            });
            if samples.len() > minutes as usize {
                return samples;
            }
        }
    });
    let probe = tokio::spawn(probe(server.pool().await, minutes));
    let stats = run(
        &server,
        clients,
        rate,
        Duration::from_secs(minutes * 60),
        "soak",
    )
    .await;
    let samples = sampler.await.unwrap_or_default();
    let probes = probe.await.unwrap_or_default();
    // The watches saw the peak's writes too.
    let acknowledged: u64 = peak_writes + stats.iter().map(|m| m.writes).sum::<u64>();
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
        "Written by `cargo bench -p frontierwatch-server --bench soak` on {} ({minutes} min at {rate} ops/s = 70% of the mix's peak of {peak} ops/s, measured for 10 s with the watches open; {clients} clients, {watches} watches; on a database prefilled with {prefill} organizations, {prefilled_mib:.0} MiB; release build, 2 cores, PostgreSQL 15 with fsync on and its default 128 MiB of shared buffers, all on one machine).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(
        md,
        "The mix: 30% CreateOrganization, 20% UpdateOrganization with the last etag, 10% DeleteOrganization with it, 25% GetOrganization, 15% ListOrganizations of 50.\n"
    );
    let _ = writeln!(
        md,
        "| minute | ops/s | p50 ms | p99 ms | errors | server CPU ms/op | PostgreSQL CPU ms/op | server RSS MiB | database MiB | checkpoints | autovacuums | sessions opened | bare commit p50 ms | bare commit p99 ms |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    // Each minute's p50, and the baseline's.
    let mut medians = Vec::new();
    for (i, m) in stats.iter().enumerate() {
        let mut l = m.by_op.concat();
        l.sort_unstable();
        let cpu = |f: fn(&Sample) -> f64| match (samples.get(i), samples.get(i + 1)) {
            (Some(a), Some(b)) if m.ops > 0 => (f(b) - f(a)) * 1e3 / m.ops as f64,
            _ => f64::NAN,
        };
        let server_cpu = cpu(|s| s.server_cpu);
        let pg_cpu = cpu(|s| s.postgres_cpu);
        let rss = samples.get(i + 1).map_or(0, |s| s.rss_kib) as f64 / 1024.0;
        let database_mib = samples.get(i + 1).map_or(0, |s| s.database_bytes) as f64 / 1048576.0;
        let counted = |f: fn(&Sample) -> i64| match (samples.get(i), samples.get(i + 1)) {
            (Some(a), Some(b)) => f(b) - f(a),
            _ => 0,
        };
        let baseline = probes.get(i).map_or(&[][..], Vec::as_slice);
        let (p50, baseline_p50) = (percentile_ms(&l, 0.5), percentile_ms(baseline, 0.5));
        let row = (
            m.ops as f64 / 60.0,
            percentile_ms(&l, 0.99),
            server_cpu,
            pg_cpu,
            rss,
            percentile_ms(baseline, 0.99),
        );
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.3} | {:.3} | {:.1} | {:.0} | {} | {} | {} | {:.2} | {:.2} |",
            i + 1,
            row.0,
            p50,
            row.1,
            m.errors,
            server_cpu,
            pg_cpu,
            rss,
            database_mib,
            counted(|s| s.checkpoints),
            counted(|s| s.autovacuums),
            counted(|s| s.sessions),
            baseline_p50,
            row.5,
        );
        rows.push(row);
        medians.push((p50, baseline_p50));
    }
    let window = ((minutes / 3).clamp(1, 5)) as usize;
    let mean = |rows: &[Row], f: fn(&Row) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    // The first and the last window's minutes (rows and stats alike).
    let (first_minutes, last_minutes) = (
        0..window.min(rows.len()),
        rows.len().saturating_sub(window)..rows.len(),
    );
    let (first, last) = (&rows[first_minutes.clone()], &rows[last_minutes.clone()]);
    let drift = |f: fn(&Row) -> f64| (mean(last, f) / mean(first, f) - 1.0) * 100.0;
    let errors: u64 = stats.iter().map(|m| m.errors).sum();
    let _ = writeln!(md, "\n## First {window} min against last {window} min\n");
    let _ = writeln!(md, "| measure | first | last | drift | goal |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    let goals: [Goal; 6] = [
        ("ops/s held", |r| r.0, "the rate"),
        ("p99 ms", |r| r.1, "< 10%"),
        ("server CPU ms/op", |r| r.2, "flat"),
        ("PostgreSQL CPU ms/op", |r| r.3, "flat"),
        ("server RSS MiB", |r| r.4, "flat"),
        (
            "baseline: bare commit p99 ms",
            |r| r.5,
            "none (the machine's own)",
        ),
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
    let p99s: Vec<(f64, f64)> = rows.iter().map(|r| (r.1, r.5)).collect();
    let _ = writeln!(
        md,
        "\nHow the minutes move with the baseline (Pearson correlation over the {} minutes): p50 with the bare commit's p50 r = {:.2}; p99 with its p99 r = {:.2}.",
        rows.len(),
        correlation(&medians),
        correlation(&p99s),
    );
    let _ = writeln!(
        md,
        "\nBy operation (p50 and p99 over each window's calls):\n\n| operation | first p50 ms | last p50 ms | first p99 ms | last p99 ms | p99 drift |\n|---|---|---|---|---|---|"
    );
    let pooled = |minutes: std::ops::Range<usize>, op: usize| {
        let mut l: Vec<u32> = stats[minutes]
            .iter()
            .flat_map(|m| m.by_op[op].iter().copied())
            .collect();
        l.sort_unstable();
        (percentile_ms(&l, 0.5), percentile_ms(&l, 0.99))
    };
    for (op, label) in OPS.iter().enumerate() {
        let (a50, a99) = pooled(first_minutes.clone(), op);
        let (b50, b99) = pooled(last_minutes.clone(), op);
        let _ = writeln!(
            md,
            "| {label} | {a50:.2} | {b50:.2} | {a99:.2} | {b99:.2} | {:+.1}% |",
            (b99 / a99 - 1.0) * 100.0
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

/// The baseline: for `minutes`, a bare commit (an autocommit INSERT of one
/// row into a table of its own) every [`PROBE_EVERY`] on a connection of
/// its own; the latencies in µs, by minute, each minute's sorted.
async fn probe(pool: sqlx::PgPool, minutes: u64) -> Vec<Vec<u32>> {
    let mut by_minute = vec![Vec::new(); minutes as usize];
    let Ok(mut conn) = pool.acquire().await else {
        return by_minute;
    };
    if sqlx::query(
        "CREATE TABLE IF NOT EXISTS soak_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .is_err()
    {
        return by_minute;
    }
    let started = Instant::now();
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let minute = (started.elapsed().as_secs() / 60) as usize;
        let Some(latencies) = by_minute.get_mut(minute) else {
            break;
        };
        let at = Instant::now();
        if sqlx::query("INSERT INTO soak_probe (at) VALUES (now())")
            .execute(&mut *conn)
            .await
            .is_ok()
        {
            latencies.push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
    for latencies in &mut by_minute {
        latencies.sort_unstable();
    }
    by_minute
}

/// The Pearson correlation of the pairs' two values (NaN with fewer than
/// two pairs or no spread).
fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (a, b) in pairs {
        ab += (a - ma) * (b - mb);
        aa += (a - ma) * (a - ma);
        bb += (b - mb) * (b - mb);
    }
    ab / (aa * bb).sqrt()
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
