//! Properties of record progressions on random stores (seeded, so a
//! failure names its seed and replays):
//! - the record holder on any date is row 1 of `GetLeaderboard{as_of}`
//!   with the same options (its score; its release, unless row 1 is tied,
//!   when it is one of the rows tied at rank 1: the record goes to the
//!   first to reach a score, and a board ranks ties by name);
//! - the progression as of a date is a prefix of the progression as of a
//!   later date (no result here is dated after its insertion);
//! - each line of the open–closed split is the progression of its access
//!   filter.

use std::collections::BTreeMap;

use frontierwatch_proto::v1::*;

use crate::fixtures::*;
use crate::fuzz::Rng;
use crate::harness::{Client, TestServer};
use crate::progress::dated;

const RELEASES: usize = 12;
const STORES: u64 = 8;
const RESULTS: usize = 40;
const DATES: usize = 8;

fn release_name(i: usize) -> String {
    format!("models/line-{}/releases/r{i}", i % 4)
}

/// Twelve releases on four model lines, each with open weights, an API
/// only, or access not stated.
async fn releases(c: &mut Client, rng: &mut Rng) {
    create_org(c, "lab").await;
    for line in 0..4 {
        create_model(c, &format!("line-{line}"), &["lab"]).await;
    }
    for i in 0..RELEASES {
        let access: &[AccessKind] = match rng.u8(0..3) {
            0 => &[AccessKind::OpenWeights],
            1 => &[AccessKind::Api],
            _ => &[],
        };
        create_release(
            c,
            &format!("line-{}", i % 4),
            &format!("r{i}"),
            dated(&format!("R{i}"), Some(date(2024, 1, 1)), access),
        )
        .await;
    }
}

fn day(rng: &mut Rng) -> Date {
    // 2024 in 60 possible days: same-day results happen.
    date(2024, rng.i32(1..13), rng.i32(1..6) * 5)
}

/// A benchmark of random direction with random results: scores from a
/// small set (ties happen), two settings, some contested, some
/// third-party, some undated.
async fn store(c: &mut Client, rng: &mut Rng, benchmark: &str) {
    let direction = if rng.bool() {
        ScoreDirection::HigherIsBetter
    } else {
        ScoreDirection::LowerIsBetter
    };
    c.create_benchmark(CreateBenchmarkRequest {
        benchmark_id: benchmark.into(),
        benchmark: Some(Benchmark {
            display_name: benchmark.into(),
            scale: ScoreScale::Percent as i32,
            direction: direction as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let requests = (0..RESULTS)
        .map(|i| {
            let mut r = result(
                &release_name(rng.usize(0..RELEASES)),
                &format!("benchmarks/{benchmark}"),
                f64::from(rng.u8(10..20)) * 5.0,
            );
            r.settings = Some(EvaluationSettings {
                shots: Some(if rng.u8(0..4) == 0 { 0 } else { 5 }),
                ..Default::default()
            });
            r.publish_date = (rng.u8(0..10) != 0).then(|| day(rng));
            if rng.u8(0..6) == 0 {
                r.verification = VerificationStatus::Contested as i32;
            }
            if rng.bool() {
                r.evaluator_relation = EvaluatorRelation::ThirdParty as i32;
            }
            CreateBenchmarkResultRequest {
                benchmark_result_id: format!("{benchmark}-{i}"),
                benchmark_result: Some(r),
                request_id: String::new(),
            }
        })
        .collect();
    c.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest { requests })
        .await
        .unwrap();
}

/// (date, release, score, result) of each record of each section's
/// lines, by key.
type Records = BTreeMap<String, Vec<Vec<(Date, String, f64, String)>>>;

fn records_of(p: &RecordProgression) -> Records {
    p.sections
        .iter()
        .map(|s| {
            let lines = s
                .lines
                .iter()
                .map(|l| {
                    l.records
                        .iter()
                        .map(|r| {
                            (
                                r.date.unwrap(),
                                r.release.clone(),
                                r.score,
                                r.benchmark_result.clone(),
                            )
                        })
                        .collect()
                })
                .collect();
            (s.settings_key.clone(), lines)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_holders_are_leaderboard_leaders_and_progressions_only_grow() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let mut setup = Rng::with_seed(7);
    releases(&mut c, &mut setup).await;
    for seed in 0..STORES {
        let mut rng = Rng::with_seed(seed);
        let benchmark = format!("bench-{seed}");
        store(&mut c, &mut rng, &benchmark).await;
        let evaluators = rng.i32(0..3);
        let include_disputed = rng.bool();
        let access = rng.i32(0..3);
        let mut dates: Vec<Date> = (0..DATES).map(|_| day(&mut rng)).collect();
        dates.push(date(2023, 12, 31));
        dates.push(date(2025, 1, 1));
        dates.sort_by_key(|d| (d.year, d.month, d.day));
        let context = format!(
            "seed {seed}: evaluators {evaluators}, disputed {include_disputed}, access {access}"
        );
        let mut previous: Option<Records> = None;
        for as_of in &dates {
            let request = GetRecordProgressionRequest {
                benchmark: format!("benchmarks/{benchmark}"),
                as_of: Some(*as_of),
                evaluators,
                include_disputed,
                access,
                ..Default::default()
            };
            let progression = c
                .get_record_progression(request.clone())
                .await
                .unwrap()
                .into_inner();
            let board = c
                .get_leaderboard(GetLeaderboardRequest {
                    benchmark: format!("benchmarks/{benchmark}"),
                    as_of: Some(*as_of),
                    evaluators,
                    include_disputed,
                    access,
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            // The same sections.
            let keys = |mut k: Vec<String>| {
                k.sort();
                k
            };
            assert_eq!(
                keys(
                    progression
                        .sections
                        .iter()
                        .map(|s| s.settings_key.clone())
                        .collect()
                ),
                keys(
                    board
                        .sections
                        .iter()
                        .map(|s| s.settings_key.clone())
                        .collect()
                ),
                "{context}, as of {as_of:?}"
            );
            for section in &progression.sections {
                let ranked = board
                    .sections
                    .iter()
                    .find(|s| s.settings_key == section.settings_key)
                    .unwrap();
                let holder = section.lines[0].current.as_ref().expect("a current record");
                let first = &ranked.rows[0];
                assert_eq!(holder.score, first.score, "{context}, as of {as_of:?}");
                let leaders: Vec<&str> = ranked
                    .rows
                    .iter()
                    .filter(|r| r.rank == 1)
                    .map(|r| r.release.as_str())
                    .collect();
                assert!(
                    leaders.contains(&holder.release.as_str()),
                    "{context}, as of {as_of:?}: holder {} not among {leaders:?}",
                    holder.release
                );
                if !first.tied {
                    assert_eq!(holder.release, first.release, "{context}");
                }
            }
            // A prefix of every later progression.
            let now = records_of(&progression);
            if let Some(before) = &previous {
                for (key, lines) in before {
                    let later = now
                        .get(key)
                        .unwrap_or_else(|| panic!("{context}: {key} gone"));
                    for (old, new) in lines.iter().zip(later) {
                        assert!(
                            new.starts_with(old),
                            "{context}, as of {as_of:?}, {key}: {old:?} is not a prefix of {new:?}"
                        );
                    }
                }
            }
            previous = Some(now);
            // The split's lines are the access filters' progressions.
            let split = c
                .get_record_progression(GetRecordProgressionRequest {
                    split_access: true,
                    access: 0,
                    ..request.clone()
                })
                .await
                .unwrap()
                .into_inner();
            for (i, filter) in [AccessFilter::OpenWeights, AccessFilter::Proprietary]
                .into_iter()
                .enumerate()
            {
                let alone = c
                    .get_record_progression(GetRecordProgressionRequest {
                        access: filter as i32,
                        ..request.clone()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                for section in &alone.sections {
                    let mine = split
                        .sections
                        .iter()
                        .find(|s| s.settings_key == section.settings_key)
                        .expect("the split has the section");
                    assert_eq!(mine.lines[i], section.lines[0], "{context}");
                }
            }
        }
    }
}

/// LLM-Stats (CC BY 4.0), imported with `fwatch import llm-stats`: the
/// GPQA progression the API gives equals the one recomputed here from the
/// CSV rows by the importer's documented rules (a pair repeated with the
/// same score is one result; a percentage on a fraction benchmark is
/// divided by 100; a self-reported result is published with its model's
/// announcement, else its release; one not self-reported is undated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_stats_gpqa_progression_equals_one_recomputed_from_the_csv_rows() {
    use std::collections::{BTreeSet, HashMap};

    use chrono::NaiveDate;

    let server = TestServer::start().await;
    let dir = crate::datasets::data("llm_stats");
    crate::datasets::import(&server, &["llm-stats", dir.to_str().unwrap()]);
    let read = |file: &str| {
        let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
        let headers = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect::<HashMap<String, String>>()
            })
            .collect::<Vec<_>>()
    };
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let models: HashMap<String, HashMap<String, String>> = read("models.csv")
        .into_iter()
        .map(|m| (m["model_id"].clone(), m))
        .collect();
    let fraction = read("benchmarks.csv")
        .iter()
        .any(|b| b["benchmark_id"] == "gpqa" && b["max_score"].parse::<f64>() == Ok(1.0));
    assert!(fraction, "GPQA is on a fraction scale in benchmarks.csv");
    let mut seen = BTreeSet::new();
    let mut dated: Vec<(NaiveDate, f64, String)> = Vec::new();
    let mut undated = 0;
    for row in read("benchmark_results.csv") {
        if row["benchmark_id"] != "gpqa" {
            continue;
        }
        let Some(model) = models.get(&row["model_id"]) else {
            continue;
        };
        if !seen.insert((row["model_id"].clone(), row["score"].clone())) {
            continue;
        }
        let mut score: f64 = row["score"].parse().unwrap();
        if score > 1.0 && score <= 100.0 {
            score /= 100.0;
        }
        if row["is_self_reported"].eq_ignore_ascii_case("true") {
            let on = day(&model["announcement_date"]).or_else(|| day(&model["release_date"]));
            dated.push((on.unwrap(), score, model["name"].clone()));
        } else {
            undated += 1;
        }
    }
    // Records: by day, each day's best, when better than every earlier one.
    dated.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut expected: Vec<(NaiveDate, f64, Vec<String>)> = Vec::new();
    for (on, score, _) in &dated {
        let best = expected.last().map(|r| r.1);
        if best.is_none_or(|b| *score > b) {
            let holders = dated
                .iter()
                .filter(|d| d.0 == *on && d.1 == *score)
                .map(|d| d.2.clone())
                .collect();
            expected.push((*on, *score, holders));
        }
    }
    assert!(expected.len() >= 5, "GPQA has a history: {expected:?}");

    let mut c = server.client().await;
    let progression = c
        .get_record_progression(GetRecordProgressionRequest {
            benchmark: "benchmarks/gpqa".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(progression.sections.len(), 1, "{progression:?}");
    let line = &progression.sections[0].lines[0];
    assert_eq!(line.undated_results, undated);
    let actual: Vec<(NaiveDate, f64, String)> = line
        .records
        .iter()
        .map(|r| {
            let d = r.date.unwrap();
            (
                NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).unwrap(),
                r.score,
                r.release_display_name.clone(),
            )
        })
        .collect();
    assert_eq!(
        actual.iter().map(|a| (a.0, a.1)).collect::<Vec<_>>(),
        expected.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>()
    );
    for (a, e) in actual.iter().zip(&expected) {
        assert!(e.2.contains(&a.2), "{a:?} held by one of {:?}", e.2);
    }
}
