//! Export benchmark, kept apart from the tests: with RESULTS benchmark
//! results (1,000,000 by default, each a whole resource as an import
//! writes it: name, release, benchmark, score, raw value, settings, dates,
//! evaluator, verification, two sources) loaded straight into the table,
//! measures `fwatch export results` to CSV (the goal: at least
//! 0.3× the rate of `COPY ... TO` of the same rows), JSON Lines and
//! Parquet, beside `COPY (SELECT * FROM resources WHERE kind =
//! 'benchmark_result' ORDER BY name) TO STDOUT (FORMAT csv)` written to a
//! file in the same run, interleaved, ROUNDS times; reports the median
//! rates, their ratio, the CPU each used per row, and fwatch's peak
//! memory (flat whatever the size: it writes each page as it comes).
//!
//! Run: `cargo bench -p frontierwatch-server --bench export`
//! (environment: RESULTS, RELEASES, ROUNDS).

#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "support/stats.rs"]
#[allow(dead_code)]
mod stats;

#[path = "support/cpu.rs"]
#[allow(dead_code)]
mod cpu;

use std::io::Write as _;
use std::process::Command;
use std::time::Instant;

use frontierwatch_proto::v1::*;
use harness::TestServer;
use prost::Message as _;
use stats::env;

/// Loads `count` results across `releases` releases and 50 benchmarks.
async fn load(pool: &sqlx::PgPool, count: i64, releases: i64) {
    let now = chrono::Utc::now();
    let stamp = prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: 0,
    };
    for start in (0..count).step_by(20_000) {
        let mut names = Vec::new();
        let mut release_of = Vec::new();
        let mut benchmark_of = Vec::new();
        let mut scores = Vec::new();
        let mut data = Vec::new();
        for i in start..(start + 20_000).min(count) {
            let release = format!("models/m{}/releases/r{}", i % releases % 1000, i % releases);
            let benchmark = format!("benchmarks/b{}", i % 50);
            let score = (i * 7919 % 1000) as f64 / 10.0;
            let result = BenchmarkResult {
                name: format!("benchmarkResults/x{i:08}"),
                release: release.clone(),
                benchmark: benchmark.clone(),
                score,
                raw_value: format!("{score}%"),
                settings: Some(EvaluationSettings {
                    shots: Some((i % 6) as i32),
                    chain_of_thought: Some(i % 2 == 0),
                    ..Default::default()
                }),
                standard_error: (i % 3 == 0).then_some(0.4),
                evaluator: "organizations/o1".into(),
                evaluator_relation: EvaluatorRelation::FirstParty as i32,
                verification: VerificationStatus::SelfReported as i32,
                publish_date: Some(Date {
                    year: 2024 + (i % 2) as i32,
                    month: 1 + (i % 12) as i32,
                    day: 1 + (i % 28) as i32,
                }),
                provenance: Some(Provenance {
                    sources: vec![
                        Source {
                            uri: format!("https://example.com/paper/{}", i % 5000),
                            publisher: "Bench".into(),
                            kind: SourceKind::Paper as i32,
                            ..Default::default()
                        },
                        Source {
                            uri: "https://example.com/dataset".into(),
                            publisher: "Bench dataset".into(),
                            kind: SourceKind::Dataset as i32,
                            ..Default::default()
                        },
                    ],
                }),
                create_time: Some(stamp),
                update_time: Some(stamp),
                etag: format!("{i:016x}"),
                ..Default::default()
            };
            names.push(result.name.clone());
            release_of.push(release);
            benchmark_of.push(benchmark);
            scores.push(score);
            data.push(result.encode_to_vec());
        }
        sqlx::query(
            "INSERT INTO resources (name, kind, release, benchmark, score, data, etag, typed_etag, create_time, update_time) \
             SELECT n, 'benchmark_result', r, b, s, d, 'e', 'e', now(), now() \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::bytea[]) AS u(n, r, b, s, d)",
        )
        .bind(names)
        .bind(release_of)
        .bind(benchmark_of)
        .bind(scores)
        .bind(data)
        .execute(pool)
        .await
        .expect("bulk load");
    }
    sqlx::query("VACUUM ANALYZE resources")
        .execute(pool)
        .await
        .expect("analyze");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `command` to its end: whether it succeeded, what it printed on
/// standard error, and its own peak resident memory in MiB (`wait4`'s
/// accounting of that one process).
#[allow(clippy::zombie_processes, reason = "wait4 reaps it, for its usage")]
fn run_measured(command: &mut Command) -> (bool, String, f64) {
    use std::io::Read as _;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fwatch runs");
    let mut said = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut said)
        .expect("stderr");
    let mut status = 0;
    // SAFETY: wait4 reaps this child (std's handle is not waited on after)
    // and writes its status and usage into the locals it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, said, usage.ru_maxrss as f64 / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let result_count = env("RESULTS", 1_000_000) as i64;
    let releases = env("RELEASES", 10_000) as i64;
    let rounds = env("ROUNDS", 3) as usize;
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let loading = Instant::now();
    load(&pool, result_count, releases).await;
    eprintln!(
        "loaded {result_count} results in {:.0} s",
        loading.elapsed().as_secs_f64()
    );
    let fwatch = harness::fwatch();
    let dir = std::env::temp_dir().join(format!("fw-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let server_pid = server.pid();

    #[allow(clippy::type_complexity)]
    let mut rates: Vec<(&str, Vec<f64>, Vec<cpu::Used>, f64)> = ["COPY", "csv", "jsonl", "parquet"]
        .iter()
        .map(|label| (*label, Vec::new(), Vec::new(), 0.0))
        .collect();
    for round in 0..rounds {
        for (label, round_rates, used, peak) in rates.iter_mut() {
            let before = cpu::Cpu::now(server_pid);
            let started = Instant::now();
            let rows = if *label == "COPY" {
                let mut connection = pool.acquire().await.expect("connection");
                let mut out = std::io::BufWriter::new(
                    std::fs::File::create(dir.join("copy.csv")).expect("copy file"),
                );
                let mut stream = connection
                    .copy_out_raw(
                        "COPY (SELECT * FROM resources WHERE kind = 'benchmark_result' ORDER BY name) TO STDOUT (FORMAT csv)",
                    )
                    .await
                    .expect("copy");
                let mut lines = 0_usize;
                use tokio_stream::StreamExt as _;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.expect("copy chunk");
                    lines += chunk.iter().filter(|b| **b == b'\n').count();
                    out.write_all(&chunk).expect("copy write");
                }
                out.flush().expect("copy flush");
                lines
            } else {
                let to = dir.join(format!("results.{label}"));
                let (ok, said, rss) = run_measured(
                    Command::new(&fwatch)
                        .args(["--server", &format!("http://{}", server.addr)])
                        .args(["--token", &server.token])
                        .args(["export", "results", "--to"])
                        .arg(&to),
                );
                assert!(ok, "{said}");
                *peak = peak.max(rss);
                said.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .expect("fwatch says how many it exported")
            };
            let seconds = started.elapsed().as_secs_f64();
            used.push(cpu::Cpu::now(server_pid).since(&before));
            assert_eq!(rows as i64, result_count, "{label} wrote every row");
            round_rates.push(rows as f64 / seconds);
            eprintln!("round {round}: {label} {:.0} rows/s", rows as f64 / seconds);
        }
    }
    let copy = median(rates[0].1.clone());
    println!("export of {result_count} results (median of {rounds} rounds)");
    println!(
        "| path | rows/s | ratio to COPY (rounds) | CPU µs/row: server / PostgreSQL / fwatch | fwatch peak RSS MiB |"
    );
    println!("|---|---|---|---|---|");
    for (label, round_rates, used, peak) in &rates {
        let rate = median(round_rates.clone());
        let each: Vec<String> = round_rates
            .iter()
            .zip(&rates[0].1)
            .map(|(r, c)| format!("{:.2}", r / c))
            .collect();
        let (server, postgres, client, _) =
            cpu::Used::sum(used).per_op_us((result_count as usize * used.len()) as f64);
        println!(
            "| {label} | {rate:.0} | {:.2}× ({}) | {server:.1} / {postgres:.1} / {client:.1} | {peak:.0} |",
            rate / copy,
            each.join(", ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
