//! The fuzzing run, kept apart from the tests: generated requests to every
//! method of the service (see `tests/api/fuzz.rs`), a million by default,
//! against the real server and PostgreSQL. Fails if any answer is INTERNAL,
//! UNKNOWN or UNAVAILABLE, or if the server logs a panic.
//!
//! Run: `cargo bench -p frontierwatch-server --bench fuzz`
//! (environment: FUZZ_INPUTS, FUZZ_SEED).

#[path = "../../../tests/api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "../../../tests/api/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;
#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

use frontierwatch_proto::v1::ScoreScale;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let inputs = env("FUZZ_INPUTS", 1_000_000);
    let seed = env("FUZZ_SEED", 0x5eed);
    let mut server = harness::TestServer::start().await;
    let mut c = server.client().await;
    fixtures::create_org(&mut c, "lab").await;
    fixtures::create_model(&mut c, "line", &["lab"]).await;
    fixtures::create_release(&mut c, "line", "v1", fixtures::release("V1")).await;
    fixtures::create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    let rss_before = server.memory_kib("VmRSS");
    let started = std::time::Instant::now();
    let report = fuzz::run(&server, inputs, seed, 16).await;
    let seconds = started.elapsed().as_secs_f64();
    let peak = server.memory_kib("VmHWM");
    let rss_after = server.memory_kib("VmRSS");
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let rss_idle = server.memory_kib("VmRSS");
    let (_, lines) = server.terminate().await;
    let panics = lines.iter().filter(|l| l.contains("panicked")).count();
    println!(
        "{} generated requests in {seconds:.0} s ({:.0}/s), seed {seed:#x}",
        report.inputs,
        report.inputs as f64 / seconds
    );
    println!("answers by status: {:?}", report.by_code);
    println!("unacceptable answers: {}", report.failures.len());
    for failure in &report.failures {
        println!("  {failure}");
    }
    println!("server panics: {panics}");
    println!(
        "server memory: {rss_before} kB before, peak {peak} kB, {rss_after} kB after, \
         {rss_idle} kB after 10 s idle"
    );
    if !report.failures.is_empty() || panics > 0 {
        std::process::exit(1);
    }
}
