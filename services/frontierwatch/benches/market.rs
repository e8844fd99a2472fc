//! Market benchmark, kept apart from the tests: beside the analytics
//! bench's 1,000,000 results across 10,000 releases, loads 10,000
//! offerings (one per release) and 1,000,000 measurements (100 per
//! offering over eight weeks), and measures:
//! - GetOfferingReport of an offering (a four-week window, by network) and
//!   of a release, and GetPriceFrontier, latency p50 and p99, beside a
//!   primary-key GetOffering through the same server in the same run,
//!   reported as ratios;
//! - measurement ingest through ImportResources (calls of 500 from
//!   INGEST_CLIENTS callers, 4 by default: as `fwatch import` sends them,
//!   four batches in flight) against COPY of the
//!   same rows into `resources` itself and into an empty table with the
//!   same indexes, interleaved, reported as ratios of rates.
//!
//! Run: `cargo bench -p frontierwatch-server --bench market`
//! (environment: RESULTS, RELEASES, MEASUREMENTS, CALLS, INGEST, ROUNDS,
//! INGEST_CLIENTS, PROFILE).

#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "support/results.rs"]
mod results;

#[path = "support/stats.rs"]
mod stats;

use stats::{env, percentiles};

#[path = "support/cpu.rs"]
#[allow(dead_code)]
mod cpu;

use std::time::Instant;

use frontierwatch_proto::v1::*;
use prost::Message as _;

use harness::TestServer;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// 2026-01-05T00:00:00Z, a Monday: the measurements span eight weeks from it.
const START: i64 = 1_767_571_200;
const WEEKS: i64 = 8;

fn source() -> Option<Provenance> {
    Some(Provenance {
        sources: vec![Source {
            uri: "https://example.com/probe".into(),
            publisher: "Bench".into(),
            kind: SourceKind::Dataset as i32,
            ..Default::default()
        }],
    })
}

fn release_of(i: i64, releases: i64) -> String {
    format!("models/m{}/releases/r{i}", i % (releases / 10) + 1)
}

fn offering(i: i64, releases: i64, rng: &mut fastrand::Rng) -> Offering {
    let cents = |rng: &mut fastrand::Rng| {
        let c = rng.u32(1..5000);
        format!("{}.{:02}", c / 100, c % 100)
    };
    Offering {
        name: format!("offerings/o{i}"),
        release: release_of(i, releases),
        provider: format!("organizations/o{}", i % 100 + 1),
        provider_model_id: format!("model-{i}"),
        terms: vec![OfferingTerms {
            effective_date: Some(Date {
                year: 2025,
                month: 1,
                day: 1,
            }),
            input_price: Some(Price {
                amount: cents(rng),
                currency_code: "USD".into(),
            }),
            output_price: Some(Price {
                amount: cents(rng),
                currency_code: "USD".into(),
            }),
            context_window: 128_000,
            max_output_tokens: 8192,
            ..Default::default()
        }],
        provenance: source(),
        ..Default::default()
    }
}

const METRICS: [(MeasurementMetric, MeasurementUnit); 4] = [
    (
        MeasurementMetric::TimeToFirstToken,
        MeasurementUnit::Seconds,
    ),
    (
        MeasurementMetric::OutputTokensPerSecond,
        MeasurementUnit::TokensPerSecond,
    ),
    (MeasurementMetric::SuccessRate, MeasurementUnit::Fraction),
    (
        MeasurementMetric::EndToEndLatency,
        MeasurementUnit::Milliseconds,
    ),
];

/// The `k`th of `per` measurements of offering `o`, spread over the weeks.
fn measurement(name: String, o: i64, k: i64, per: i64, rng: &mut fastrand::Rng) -> Measurement {
    let (metric, unit) = METRICS[(k % 4) as usize];
    let end = START + (WEEKS * 7 * 86_400) * k / per + rng.i64(0..3600);
    let value = match metric {
        MeasurementMetric::SuccessRate => 0.9 + rng.f64() * 0.1,
        MeasurementMetric::OutputTokensPerSecond => 20.0 + rng.f64() * 200.0,
        MeasurementMetric::EndToEndLatency => 500.0 + rng.f64() * 5000.0,
        _ => 0.1 + rng.f64() * 2.0,
    };
    Measurement {
        name,
        offering: format!("offerings/o{o}"),
        metric: metric as i32,
        value,
        unit: unit as i32,
        window_start: Some(prost_types::Timestamp {
            seconds: end - 3600,
            nanos: 0,
        }),
        window_end: Some(prost_types::Timestamp {
            seconds: end,
            nanos: 0,
        }),
        sample_count: Some(60),
        conditions: Some(MeasurementConditions {
            region: ["us-east", "eu-west"][(k % 2) as usize].into(),
            network: [Network::Terrestrial, Network::Cellular, Network::Satellite][(k % 3) as usize]
                as i32,
            prompt_size: PromptSize::Short as i32,
            concurrency: 1,
        }),
        provenance: source(),
        ..Default::default()
    }
}

fn time(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(seconds, 0).expect("in range")
}

/// A row to store: name, stored message, the two typed columns of its
/// kind (release and provider, or offering and metric), window end.
type Row = (
    String,
    Vec<u8>,
    String,
    String,
    Option<chrono::DateTime<chrono::Utc>>,
);

/// Stores rows straight into `table`, with the columns the server sets for
/// them, in one statement per chunk.
async fn store(pool: &sqlx::PgPool, table: &str, kind: &str, rows: &[Row]) {
    let (first, second) = match kind {
        "offering" => ("release", "provider"),
        _ => ("offering", "metric"),
    };
    for chunk in rows.chunks(50_000) {
        let texts = |f: fn(&Row) -> &String| chunk.iter().map(|r| f(r).clone()).collect::<Vec<_>>();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (name, kind, data, etag, typed_etag, create_time, update_time, {first}, {second}, window_end) \
             SELECT n, '{kind}', d, 'e', 'e', now(), now(), a, b, w \
             FROM UNNEST($1::text[], $2::bytea[], $3::text[], $4::text[], $5::timestamptz[]) AS u(n, d, a, b, w)"
        )))
        .bind(texts(|r| &r.0))
        .bind(chunk.iter().map(|r| r.1.clone()).collect::<Vec<Vec<u8>>>())
        .bind(texts(|r| &r.2))
        .bind(texts(|r| &r.3))
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .execute(pool)
        .await
        .expect("bulk load");
    }
}

fn metric_name(m: &Measurement) -> String {
    MeasurementMetric::try_from(m.metric)
        .unwrap_or_default()
        .as_str_name()
        .to_owned()
}

fn end_of(m: &Measurement) -> Option<chrono::DateTime<chrono::Utc>> {
    m.window_end.map(|t| time(t.seconds))
}

/// With `PROFILE` set, the server is restarted on connections that log the
/// plan of every statement they run, with its timing, buffers and triggers
/// (`auto_explain`), into the cluster's `postgresql.log`: where the
/// database's time goes in an ingest (`benches/report/market.md`). The
/// timing itself slows every statement; the ratios are not comparable.
async fn profiled(mut server: TestServer, pool: &sqlx::PgPool) -> TestServer {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("the database's name");
    for setting in [
        "session_preload_libraries = 'auto_explain'",
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_analyze = on",
        "auto_explain.log_triggers = on",
        "auto_explain.log_buffers = on",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} SET {setting}"
        )))
        .execute(pool)
        .await
        .expect("auto_explain is set");
    }
    let url = server.database_url.clone();
    server.terminate().await;
    let server = TestServer::start_with(harness::ServerOptions {
        database_url: Some(url),
        ..Default::default()
    })
    .await
    .expect("the server restarts");
    eprintln!(
        "profiling: plans in /tmp/fwtest-{}/postgresql.log",
        std::process::id()
    );
    server
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let result_count = env("RESULTS", 1_000_000) as i64;
    let releases = env("RELEASES", 10_000) as i64;
    let measurements = env("MEASUREMENTS", 1_000_000) as i64;
    let calls = env("CALLS", 200) as usize;
    let ingest = env("INGEST", 20_000) as i64;
    let rounds = env("ROUNDS", 3) as usize;
    let benchmarks = 50;
    let started = Instant::now();
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let mut rng = fastrand::Rng::with_seed(7);

    let load = Instant::now();
    results::load(&pool, result_count, releases, benchmarks).await;
    let offerings: Vec<Row> = (1..=releases)
        .map(|i| {
            let o = offering(i, releases, &mut rng);
            (
                o.name.clone(),
                o.encode_to_vec(),
                o.release.clone(),
                o.provider.clone(),
                None,
            )
        })
        .collect();
    store(&pool, "resources", "offering", &offerings).await;
    let per = (measurements / releases).max(1);
    let mut rows = Vec::with_capacity(50_000);
    for o in 1..=releases {
        for k in 0..per {
            let m = measurement(format!("measurements/m{o}-{k}"), o, k, per, &mut rng);
            rows.push((
                m.name.clone(),
                m.encode_to_vec(),
                m.offering.clone(),
                metric_name(&m),
                end_of(&m),
            ));
        }
        if rows.len() >= 50_000 {
            store(&pool, "resources", "measurement", &rows).await;
            rows.clear();
        }
    }
    store(&pool, "resources", "measurement", &rows).await;
    sqlx::query("VACUUM ANALYZE resources")
        .execute(&pool)
        .await
        .expect("analyze");
    println!(
        "market: loaded {result_count} results, {releases} offerings and {} measurements in {:.1} s",
        per * releases,
        load.elapsed().as_secs_f64()
    );

    let mut raw = server.client().await;
    let (mut baseline, mut offering_reports, mut release_reports, mut frontiers) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let window = |weeks: i64| {
        let end = START + weeks * 7 * 86_400;
        (
            Some(prost_types::Timestamp {
                seconds: end - 28 * 86_400,
                nanos: 0,
            }),
            Some(prost_types::Timestamp {
                seconds: end,
                nanos: 0,
            }),
        )
    };
    for call in 0..calls {
        let i = rng.i64(1..=releases);
        let t = Instant::now();
        raw.get_offering(GetOfferingRequest {
            name: format!("offerings/o{i}"),
        })
        .await
        .expect("get");
        baseline.push(t.elapsed());

        let (window_start, window_end) = window(4 + (call as i64 % 5));
        let t = Instant::now();
        let report = raw
            .get_offering_report(GetOfferingReportRequest {
                subject: format!("offerings/o{i}"),
                window_start,
                window_end,
                breakdown: ReportBreakdown::Network as i32,
                ..Default::default()
            })
            .await
            .expect("report")
            .into_inner();
        offering_reports.push(t.elapsed());
        assert!(report.overall.is_some_and(|o| !o.metrics.is_empty()));

        let t = Instant::now();
        raw.get_offering_report(GetOfferingReportRequest {
            subject: release_of(i, releases),
            window_start,
            window_end,
            breakdown: ReportBreakdown::Offering as i32,
            ..Default::default()
        })
        .await
        .expect("release report");
        release_reports.push(t.elapsed());

        let b = loop {
            let b = rng.i64(1..=benchmarks);
            if b % 10 != 0 {
                break b;
            }
        };
        let t = Instant::now();
        let frontier = raw
            .get_price_frontier(GetPriceFrontierRequest {
                benchmark: format!("benchmarks/b{b}"),
                ..Default::default()
            })
            .await
            .expect("frontier")
            .into_inner();
        frontiers.push(t.elapsed());
        assert!(
            frontier
                .sections
                .iter()
                .any(|s| s.points.iter().any(|p| p.on_frontier))
        );
    }
    let (b50, b99) = percentiles(baseline);
    println!("baseline GetOffering     : p50 {b50:.2} ms  p99 {b99:.2} ms  ({calls} calls)");
    for (label, samples) in [
        ("GetOfferingReport", offering_reports),
        ("  of a release", release_reports),
        ("GetPriceFrontier", frontiers),
    ] {
        let (p50, p99) = percentiles(samples);
        println!(
            "{label:<24} : p50 {p50:.2} ms  p99 {p99:.2} ms  ratio p50 {:.1}x  p99 {:.1}x",
            p50 / b50,
            p99 / b99
        );
    }

    let server = match std::env::var("PROFILE") {
        Ok(_) => profiled(server, &pool).await,
        Err(_) => server,
    };
    // Connected after the profile's restart, if any.
    let c = frontierwatch_client::Client::connect(server.connect_options())
        .await
        .expect("the client connects");
    // Ingest: ImportResources against COPY of the same rows, interleaved:
    // COPY into `resources` itself (the table the rows live in, with its
    // indexes, triggers and size: the goal's baseline), and into an empty
    // table `LIKE resources` (every index, no trigger, nothing stored: the
    // cheapest place the rows could go). Each timed phase starts after a
    // CHECKPOINT, so that each pays its own full-page writes.
    sqlx::query("CREATE TABLE bench_copy (LIKE resources INCLUDING DEFAULTS INCLUDING INDEXES)")
        .execute(&pool)
        .await
        .expect("copy table");
    let clients = env("INGEST_CLIENTS", 4) as usize;
    let server_pid = server.pid();
    let targets = [("resources", "cp"), ("bench_copy", "in")];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 1 + targets.len()];
    let mut used: Vec<Vec<cpu::Used>> = vec![Vec::new(); 1 + targets.len()];
    let checkpoint = async || {
        sqlx::query("CHECKPOINT")
            .execute(&pool)
            .await
            .expect("checkpoint");
    };
    for round in 0..rounds {
        let batch: Vec<Measurement> = (0..ingest)
            .map(|k| {
                let o = rng.i64(1..=releases);
                measurement(
                    format!("measurements/in-{round}-{k}"),
                    o,
                    k,
                    ingest,
                    &mut rng,
                )
            })
            .collect();
        let items: Vec<ImportItem> = batch
            .iter()
            .map(|m| ImportItem {
                line: 0,
                resource: Some(import_item::Resource::Measurement(m.clone())),
            })
            .collect();
        checkpoint().await;
        let before = cpu::Cpu::now(server_pid);
        let t = Instant::now();
        // `clients` callers, each taking every `clients`th call of 500.
        let chunks: Vec<Vec<ImportItem>> = items.chunks(500).map(<[_]>::to_vec).collect();
        let chunks = std::sync::Arc::new(chunks);
        let mut tasks = Vec::new();
        for first in 0..clients {
            let (c, chunks) = (c.clone(), chunks.clone());
            tasks.push(tokio::spawn(async move {
                for chunk in chunks.iter().skip(first).step_by(clients) {
                    let response = c
                        .import_resources(chunk.clone(), None)
                        .await
                        .expect("import");
                    assert!(
                        response
                            .outcomes
                            .iter()
                            .all(|o| o.result == ImportResult::Created as i32)
                    );
                }
            }));
        }
        for task in tasks {
            task.await.expect("an import caller");
        }
        rates[0].push(ingest as f64 / t.elapsed().as_secs_f64());
        used[0].push(cpu::Cpu::now(server_pid).since(&before));

        for (i, (table, prefix)) in targets.iter().enumerate() {
            // The rows as the server stores them, in COPY's text format,
            // under names of their own where they share the table.
            let mut text = String::new();
            for m in &batch {
                let stored = Measurement {
                    name: m.name.replacen("/in-", &format!("/{prefix}-"), 1),
                    etag: "0123456789abcdef".into(),
                    ..m.clone()
                };
                let hex: String = stored
                    .encode_to_vec()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let end = end_of(m).unwrap().to_rfc3339();
                text.push_str(&format!(
                    "{}\tmeasurement\t\\\\x{hex}\te\te\t2026-01-01T00:00:00Z\t2026-01-01T00:00:00Z\t{}\t{}\t{end}\n",
                    stored.name,
                    m.offering,
                    metric_name(m)
                ));
            }
            checkpoint().await;
            let before = cpu::Cpu::now(server_pid);
            let t = Instant::now();
            let mut connection = pool.acquire().await.expect("connection");
            let mut copy = connection
                .copy_in_raw(&format!(
                    "COPY {table} (name, kind, data, etag, typed_etag, create_time, update_time, offering, metric, window_end) FROM STDIN"
                ))
                .await
                .expect("copy");
            copy.send(text.as_bytes()).await.expect("copy rows");
            copy.finish().await.expect("copy done");
            rates[1 + i].push(ingest as f64 / t.elapsed().as_secs_f64());
            used[1 + i].push(cpu::Cpu::now(server_pid).since(&before));
        }
        println!(
            "ingest round {round}: ImportResources {:.0} rows/s, COPY into resources {:.0} rows/s, into an empty table {:.0} rows/s",
            rates[0][round], rates[1][round], rates[2][round]
        );
    }
    let ratios = |i: usize| -> Vec<String> {
        rates[0]
            .iter()
            .zip(&rates[i])
            .map(|(a, b)| format!("{:.2}", a / b))
            .collect()
    };
    let medians: Vec<f64> = rates.iter().cloned().map(median).collect();
    println!(
        "ingest of {ingest} measurements (median of {rounds}, {clients} import callers): ImportResources {:.0} rows/s; COPY into resources {:.0} rows/s, ratio {:.2}x (rounds {}); COPY into an empty table {:.0} rows/s, ratio {:.2}x (rounds {})",
        medians[0],
        medians[1],
        medians[0] / medians[1],
        ratios(1).join(", "),
        medians[2],
        medians[0] / medians[2],
        ratios(2).join(", "),
    );
    let rows = (ingest as usize * rounds) as f64;
    for (label, used) in [
        "ImportResources",
        "COPY into resources",
        "COPY, empty table",
    ]
    .into_iter()
    .zip(used)
    {
        let (server, postgres, client, total) = cpu::Used::sum(&used).per_op_us(rows);
        println!(
            "  {label:<20} CPU µs/row: server {server:.1}, PostgreSQL {postgres:.1}, bench process {client:.1}, total {total:.1}"
        );
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
