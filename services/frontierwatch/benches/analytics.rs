//! Analytics benchmark, kept apart from the tests: loads 1,000,000 results
//! across 10,000 releases (50 benchmarks, 3 evaluation settings each) and
//! measures GetLeaderboard (with each of its options: as-of date, evaluator
//! filter, disputed results, groupings), CompareReleases,
//! GetRecordProgression (with and without the open-closed split) and
//! GetModelLineQuality latency (p50, p99), side by side with a baseline in
//! the same run: GetBenchmark, a primary-key read through the same server,
//! reported as ratios.
//!
//! Run: `cargo bench -p frontierwatch-server --bench analytics`
//! (environment: RESULTS, RELEASES, CALLS, PROGRESS).

#[path = "../../../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use frontierwatch_proto::v1::*;

use harness::TestServer;

#[path = "support/results.rs"]
mod results;

#[path = "support/stats.rs"]
mod stats;

use stats::{env, percentiles};

/// The label of the leaderboards of lower-is-better benchmarks.
const LOWER: &str = "  lower is better";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let results = env("RESULTS", 1_000_000) as i64;
    let releases = env("RELEASES", 10_000) as i64;
    let calls = env("CALLS", 200) as usize;
    // PROGRESS=0 leaves out the progression and line-quality calls, to see
    // the leaderboards alone on the same data.
    let progress_calls = env("PROGRESS", 1) == 1;
    let benchmarks = 50i64;
    let started = Instant::now();
    let server = TestServer::start().await;
    let pool = server.pool().await;

    let load = Instant::now();
    results::load(&pool, results, releases, benchmarks).await;
    println!(
        "analytics: loaded {results} results across {releases} releases and {benchmarks} benchmarks in {:.1} s",
        load.elapsed().as_secs_f64()
    );

    let mut c = server.client().await;
    let mut rng = fastrand::Rng::with_seed(42);
    let mut baseline = Vec::new();
    // Every option of GetLeaderboard, each call with one of them.
    let variants: Vec<(&str, GetLeaderboardRequest)> = vec![
        ("GetLeaderboard", GetLeaderboardRequest::default()),
        (
            "  as of 2024-12-31",
            GetLeaderboardRequest {
                as_of: Some(Date {
                    year: 2024,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            },
        ),
        (
            "  first-party only",
            GetLeaderboardRequest {
                evaluators: EvaluatorFilter::FirstPartyOnly as i32,
                ..Default::default()
            },
        ),
        (
            "  disputed included",
            GetLeaderboardRequest {
                include_disputed: true,
                ..Default::default()
            },
        ),
        (
            "  grouped: model best",
            GetLeaderboardRequest {
                grouping: LeaderboardGrouping::ModelBest as i32,
                ..Default::default()
            },
        ),
        (
            "  grouped: model latest",
            GetLeaderboardRequest {
                grouping: LeaderboardGrouping::ModelLatest as i32,
                ..Default::default()
            },
        ),
        (LOWER, GetLeaderboardRequest::default()),
        (
            "  lower is better, grouped",
            GetLeaderboardRequest {
                grouping: LeaderboardGrouping::ModelBest as i32,
                ..Default::default()
            },
        ),
    ];
    let mut leaderboard: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut compare = Vec::new();
    // Every option of GetRecordProgression that changes its work.
    let progressions: Vec<(&str, GetRecordProgressionRequest)> = vec![
        (
            "GetRecordProgression",
            GetRecordProgressionRequest::default(),
        ),
        (
            "  split by access",
            GetRecordProgressionRequest {
                split_access: true,
                ..Default::default()
            },
        ),
        (
            "  open weights only",
            GetRecordProgressionRequest {
                access: AccessFilter::OpenWeights as i32,
                ..Default::default()
            },
        ),
        (
            "  as of 2024-12-31",
            GetRecordProgressionRequest {
                as_of: Some(Date {
                    year: 2024,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            },
        ),
        (LOWER, GetRecordProgressionRequest::default()),
        (
            "  lower is better, split",
            GetRecordProgressionRequest {
                split_access: true,
                ..Default::default()
            },
        ),
    ];
    let mut progression: Vec<Vec<Duration>> = vec![Vec::new(); progressions.len()];
    let mut quality = Vec::new();
    for call in 0..calls {
        // A higher-is-better benchmark (not a multiple of 10), and a
        // lower-is-better one.
        let higher = loop {
            let i = rng.u64(..) % benchmarks as u64 + 1;
            if !i.is_multiple_of(10) {
                break format!("benchmarks/b{i}");
            }
        };
        let lower = format!(
            "benchmarks/b{}",
            (rng.u64(..) % (benchmarks as u64 / 10) + 1) * 10
        );
        let b = higher.clone();
        let t = Instant::now();
        c.get_benchmark(GetBenchmarkRequest { name: b.clone() })
            .await
            .expect("get");
        baseline.push(t.elapsed());

        // The first leaderboard of a benchmark reads its index from the
        // operating system's cache rather than PostgreSQL's: each call
        // starts with another option, so that every option pays that as
        // often.
        for k in 0..variants.len() {
            let i = (call + k) % variants.len();
            let (label, options) = &variants[i];
            let b = if label.starts_with(LOWER) {
                &lower
            } else {
                &higher
            };
            let t = Instant::now();
            let board = c
                .get_leaderboard(GetLeaderboardRequest {
                    benchmark: b.clone(),
                    limit: 100,
                    ..options.clone()
                })
                .await
                .expect("leaderboard")
                .into_inner();
            leaderboard[i].push(t.elapsed());
            assert!(!board.sections.is_empty());
        }

        for k in 0..progressions.len() {
            if !progress_calls {
                break;
            }
            let i = (call + k) % progressions.len();
            let (label, options) = &progressions[i];
            let b = if label.starts_with(LOWER) {
                &lower
            } else {
                &higher
            };
            let t = Instant::now();
            let answer = c
                .get_record_progression(GetRecordProgressionRequest {
                    benchmark: b.clone(),
                    ..options.clone()
                })
                .await
                .expect("progression")
                .into_inner();
            progression[i].push(t.elapsed());
            assert!(!answer.sections.is_empty());
        }
        if progress_calls {
            let model = format!("models/m{}", rng.u64(..) % (releases as u64 / 10) + 1);
            let t = Instant::now();
            let answer = c
                .get_model_line_quality(GetModelLineQualityRequest {
                    model,
                    ..Default::default()
                })
                .await
                .expect("line quality")
                .into_inner();
            quality.push(t.elapsed());
            assert!(answer.releases.iter().any(|r| !r.deltas.is_empty()));
        }

        let pick = |r: u64| {
            let i = r % releases as u64 + 1;
            format!("models/m{}/releases/r{i}", i % (releases as u64 / 10) + 1)
        };
        let mut picked: Vec<String> = Vec::new();
        while picked.len() < 3 {
            let candidate = pick(rng.u64(..));
            if !picked.contains(&candidate) {
                picked.push(candidate);
            }
        }
        let t = Instant::now();
        c.compare_releases(CompareReleasesRequest {
            releases: picked,
            ..Default::default()
        })
        .await
        .expect("compare");
        compare.push(t.elapsed());
    }
    let (b50, b99) = percentiles(baseline);

    let (c50, c99) = percentiles(compare);
    println!("baseline GetBenchmark : p50 {b50:.2} ms  p99 {b99:.2} ms  ({calls} calls)");
    for ((label, _), samples) in variants.iter().zip(leaderboard) {
        let (l50, l99) = percentiles(samples);
        println!(
            "{label:<24}: p50 {l50:.2} ms  p99 {l99:.2} ms  ratio p50 {:.1}x  p99 {:.1}x",
            l50 / b50,
            l99 / b99
        );
    }
    println!(
        "CompareReleases (3)   : p50 {c50:.2} ms  p99 {c99:.2} ms  ratio p50 {:.1}x  p99 {:.1}x",
        c50 / b50,
        c99 / b99
    );
    for ((label, _), samples) in progressions.iter().zip(progression) {
        if samples.is_empty() {
            continue;
        }
        let (l50, l99) = percentiles(samples);
        println!(
            "{label:<24}: p50 {l50:.2} ms  p99 {l99:.2} ms  ratio p50 {:.1}x  p99 {:.1}x",
            l50 / b50,
            l99 / b99
        );
    }
    if quality.is_empty() {
        println!("total time {:.1} s", started.elapsed().as_secs_f64());
        return;
    }
    let (q50, q99) = percentiles(quality);
    println!(
        "GetModelLineQuality   : p50 {q50:.2} ms  p99 {q99:.2} ms  ratio p50 {:.1}x  p99 {:.1}x",
        q50 / b50,
        q99 / b99
    );
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
