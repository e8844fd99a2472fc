//! The load harness: each workload side by side with its baseline, in one
//! run on one machine, every figure reported as a ratio.
//!
//! - single-resource creates (`CreateOrganization`) against `pgbench` doing
//!   autocommit INSERTs of rows shaped like a stored resource (same size,
//!   same indexes) into the same database;
//! - Gets by name against the tonic floor: a bare tonic server of our own
//!   with one unary method (`grpc.health.v1.Health/Check`); then the same
//!   Gets on a second replica with `--read-cache`, with how many of them
//!   the cache answered;
//! - a List of 50 against a Get by name, one client, one call at a time;
//! - bulk: `ImportResources` of 10,000 organizations, and
//!   `BatchCreateBenchmarkResults` of 10,000 results, each against `COPY`
//!   (psql `\copy`) of the same rows into a table shaped like `resources`,
//!   in three alternating rounds (the medians, and each round's ratio);
//! - the peer: creates, Gets and Lists of 50 against the MLflow Model
//!   Registry's tracking server (installed from PyPI into
//!   `target/mlflow-venv` at the first run) on the same PostgreSQL;
//! - where the CPU goes: for every write step and bulk round, the CPU the
//!   server, PostgreSQL and the load generator (with pgbench or psql) used
//!   per operation, from /proc; and, last, the 16-client creates again
//!   with the change log's lock and NOTIFY switched off, which bounds what
//!   taking sequencing off the commit path could give.
//!
//! Creates and Gets sweep 1, 2, 4, 8, 16 and 32 clients, each client on a
//! connection of its own, through the client crate. The report is a
//! markdown file with every figure and ratio, and PNG plots (throughput
//! against clients, latency distributions at 16 clients), drawn with
//! plotters.
//!
//! Run: `cargo bench -p frontierwatch-server --bench load` (environment:
//! `LOAD_SECONDS` per step, default 3; `LOAD_REPORT_DIR`, default
//! `services/frontierwatch/benches/report`; `LOAD_CLIENTS`, a comma-separated
//! subset of the sweep, for profiling one step; `LOAD_PEER=0` leaves the
//! peer out). Needs `pgbench` and `psql`
//! (PostgreSQL's client tools) and a TrueType font (DejaVu Sans, Debian's
//! fonts-dejavu-core) for the plots' text.

#[path = "support/cpu.rs"]
mod cpu;
#[path = "../../../tests/api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../../../tests/api/metrics.rs"]
#[allow(dead_code, unused_imports)]
mod metrics;
#[path = "support/mlflow.rs"]
mod mlflow;

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use frontierwatch_client::Client;
use frontierwatch_proto::v1::*;
use plotters::prelude::*;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use cpu::{Cpu, Used};
use harness::TestServer;

const CLIENTS: &[usize] = &[1, 2, 4, 8, 16, 32];

/// The client counts to sweep: `LOAD_CLIENTS`, or all of [`CLIENTS`].
fn sweep() -> Vec<usize> {
    std::env::var("LOAD_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| CLIENTS.to_vec())
}
/// The client count whose latency distributions are plotted.
const PLOTTED: usize = 16;
const BULK_ROWS: usize = 10_000;
const BULK_BATCH: usize = 500;
/// Alternating rounds of each bulk workload and its baseline.
const BULK_ROUNDS: usize = 3;
/// Results per BatchCreateBenchmarkResults call (the most one call takes).
const RESULT_BATCH: usize = 1000;

/// Concurrent clients of the comparison with the peer.
const PEER_CLIENTS: usize = 16;

/// What one workload did at one client count.
struct Run {
    clients: usize,
    ops: u64,
    seconds: f64,
    /// Call latencies, in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies[i]) / 1e3
    }
}

/// Numbers the calls of a whole run, so that ids never repeat.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `call` from `clients` concurrent clients for `duration`; each call
/// gets a number unique in the run.
async fn drive<S, F, Fut>(clients: Vec<S>, duration: Duration, call: F) -> Run
where
    S: Send + 'static,
    F: Fn(&mut S, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let n = clients.len();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(n);
    for mut state in clients {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let t = Instant::now();
                call(&mut state, i).await;
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load task does not panic"));
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Run {
        clients: n,
        ops: latencies.len() as u64,
        seconds,
        latencies,
    }
}

async fn clients(server: &TestServer, n: usize) -> Vec<Client> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            Client::connect(server.connect_options())
                .await
                .expect("the client crate connects"),
        );
    }
    out
}

/// The write of the create workloads: an organization named `id`.
/// Creates organizations named `{prefix}{call number}` from `clients`
/// for `duration`.
async fn drive_creates(clients: Vec<Client>, duration: Duration, prefix: &'static str) -> Run {
    drive(clients, duration, move |c: &mut Client, i| {
        create_organization(c.clone(), format!("{prefix}{i:x}"))
    })
    .await
}

/// `BULK_ROWS` organizations to import, named `{prefix}-{i}`.
fn import_items(prefix: &str) -> Vec<ImportItem> {
    (0..BULK_ROWS)
        .map(|i| fixtures::org_import_item(i as i64, &format!("{prefix}-{i}")))
        .collect()
}

/// Imports `items` in calls of `BULK_BATCH`.
async fn import_all(client: &Client, items: &[ImportItem]) {
    for chunk in items.chunks(BULK_BATCH) {
        client
            .import_resources(chunk.to_vec(), None)
            .await
            .expect("an import batch succeeds");
    }
}

async fn create_organization(c: Client, id: String) {
    c.create_organization(
        &id,
        Organization {
            display_name: format!("Load {id}"),
            country: "US".into(),
            website: "https://example.com".into(),
            ..Default::default()
        },
    )
    .await
    .expect("a create succeeds");
}

/// The read of the get workloads.
async fn get_organization(c: Client) {
    c.get_organization("organizations/lab")
        .await
        .expect("a get succeeds");
}

/// The read of the list workloads: a page of 50.
async fn list_organizations(c: Client) {
    let page = c
        .idempotent(|mut raw| async move {
            raw.list_organizations(ListOrganizationsRequest {
                page_size: 50,
                ..Default::default()
            })
            .await
        })
        .await
        .expect("a list succeeds");
    assert_eq!(page.organizations.len(), 50);
}

/// The floor: a bare tonic server with one unary method, in this process.
async fn floor_server() -> String {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        .expect("binds")
        .with_nodelay(Some(true));
    let addr = incoming.local_addr().expect("an address");
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming)
            .await
            .expect("the floor server serves");
    });
    format!("http://{addr}")
}

/// PostgreSQL connection arguments for the client tools, from the URL.
fn pg_args(url: &str) -> Vec<String> {
    let database = url
        .split('?')
        .next()
        .and_then(|s| s.rsplit('/').next())
        .unwrap_or("postgres");
    let host = url.split("host=").nth(1).unwrap_or("/tmp");
    vec![
        "-h".into(),
        host.into(),
        "-p".into(),
        "5432".into(),
        "-U".into(),
        "postgres".into(),
        database.into(),
    ]
}

/// A PostgreSQL client tool: beside the server binaries, else on PATH.
fn pg_tool(name: &str) -> PathBuf {
    frontierwatch_server::embedded::find_bin_dir(None)
        .map(|dir| dir.join(name))
        .ok()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn psql(url: &str, sql: &str) {
    psql_value(url, sql);
}

/// The single value `sql` returns.
fn psql_value(url: &str, sql: &str) -> String {
    let output = Command::new(pg_tool("psql"))
        .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .args(pg_args(url))
        .output()
        .expect("psql runs");
    assert!(output.status.success(), "psql: {sql}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// An organization as the server stores it: the bytes a baseline row holds.
fn stored_bytes(i: usize) -> Vec<u8> {
    prost::Message::encode_to_vec(&Organization {
        name: format!("organizations/p{i}"),
        display_name: format!("Load {i}"),
        country: "US".into(),
        website: "https://example.com".into(),
        ..Default::default()
    })
}

/// pgbench: autocommit INSERTs of rows shaped like a stored organization.
fn pgbench(url: &str, clients: usize, duration: Duration, dir: &Path) -> Run {
    let hex: String = stored_bytes(0).iter().map(|b| format!("{b:02x}")).collect();
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO load_insert (name, kind, data, etag, create_time, update_time, country) \
             VALUES ('organizations/p' || nextval('load_seq'), 'organization', '\\x{hex}'::bytea, \
             'e', now(), now(), 'US');\n"
        ),
    )
    .unwrap();
    let output = Command::new(pg_tool("pgbench"))
        .args(["-n", "-r"])
        .args(["-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&script)
        .args(pg_args(url))
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number_after = |marker: &str| -> f64 {
        text.lines()
            .find_map(|l| l.split(marker).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let tps = number_after("tps = ");
    let seconds = duration.as_secs_f64();
    let latency_ms = number_after("latency average = ");
    Run {
        clients,
        ops: (tps * seconds) as u64,
        seconds,
        // pgbench reports an average only: one sample of it.
        latencies: vec![(latency_ms * 1e3) as u32],
    }
}

struct Sweep {
    label: &'static str,
    runs: Vec<Run>,
}

fn ratio_table(out: &mut String, what: &Sweep, baseline: &Sweep) {
    let _ = writeln!(
        out,
        "| clients | {} ops/s | p50 ms | p99 ms | {} ops/s | ratio |",
        what.label, baseline.label
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (w, b) in what.runs.iter().zip(&baseline.runs) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2}× |",
            w.clients,
            w.rate(),
            w.percentile_ms(0.5),
            w.percentile_ms(0.99),
            b.rate(),
            w.rate() / b.rate()
        );
    }
}

fn register_font() -> bool {
    for path in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ] {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok();
        }
    }
    false
}

const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

fn plot_throughput(path: &Path, sweeps: &[&Sweep]) -> Result<(), Box<dyn std::error::Error>> {
    let max = sweeps
        .iter()
        .flat_map(|s| s.runs.iter().map(Run::rate))
        .fold(0.0, f64::max)
        * 1.1;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput against clients", ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((1u32..32u32).log_scale(), (10f64..max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients")
        .y_desc("operations per second (log scale)")
        .draw()?;
    for (sweep, colour) in sweeps.iter().zip(COLOURS) {
        let points: Vec<(u32, f64)> = sweep
            .runs
            .iter()
            .map(|r| (r.clients as u32, r.rate()))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(sweep.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Latency distributions (CDF) of the workloads at one client count.
fn plot_latency(path: &Path, runs: &[(&str, &Run)]) -> Result<(), Box<dyn std::error::Error>> {
    let max_ms = runs
        .iter()
        .map(|(_, r)| r.percentile_ms(0.999))
        .fold(0.0, f64::max)
        * 1.1;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Latency distribution at {PLOTTED} clients"),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_ms, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("fraction of calls at most")
        .draw()?;
    for ((label, run), colour) in runs.iter().zip(COLOURS) {
        let n = run.latencies.len().max(1);
        let step = (n / 400).max(1);
        let points: Vec<(f64, f64)> = run
            .latencies
            .iter()
            .enumerate()
            .step_by(step)
            .map(|(i, us)| (f64::from(*us) / 1e3, (i + 1) as f64 / n as f64))
            .filter(|(ms, _)| *ms <= max_ms)
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let step = Duration::from_secs(seconds);
    let report_dir = std::env::var_os("LOAD_REPORT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/report"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&report_dir).expect("the report directory");
    let scratch = std::env::temp_dir().join(format!("fw-load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    let server = TestServer::start().await;
    let url = server.database_url.clone();
    psql(
        &url,
        "CREATE TABLE load_insert (LIKE resources INCLUDING DEFAULTS INCLUDING INDEXES); \
         CREATE SEQUENCE load_seq; \
         CREATE TABLE load_copy (LIKE resources INCLUDING DEFAULTS INCLUDING INDEXES); \
         CREATE TABLE load_copy_results (LIKE resources INCLUDING DEFAULTS INCLUDING INDEXES);",
    );
    let setup = Client::connect(server.connect_options()).await.unwrap();
    setup
        .create_organization(
            "lab",
            Organization {
                display_name: "Lab".into(),
                ..Default::default()
            },
        )
        .await
        .expect("an organization to read");
    for i in 0..50 {
        setup
            .create_organization(
                &format!("listed-{i:02}"),
                Organization {
                    display_name: format!("Listed {i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let floor = floor_server().await;

    // Writes: creates against pgbench INSERTs.
    let mut creates = Sweep {
        label: "CreateOrganization",
        runs: Vec::new(),
    };
    let mut inserts = Sweep {
        label: "pgbench INSERT",
        runs: Vec::new(),
    };
    // What each step cost the server, PostgreSQL and the load generator.
    let server_pid = server.pid();
    let (mut create_cpu, mut insert_cpu) = (Vec::new(), Vec::new());
    for &n in &sweep() {
        eprintln!("creates and pgbench, {n} clients");
        let connected = clients(&server, n).await;
        let before = Cpu::now(server_pid);
        let run = drive_creates(connected, step, "w").await;
        let between = Cpu::now(server_pid);
        let insert = pgbench(&url, n, step, &scratch);
        let after = Cpu::now(server_pid);
        eprintln!(
            "  creates {:.0}/s, pgbench {:.0}/s: {:.2}x",
            run.rate(),
            insert.rate(),
            run.rate() / insert.rate()
        );
        creates.runs.push(run);
        create_cpu.push(between.since(&before));
        inserts.runs.push(insert);
        insert_cpu.push(after.since(&between));
    }

    // Reads: Gets against the floor.
    let mut gets = Sweep {
        label: "GetOrganization",
        runs: Vec::new(),
    };
    let mut floors = Sweep {
        label: "tonic floor (Health/Check)",
        runs: Vec::new(),
    };
    for &n in &sweep() {
        eprintln!("gets and the floor, {n} clients");
        let run = drive(clients(&server, n).await, step, |c: &mut Client, _| {
            get_organization(c.clone())
        })
        .await;
        gets.runs.push(run);
        let mut health = Vec::new();
        for _ in 0..n {
            let channel = tonic::transport::Channel::from_shared(floor.clone())
                .unwrap()
                .connect()
                .await
                .unwrap();
            health.push(HealthClient::new(channel));
        }
        floors.runs.push(
            drive(health, step, |h: &mut HealthClient<_>, _| {
                let mut h = h.clone();
                async move {
                    h.check(HealthCheckRequest::default())
                        .await
                        .expect("the floor answers");
                }
            })
            .await,
        );
    }

    // Reads from the read cache: a second replica on the same database,
    // with `--read-cache`, against the same floor.
    let cached = TestServer::start_with(harness::ServerOptions {
        database_url: Some(url.clone()),
        env: vec![("FRONTIERWATCH_READ_CACHE".into(), "true".into())],
        ..Default::default()
    })
    .await
    .expect("a replica with a read cache starts");
    let served = metrics::read_cache_gets;
    let probe = clients(&cached, 1).await.remove(0);
    let live_by = Instant::now() + Duration::from_secs(120);
    while served(&cached).0 == 0.0 {
        assert!(Instant::now() < live_by, "the read cache never went live");
        get_organization(probe.clone()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = served(&cached);
    let mut cached_gets = Sweep {
        label: "GetOrganization, --read-cache",
        runs: Vec::new(),
    };
    for &n in &sweep() {
        eprintln!("gets from the read cache, {n} clients");
        let run = drive(clients(&cached, n).await, step, |c: &mut Client, _| {
            get_organization(c.clone())
        })
        .await;
        cached_gets.runs.push(run);
    }
    let after = served(&cached);
    let (from_cache, from_database) = (after.0 - before.0, after.1 - before.1);
    drop(cached);

    // A List of 50 against a Get, one client, one call at a time.
    let one = clients(&server, 1).await;
    let lists = drive(one.clone(), step, |c: &mut Client, _| {
        list_organizations(c.clone())
    })
    .await;
    let single_gets = drive(one, step, |c: &mut Client, _| get_organization(c.clone())).await;

    // Bulk: ImportResources and BatchCreateBenchmarkResults, each against
    // COPY of the same rows, alternating, `BULK_ROUNDS` times (fresh names
    // each round): one round's ratio moved from 0.15x to 0.32x between
    // runs of the same build, with the machine's disk.
    let csv = scratch.join("rows.csv");
    let mut raw = server.client().await;
    fixtures::create_model(&mut raw, "bulk-line", &["lab"]).await;
    fixtures::create_release(&mut raw, "bulk-line", "v1", fixtures::release("V1")).await;
    fixtures::create_benchmark(&mut raw, "bulk-bench", ScoreScale::Percent, "coding").await;
    let scored = |i: usize| BenchmarkResult {
        settings: Some(EvaluationSettings {
            shots: Some((i % 5) as i32),
            ..Default::default()
        }),
        ..fixtures::result(
            "models/bulk-line/releases/v1",
            "benchmarks/bulk-bench",
            (i % 1000) as f64 / 10.0,
        )
    };
    let timed_copy = |table_columns: &str, text: String| {
        std::fs::write(&csv, text).unwrap();
        let started = Instant::now();
        psql(
            &url,
            &format!(
                "\\copy {table_columns} FROM '{}' WITH (FORMAT csv)",
                csv.display()
            ),
        );
        started.elapsed().as_secs_f64()
    };
    let mut import = Bulk::default();
    let mut batch = Bulk::default();
    for round in 0..BULK_ROUNDS {
        eprintln!("bulk, round {round}: ImportResources and COPY of {BULK_ROWS} rows");
        let items = import_items(&format!("bulk-{round}"));
        let before = Cpu::now(server_pid);
        let started = Instant::now();
        import_all(&setup, &items).await;
        import.ours.push(started.elapsed().as_secs_f64());
        import.ours_cpu.push(Cpu::now(server_pid).since(&before));
        let mut text = String::new();
        for i in 0..BULK_ROWS {
            let hex: String = stored_bytes(i).iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(
                text,
                "organizations/bulk-{round}-{i},organization,\\x{hex},e,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,US"
            );
        }
        let before = Cpu::now(server_pid);
        import.copy.push(timed_copy(
            "load_copy (name, kind, data, etag, create_time, update_time, country)",
            text,
        ));
        import.copy_cpu.push(Cpu::now(server_pid).since(&before));

        eprintln!(
            "bulk, round {round}: BatchCreateBenchmarkResults and COPY of {BULK_ROWS} results"
        );
        let requests: Vec<CreateBenchmarkResultRequest> = (0..BULK_ROWS)
            .map(|i| CreateBenchmarkResultRequest {
                benchmark_result_id: format!("bulk-{round}-{i}"),
                benchmark_result: Some(scored(i)),
                request_id: String::new(),
            })
            .collect();
        let before = Cpu::now(server_pid);
        let started = Instant::now();
        for chunk in requests.chunks(RESULT_BATCH) {
            raw.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest {
                requests: chunk.to_vec(),
            })
            .await
            .expect("a batch create succeeds");
        }
        batch.ours.push(started.elapsed().as_secs_f64());
        batch.ours_cpu.push(Cpu::now(server_pid).since(&before));
        let mut text = String::new();
        for i in 0..BULK_ROWS {
            let stored = BenchmarkResult {
                name: format!("benchmarkResults/bulk-{round}-{i}"),
                etag: "0123456789abcdef".into(),
                ..scored(i)
            };
            let hex: String = prost::Message::encode_to_vec(&stored)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(
                text,
                "benchmarkResults/bulk-{round}-{i},benchmark_result,\\x{hex},e,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,\
                 models/bulk-line/releases/v1,models/bulk-line,benchmarks/bulk-bench,{},shots={};cot=-;tools=-;pass@k=-;harness=-;judge=-,2025-07-10,\
                 VERIFICATION_STATUS_SELF_REPORTED,2025-07-10,VERIFICATION_STATUS_SELF_REPORTED,EVALUATOR_RELATION_FIRST_PARTY",
                stored.score,
                i % 5
            );
        }
        let before = Cpu::now(server_pid);
        batch.copy.push(timed_copy(
            "load_copy_results (name, kind, data, etag, create_time, update_time, release, model, \
             benchmark, score, settings_key, event_date, status, publish_date, verification, \
             relation)",
            text,
        ));
        batch.copy_cpu.push(Cpu::now(server_pid).since(&before));
    }

    // The peer, on the same PostgreSQL, in the same run.
    let peer = if std::env::var("LOAD_PEER").as_deref() == Ok("0") {
        Err("skipped (LOAD_PEER=0)".to_owned())
    } else {
        eprintln!(
            "peer: MLflow {} and the same operations here, {PEER_CLIENTS} clients",
            mlflow::VERSION
        );
        peer_runs(&server, step, &scratch).await
    };

    // Where the database's time goes: the 16-client creates and one
    // import again, with every statement logged (not in the measured
    // steps: the logging slows PostgreSQL down).
    let mut profiles = Vec::new();
    if sweep().contains(&PLOTTED) {
        eprintln!("statement profile: creates, {PLOTTED} clients");
        let connected = clients(&server, PLOTTED).await;
        let profile = statements_during(&url, async {
            drive_creates(connected, step, "s").await.ops
        })
        .await;
        profiles.push((
            format!("CreateOrganization, {PLOTTED} clients, per create"),
            profile,
        ));
    }
    eprintln!("statement profile: ImportResources of {BULK_ROWS} rows");
    let items = import_items("bulk-profile");
    let profile = statements_during(&url, async {
        import_all(&setup, &items).await;
        (BULK_ROWS / BULK_BATCH) as u64
    })
    .await;
    profiles.push((
        format!("ImportResources, per call of {BULK_BATCH} rows"),
        profile,
    ));

    // How much of the write gap the change log's serialized window
    // explains: the same creates with its lock and its NOTIFY switched
    // off, an upper bound for taking sequencing off the commit path. Last,
    // because the stream's order guarantee does not hold meanwhile.
    let unserialized = if sweep().contains(&PLOTTED) {
        eprintln!("creates without the change log's lock and NOTIFY, {PLOTTED} clients");
        change_log_serialized(&url, false);
        let connected = clients(&server, PLOTTED).await;
        let before = Cpu::now(server_pid);
        let run = drive_creates(connected, step, "u").await;
        let used = Cpu::now(server_pid).since(&before);
        change_log_serialized(&url, true);
        Some((run, used))
    } else {
        None
    };

    // The report.
    let mut out = String::new();
    let _ = writeln!(out, "# Load report\n");
    let _ = writeln!(
        out,
        "Written by `cargo bench -p frontierwatch-server --bench load` on {} \
         ({} s per step, {} cores; {} build; the server, PostgreSQL 15 with \
         fsync on, the load generator and the baselines share the machine). \
         Every figure is side by side with its baseline from the same run.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        seconds,
        std::thread::available_parallelism().map_or(0, usize::from),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let _ = writeln!(
        out,
        "## Writes: CreateOrganization against pgbench INSERT (goal ≥ 0.5×)\n"
    );
    ratio_table(&mut out, &creates, &inserts);
    let _ = writeln!(
        out,
        "\npgbench runs autocommit INSERTs of rows of the same size into a table \
         with the same columns and indexes as `resources` (no change log, no \
         name check), one connection per client.\n"
    );
    cpu_section(
        &mut out,
        (&creates, &create_cpu),
        (&inserts, &insert_cpu),
        unserialized.as_ref(),
    );
    let _ = writeln!(
        out,
        "## Reads: GetOrganization against the tonic floor (goal ≥ 0.8×)\n"
    );
    ratio_table(&mut out, &gets, &floors);
    let _ = writeln!(
        out,
        "\nThe floor is a bare tonic server of our own in the load generator's \
         process, serving one unary method (grpc.health.v1.Health/Check).\n"
    );
    let _ = writeln!(
        out,
        "## Reads from the read cache: GetOrganization with `--read-cache` against the tonic floor (goal ≥ 0.8×)\n"
    );
    ratio_table(&mut out, &cached_gets, &floors);
    let _ = writeln!(
        out,
        "\nA second replica on the same database, started with `--read-cache`: \
         Gets wait until its cache holds this replica's last write, then answer \
         from memory. Of this section's Gets, {from_cache:.0} were answered from \
         the cache and {from_database:.0} from the database \
         (`frontierwatch_read_cache_gets_total`).\n"
    );
    let _ = writeln!(out, "## A List of 50 against a Get, one client\n");
    let _ = writeln!(out, "| call | p50 ms | p99 ms | ratio of p50 |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| GetOrganization (baseline) | {:.3} | {:.3} | 1.00× |",
        single_gets.percentile_ms(0.5),
        single_gets.percentile_ms(0.99)
    );
    let _ = writeln!(
        out,
        "| ListOrganizations, 50 items | {:.3} | {:.3} | {:.2}× |\n",
        lists.percentile_ms(0.5),
        lists.percentile_ms(0.99),
        lists.percentile_ms(0.5) / single_gets.percentile_ms(0.5)
    );
    bulk_table(
        &mut out,
        "ImportResources",
        "psql `\\copy` into a table shaped like `resources`",
        &format!("ImportResources, batches of {BULK_BATCH}, one client"),
        &import,
    );
    bulk_table(
        &mut out,
        "BatchCreateBenchmarkResults",
        "psql `\\copy` of results into a table shaped like `resources`",
        &format!("BatchCreateBenchmarkResults, batches of {RESULT_BATCH}, one client"),
        &batch,
    );
    let _ = writeln!(
        out,
        "Both bulk baselines load a table with the same columns and indexes as \
         `resources`, with no references, claims or change records; the server \
         writes all three, in one transaction per call.\n"
    );
    let _ = writeln!(
        out,
        "## Where the database's time goes\n\n\
         The {PLOTTED}-client creates and one import, run again after the measured steps with \
         every statement logged with its duration (PostgreSQL's `log_min_duration_statement = 0`; \
         the logging slows them down). A statement's time is that of its protocol steps \
         (parse, bind, execute) as PostgreSQL logs them; COMMIT's includes the wait for the \
         WAL flush. Statements of concurrent transactions overlap, so with many clients the \
         database time per operation can exceed the wall time per operation.\n"
    );
    for (title, profile) in &profiles {
        statements_table(&mut out, title, profile.as_ref());
    }
    // What the history costs on disk: every write of the run kept a
    // revision (docs/history.md).
    let revisions = psql_value(
        &url,
        "SELECT count(*) || ' ' || pg_total_relation_size('revisions') || ' ' \
         || round(avg(pg_column_size(v.*))) || ' ' || round(avg(length(resource))) \
         FROM revisions v",
    );
    let parts: Vec<f64> = revisions
        .split(' ')
        .map(|p| p.parse().unwrap_or(0.0))
        .collect();
    if let [count, total, row, resource] = parts[..] {
        let _ = writeln!(
            out,
            "## Storage per revision\n\n\
             The run's writes kept {count:.0} revisions: {:.0} bytes each on disk (table, TOAST \
             and indexes: `pg_total_relation_size`), from rows of {row:.0} bytes on average, \
             {resource:.0} of them the encoded resource.\n",
            total / count.max(1.0)
        );
    }
    let _ = writeln!(
        out,
        "## Ahead of the peer: the MLflow Model Registry (goal ≥ 20×)\n"
    );
    match &peer {
        Ok(rows) => {
            let _ = writeln!(
                out,
                "| operation, {PEER_CLIENTS} clients | Frontier Watch ops/s | p50 ms | MLflow {} ops/s | p50 ms | ratio |",
                mlflow::VERSION
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for (label, ours, theirs) in rows {
                let _ = writeln!(
                    out,
                    "| {label} | {:.0} | {:.2} | {:.0} | {:.2} | {:.1}× |",
                    ours.rate(),
                    ours.percentile_ms(0.5),
                    theirs.rate(),
                    theirs.percentile_ms(0.5),
                    ours.rate() / theirs.rate()
                );
            }
            let _ = writeln!(
                out,
                "\nMLflow's tracking server (`mlflow server`, its default workers) runs from \
                 PyPI in `target/mlflow-venv` on a database of the same PostgreSQL; its REST \
                 API is called over keep-alive HTTP/1.1 connections, one per client. Creates \
                 are `registered-models/create` against `CreateOrganization`, gets \
                 `registered-models/get` against `GetOrganization`, lists \
                 `registered-models/search` of 50 against `ListOrganizations` of 50.\n"
            );
        }
        Err(why) => {
            let _ = writeln!(out, "(Not measured in this run: {why}.)\n");
        }
    }
    let plotted = sweep().iter().position(|&n| n == PLOTTED).unwrap_or(0);
    if register_font() {
        plot_throughput(
            &report_dir.join("throughput.png"),
            &[&creates, &inserts, &gets, &cached_gets, &floors],
        )
        .expect("the throughput plot draws");
        plot_latency(
            &report_dir.join("latency.png"),
            &[
                ("CreateOrganization", &creates.runs[plotted]),
                ("GetOrganization", &gets.runs[plotted]),
                ("GetOrganization, read cache", &cached_gets.runs[plotted]),
                ("tonic floor", &floors.runs[plotted]),
            ],
        )
        .expect("the latency plot draws");
        let _ = writeln!(
            out,
            "## Plots\n\n![Throughput against clients](throughput.png)\n\n\
             ![Latency distributions at {PLOTTED} clients](latency.png)"
        );
    } else {
        let _ = writeln!(out, "(No TrueType font was found: no plots.)");
    }
    std::fs::write(report_dir.join("load.md"), &out).expect("the report writes");
    println!("{out}");
    let _ = std::fs::remove_dir_all(scratch);
}

/// Creates, Gets and Lists of 50 here and on the MLflow Model Registry,
/// [`PEER_CLIENTS`] clients each: (operation, ours, theirs). Ours run
/// first, before MLflow starts: its idle workers poll and take about half
/// a core (seen with top), which would slow whatever ran beside them.
async fn peer_runs(
    server: &TestServer,
    step: Duration,
    scratch: &Path,
) -> Result<Vec<(&'static str, Run, Run)>, String> {
    use std::sync::Arc;
    use tokio::sync::Mutex;

    let ours = || clients(server, PEER_CLIENTS);
    let our_creates = drive_creates(ours().await, step, "peer-").await;
    let our_gets = drive(ours().await, step, |c: &mut Client, _| {
        get_organization(c.clone())
    })
    .await;
    let our_lists = drive(ours().await, step, |c: &mut Client, _| {
        list_organizations(c.clone())
    })
    .await;

    let peer = mlflow::Mlflow::start(
        &harness::fresh_database().await,
        &scratch.join("mlflow.log"),
    )
    .await?;
    let theirs = || async {
        let mut out = Vec::with_capacity(PEER_CLIENTS);
        for _ in 0..PEER_CLIENTS {
            let http = mlflow::Http::connect(peer.addr)
                .await
                .map_err(|e| e.to_string())?;
            out.push(Arc::new(Mutex::new(http)));
        }
        Ok::<_, String>(out)
    };
    let call = |http: &mut Arc<Mutex<mlflow::Http>>,
                method: &'static str,
                path: String,
                body: Option<String>| {
        let http = http.clone();
        async move {
            let (status, answer) = http
                .lock()
                .await
                .call(method, &path, body.as_deref())
                .await
                .expect("mlflow answers");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        }
    };
    // What its gets and lists read (ours read the organizations made at
    // the start).
    let mut setup = theirs().await?;
    for i in 0..50 {
        call(
            &mut setup[0],
            "POST",
            "/api/2.0/mlflow/registered-models/create".into(),
            Some(format!(r#"{{"name": "listed-{i:02}"}}"#)),
        )
        .await;
    }
    let their_creates = drive(theirs().await?, step, move |h, i| {
        call(
            h,
            "POST",
            "/api/2.0/mlflow/registered-models/create".into(),
            Some(format!(r#"{{"name": "peer-{i:x}"}}"#)),
        )
    })
    .await;
    let their_gets = drive(theirs().await?, step, move |h, _| {
        call(
            h,
            "GET",
            "/api/2.0/mlflow/registered-models/get?name=listed-00".into(),
            None,
        )
    })
    .await;
    let their_lists = drive(theirs().await?, step, move |h, _| {
        call(
            h,
            "GET",
            "/api/2.0/mlflow/registered-models/search?max_results=50".into(),
            None,
        )
    })
    .await;
    drop(peer);
    Ok(vec![
        ("create", our_creates, their_creates),
        ("get", our_gets, their_gets),
        ("list of 50", our_lists, their_lists),
    ])
}

/// Where the CPU of the write steps goes, by process, and what the write
/// goal leaves for a create; with the creates run without the change
/// log's serialized window, when measured.
fn cpu_section(
    out: &mut String,
    (creates, create_cpu): (&Sweep, &[Used]),
    (inserts, insert_cpu): (&Sweep, &[Used]),
    unserialized: Option<&(Run, Used)>,
) {
    let _ = writeln!(out, "### Where the CPU goes\n");
    let _ = writeln!(
        out,
        "| clients | work | ops/s | CPU µs/op: server | PostgreSQL | load generator | total | machine busy |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    // `ours`: the work ran through the server (pgbench does not).
    let mut row = |run: &Run, label: &str, used: &Used, ours: bool| {
        let (server, pg, client, total) = used.per_op_us(run.ops as f64);
        let server = if ours {
            format!("{server:.0}")
        } else {
            "–".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {label} | {:.0} | {server} | {pg:.0} | {client:.0} | {total:.0} | {:.0}% |",
            run.clients,
            run.rate(),
            used.busy * 100.0
        );
    };
    for (i, (create, insert)) in creates.runs.iter().zip(&inserts.runs).enumerate() {
        if let (Some(c), Some(b)) = (create_cpu.get(i), insert_cpu.get(i)) {
            row(create, creates.label, c, true);
            row(insert, inserts.label, b, false);
        }
    }
    if let Some((run, used)) = unserialized {
        row(
            run,
            "CreateOrganization, change log's lock and NOTIFY off",
            used,
            true,
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let _ = writeln!(
        out,
        "\nCPU from /proc (user and system, 10 ms ticks): the server's process; every \
         process named `postgres`; the load generator's process with the children it \
         waited for (pgbench). Machine busy: all cores, from /proc/stat."
    );
    let at = creates
        .runs
        .iter()
        .zip(&inserts.runs)
        .zip(create_cpu)
        .find(|((c, _), _)| c.clients == PLOTTED);
    if let Some(((create, insert), used)) = at {
        let goal = insert.rate() / 2.0;
        let (_, _, _, total) = used.per_op_us(create.ops as f64);
        let _ = writeln!(
            out,
            "At {PLOTTED} clients the goal is {goal:.0} creates/s (half of pgbench's rate); with \
             all {cores:.0} cores busy that leaves at most {:.0} µs of CPU per create for the \
             server, PostgreSQL and the load generator together, against {total:.0} µs measured.",
            cores * 1e6 / goal
        );
        if let Some((run, _)) = unserialized {
            let _ = writeln!(
                out,
                "Without the change log's lock and NOTIFY (switched off at the end of the run, \
                 so every commit runs concurrently: an upper bound for taking sequencing off \
                 the commit path), creates reach {:.0}/s, {:.2}× the same run's pgbench at \
                 {PLOTTED} clients, against {:.2}× with them.",
                run.rate(),
                run.rate() / insert.rate(),
                create.rate() / insert.rate()
            );
        }
    }
    let _ = writeln!(out);
}

/// Statement durations from PostgreSQL's log, summed by statement.
struct Statements {
    /// (the statement's first words, executions, milliseconds in all its
    /// protocol steps: parse, bind, execute), most time first.
    rows: Vec<(String, u64, f64)>,
    /// The operations the logged work did, and its wall time in seconds.
    ops: u64,
    seconds: f64,
}

/// Runs `work` (which returns how many operations it did) with every
/// statement of the bench's cluster logged with its duration
/// (`log_min_duration_statement = 0`, without parameters, set with ALTER
/// SYSTEM, reloaded and reset after), and sums the log's lines written meanwhile. `None` when
/// the log cannot be read (a database the bench did not start).
async fn statements_during(url: &str, work: impl Future<Output = u64>) -> Option<Statements> {
    let log = PathBuf::from(url.split("host=").nth(1)?).join("postgresql.log");
    let from = std::fs::metadata(&log).ok()?.len();
    // Without the bound parameters: a batch's arrays would make the log
    // the cost.
    psql(url, "ALTER SYSTEM SET log_min_duration_statement = 0");
    psql(url, "ALTER SYSTEM SET log_parameter_max_length = 0");
    psql(url, "SELECT pg_reload_conf()");
    let started = Instant::now();
    let ops = work.await;
    let seconds = started.elapsed().as_secs_f64();
    psql(url, "ALTER SYSTEM RESET log_min_duration_statement");
    psql(url, "ALTER SYSTEM RESET log_parameter_max_length");
    psql(url, "SELECT pg_reload_conf()");
    let text = std::fs::read(&log).ok()?;
    let text = String::from_utf8_lossy(text.get(usize::try_from(from).ok()?..)?);
    let mut sums: std::collections::HashMap<String, (u64, f64)> = Default::default();
    for line in text.lines() {
        // `... LOG:  duration: 0.062 ms  execute s3: WITH page AS (...`
        let Some((_, rest)) = line.split_once("duration: ") else {
            continue;
        };
        let Some((ms, rest)) = rest.split_once(" ms  ") else {
            continue;
        };
        let (Ok(ms), Some((step, sql))) = (ms.parse::<f64>(), rest.split_once(": ")) else {
            continue;
        };
        let sql: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if sql.starts_with("ALTER SYSTEM") || sql.contains("pg_reload_conf") {
            continue;
        }
        let words: String = sql.chars().take(60).collect();
        let entry = sums.entry(words).or_default();
        if step.starts_with("statement") || step.starts_with("execute") {
            entry.0 += 1;
        }
        entry.1 += ms;
    }
    let mut rows: Vec<(String, u64, f64)> =
        sums.into_iter().map(|(k, (n, ms))| (k, n, ms)).collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    Some(Statements { rows, ops, seconds })
}

/// One statement profile: each statement's executions and time per
/// operation, the database's total and the wall time per operation.
fn statements_table(out: &mut String, title: &str, profile: Option<&Statements>) {
    let _ = writeln!(out, "### {title}\n");
    let Some(p) = profile else {
        let _ = writeln!(out, "(Not measured: the cluster's log cannot be read.)\n");
        return;
    };
    let per = p.ops.max(1) as f64;
    let _ = writeln!(
        out,
        "| statement (first 60 characters) | executions per operation | mean ms | ms per operation |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let mut total = 0.0;
    for (sql, n, ms) in &p.rows {
        total += ms;
        if ms / per < 0.001 {
            continue;
        }
        let _ = writeln!(
            out,
            "| `{}` | {:.2} | {:.3} | {:.3} |",
            sql.replace('|', "\\|"),
            *n as f64 / per,
            ms / (*n).max(1) as f64,
            ms / per
        );
    }
    let _ = writeln!(
        out,
        "| all statements | | | **{:.3}** |\n\n{} operations in {:.2} s: {:.3} ms of wall time per operation.\n",
        total / per,
        p.ops,
        p.seconds,
        p.seconds * 1000.0 / per
    );
}

/// Switches the change log's lock (the sequencer) and its NOTIFY off, for
/// the measurement of what they cost, or back on.
fn change_log_serialized(url: &str, on: bool) {
    let switch = if on { "ENABLE" } else { "DISABLE" };
    psql(
        url,
        &format!(
            "ALTER TABLE changes {switch} TRIGGER changes_lock; \
             ALTER TABLE changes {switch} TRIGGER changes_notify;"
        ),
    );
}

/// Seconds and CPU per round of a bulk workload and of its `COPY` baseline.
#[derive(Default)]
struct Bulk {
    ours: Vec<f64>,
    copy: Vec<f64>,
    ours_cpu: Vec<Used>,
    copy_cpu: Vec<Used>,
}

/// The median of `values`.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One bulk section: `subject` against the `COPY` baseline of the same
/// `BULK_ROWS` rows, the medians of the rounds as a ratio, and every
/// round's own ratio.
fn bulk_table(out: &mut String, title: &str, baseline: &str, subject: &str, bulk: &Bulk) {
    let (copy, ours) = (median(&bulk.copy), median(&bulk.ours));
    let rounds: Vec<String> = bulk
        .copy
        .iter()
        .zip(&bulk.ours)
        .map(|(c, o)| format!("{:.2}×", c / o))
        .collect();
    let _ = writeln!(out, "## Bulk: {title} against COPY (goal ≥ 0.3×)\n");
    let _ = writeln!(
        out,
        "Medians of {} alternating rounds, fresh names each round; each round's own ratio in brackets.\n",
        bulk.ours.len()
    );
    let _ = writeln!(
        out,
        "| work | rows | seconds | rows/s | ratio | CPU µs/row: server | PostgreSQL | client | total |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let rows = (BULK_ROWS * bulk.ours.len()) as f64;
    let (_, pg, client, total) = Used::sum(&bulk.copy_cpu).per_op_us(rows);
    let _ = writeln!(
        out,
        "| {baseline} (baseline) | {BULK_ROWS} | {copy:.3} | {:.0} | 1.00× | – | {pg:.1} | {client:.1} (psql) | {total:.1} |",
        BULK_ROWS as f64 / copy
    );
    let (server, pg, client, total) = Used::sum(&bulk.ours_cpu).per_op_us(rows);
    let _ = writeln!(
        out,
        "| {subject} | {BULK_ROWS} | {ours:.3} | {:.0} | {:.2}× ({}) | {server:.1} | {pg:.1} | {client:.1} | {total:.1} |\n",
        BULK_ROWS as f64 / ours,
        copy / ours,
        rounds.join(", ")
    );
}
