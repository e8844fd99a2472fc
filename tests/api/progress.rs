//! Progress over time: record progressions (with the open–closed split),
//! model line quality with its regression alert, their bad input, and
//! the command line with its charts. The properties that tie progressions
//! to leaderboards are in `progress_properties.rs`.

use std::time::Duration;

use frontierwatch_proto::v1::*;
use serde_json::Value;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, TestServer, fresh_database, run_fwatch_status};
use crate::watch::server_with;
use crate::watch_support::{Msg, Recorder};

pub fn dated(display_name: &str, on: Option<Date>, access: &[AccessKind]) -> Release {
    let mut r = release(display_name);
    r.release_date = on.map(|d| ApproximateDate {
        date: Some(d),
        precision: DatePrecision::Day as i32,
    });
    r.access = access.iter().map(|a| *a as i32).collect();
    r
}

/// A result with 5-shot settings, published on `on` (undated with none).
pub fn scored(release: &str, benchmark: &str, score: f64, on: Option<Date>) -> BenchmarkResult {
    let mut r = result(release, benchmark, score);
    r.settings = Some(EvaluationSettings {
        shots: Some(5),
        ..Default::default()
    });
    r.publish_date = on;
    r
}

/// Two proprietary releases, two open-weights ones and one whose access
/// is not stated, on MMLU (percent):
/// - r1 prop-1 60 on 2024-01-10; r2 open-1 55 on 02-01; r3 prop-1 60 on
///   02-15 (equal: no record); r4 misc-1 62 on 03-01; r5 open-1 65 on
///   04-01; r6 prop-2 80 on 06-01; r7 open-2 90 on 07-01, contested;
///   r8 open-2 82 on 09-01, and r10 misc-1 81 the same day; r9 prop-2 70,
///   undated.
async fn progression_world(c: &mut Client) {
    use AccessKind::{Api, OpenWeights};
    for org in ["lab-o", "lab-p", "lab-m"] {
        create_org(c, org).await;
    }
    create_model(c, "open", &["lab-o"]).await;
    create_model(c, "prop", &["lab-p"]).await;
    create_model(c, "misc", &["lab-m"]).await;
    let on = |m| Some(date(2024, m, 1));
    create_release(c, "prop", "prop-1", dated("Prop 1", on(1), &[Api])).await;
    create_release(c, "prop", "prop-2", dated("Prop 2", on(6), &[Api])).await;
    create_release(
        c,
        "open",
        "open-1",
        dated("Open 1", on(2), &[OpenWeights, Api]),
    )
    .await;
    create_release(c, "open", "open-2", dated("Open 2", on(7), &[OpenWeights])).await;
    create_release(c, "misc", "misc-1", dated("Misc 1", on(3), &[])).await;
    create_benchmark(c, "mmlu", ScoreScale::Percent, "knowledge").await;
    let results = [
        ("r1", "prop/releases/prop-1", 60.0, Some(date(2024, 1, 10))),
        ("r2", "open/releases/open-1", 55.0, Some(date(2024, 2, 1))),
        ("r3", "prop/releases/prop-1", 60.0, Some(date(2024, 2, 15))),
        ("r4", "misc/releases/misc-1", 62.0, Some(date(2024, 3, 1))),
        ("r5", "open/releases/open-1", 65.0, Some(date(2024, 4, 1))),
        ("r6", "prop/releases/prop-2", 80.0, Some(date(2024, 6, 1))),
        ("r7", "open/releases/open-2", 90.0, Some(date(2024, 7, 1))),
        ("r8", "open/releases/open-2", 82.0, Some(date(2024, 9, 1))),
        ("r9", "prop/releases/prop-2", 70.0, None),
        ("r10", "misc/releases/misc-1", 81.0, Some(date(2024, 9, 1))),
    ];
    for (id, release, score, on) in results {
        let mut r = scored(&format!("models/{release}"), "benchmarks/mmlu", score, on);
        if id == "r7" {
            r.verification = VerificationStatus::Contested as i32;
        }
        create_result(c, id, r).await;
    }
}

/// (date, release id, score, improvement, stood days) of a line.
fn records(line: &ProgressionLine) -> Vec<(Date, String, f64, Option<f64>, i32)> {
    line.records
        .iter()
        .map(|r| {
            (
                r.date.unwrap(),
                r.release.rsplit('/').next().unwrap().to_owned(),
                r.score,
                r.improvement,
                r.stood_days,
            )
        })
        .collect()
}

fn progression_request(split: bool, access: AccessFilter) -> GetRecordProgressionRequest {
    GetRecordProgressionRequest {
        benchmark: "benchmarks/mmlu".into(),
        as_of: Some(date(2025, 1, 1)),
        access: access as i32,
        split_access: split,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_progression_dates_each_record_with_its_gain_its_holder_and_how_long_it_stood() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    progression_world(&mut c).await;
    let p = c
        .get_record_progression(progression_request(false, AccessFilter::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.as_of, Some(date(2025, 1, 1)));
    assert_eq!(p.scale, ScoreScale::Percent as i32);
    assert!(p.saturation_definition.contains("5%"), "{p:?}");
    assert_eq!(p.sections.len(), 1);
    let section = &p.sections[0];
    assert_eq!(section.settings.as_ref().and_then(|s| s.shots), Some(5));
    let line = &section.lines[0];
    assert_eq!(line.access, AccessFilter::Unspecified as i32);
    // r3 equals the record and sets none; the contested r7 does not count;
    // on 09-01 the day's best (r8, 82) is the record, not r10 (81).
    assert_eq!(
        records(line),
        vec![
            (date(2024, 1, 10), "prop-1".into(), 60.0, None, 51),
            (date(2024, 3, 1), "misc-1".into(), 62.0, Some(2.0), 31),
            (date(2024, 4, 1), "open-1".into(), 65.0, Some(3.0), 61),
            (date(2024, 6, 1), "prop-2".into(), 80.0, Some(15.0), 92),
            (date(2024, 9, 1), "open-2".into(), 82.0, Some(2.0), 122),
        ]
    );
    let current = line.current.as_ref().unwrap();
    assert_eq!(current.benchmark_result, "benchmarkResults/r8");
    assert_eq!(current.release_display_name, "Open 2");
    assert_eq!(current.model, "models/open");
    assert_eq!(current.organization, "organizations/lab-o");
    assert!(current.provenance.is_some());
    assert_eq!(line.headroom, Some(18.0));
    assert_eq!(line.records_last_365_days, 5);
    // Gaps of 51, 31, 61 and 92 days.
    assert_eq!(line.median_days_between_records, Some(56.0));
    assert_eq!(line.saturation, Saturation::Active as i32);
    // With as_of, undated results do not count; without, they are counted
    // apart, and the records are the same.
    assert_eq!(line.undated_results, 0);
    let today = c
        .get_record_progression(GetRecordProgressionRequest {
            as_of: None,
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    let today_line = &today.sections[0].lines[0];
    assert_eq!(today_line.undated_results, 1);
    let firsts = |l: &ProgressionLine| {
        records(l)
            .into_iter()
            .map(|r| (r.0, r.1, r.2))
            .collect::<Vec<_>>()
    };
    assert_eq!(firsts(today_line), firsts(line));
    // Saturated and stalled readings.
    let later = c
        .get_record_progression(GetRecordProgressionRequest {
            as_of: Some(date(2026, 6, 1)),
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    let stalled = &later.sections[0].lines[0];
    assert_eq!(stalled.records_last_365_days, 0);
    assert_eq!(stalled.saturation, Saturation::Stalled as i32);
    create_result(
        &mut c,
        "r11",
        scored(
            "models/prop/releases/prop-2",
            "benchmarks/mmlu",
            96.0,
            Some(date(2026, 1, 5)),
        ),
    )
    .await;
    let saturated = c
        .get_record_progression(GetRecordProgressionRequest {
            as_of: Some(date(2026, 6, 1)),
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    let saturated = &saturated.sections[0].lines[0];
    assert_eq!(saturated.headroom, Some(4.0));
    assert_eq!(saturated.saturation, Saturation::Saturated as i32);
    // Before any result: an empty progression, not an error.
    let before = c
        .get_record_progression(GetRecordProgressionRequest {
            as_of: Some(date(2023, 1, 1)),
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(before.sections.is_empty(), "{before:?}");
}

#[tokio::test]
async fn the_open_closed_split_gives_both_lines_and_the_gap_in_score_and_time() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    progression_world(&mut c).await;
    let p = c
        .get_record_progression(progression_request(true, AccessFilter::Unspecified))
        .await
        .unwrap()
        .into_inner();
    let section = &p.sections[0];
    let [open, proprietary] = &section.lines[..] else {
        panic!("two lines: {section:?}")
    };
    assert_eq!(open.access, AccessFilter::OpenWeights as i32);
    assert_eq!(
        records(open),
        vec![
            (date(2024, 2, 1), "open-1".into(), 55.0, None, 60),
            (date(2024, 4, 1), "open-1".into(), 65.0, Some(10.0), 153),
            (date(2024, 9, 1), "open-2".into(), 82.0, Some(17.0), 122),
        ]
    );
    assert_eq!(proprietary.access, AccessFilter::Proprietary as i32);
    assert_eq!(
        records(proprietary),
        vec![
            (date(2024, 1, 10), "prop-1".into(), 60.0, None, 143),
            (date(2024, 6, 1), "prop-2".into(), 80.0, Some(20.0), 214),
        ]
    );
    let gaps: Vec<_> = section
        .gaps
        .iter()
        .map(|g| {
            (
                g.date.unwrap(),
                g.open_weights_score,
                g.proprietary_score,
                g.score_gap,
                g.time_gap_days,
                g.matched_proprietary_release
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        gaps,
        vec![
            (date(2024, 1, 10), None, Some(60.0), None, None, "".into()),
            (
                date(2024, 2, 1),
                Some(55.0),
                Some(60.0),
                Some(5.0),
                None,
                "".into()
            ),
            (
                date(2024, 4, 1),
                Some(65.0),
                Some(60.0),
                Some(-5.0),
                Some(0),
                "prop-1".into()
            ),
            // Open weights' 65 matches the proprietary 60 of 2024-01-10.
            (
                date(2024, 6, 1),
                Some(65.0),
                Some(80.0),
                Some(15.0),
                Some(143),
                "prop-1".into()
            ),
            (
                date(2024, 9, 1),
                Some(82.0),
                Some(80.0),
                Some(-2.0),
                Some(0),
                "prop-2".into()
            ),
        ]
    );
    // Each line of the split is the progression of its access filter.
    for (access, line) in [
        (AccessFilter::OpenWeights, open),
        (AccessFilter::Proprietary, proprietary),
    ] {
        let alone = c
            .get_record_progression(progression_request(false, access))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&alone.sections[0].lines[0], line);
    }
    // The leaderboard takes the same access filter.
    let board = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/mmlu".into(),
            access: AccessFilter::OpenWeights as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<_> = board.sections[0]
        .rows
        .iter()
        .map(|r| (r.release.as_str(), r.score))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("models/open/releases/open-2", 82.0),
            ("models/open/releases/open-1", 65.0)
        ]
    );
    // A benchmark with no release of an access: no sections.
    create_benchmark(&mut c, "arc", ScoreScale::Percent, "reasoning").await;
    create_result(
        &mut c,
        "arc-1",
        scored(
            "models/prop/releases/prop-1",
            "benchmarks/arc",
            40.0,
            Some(date(2024, 2, 1)),
        ),
    )
    .await;
    let none = c
        .get_record_progression(GetRecordProgressionRequest {
            benchmark: "benchmarks/arc".into(),
            ..progression_request(false, AccessFilter::OpenWeights)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.sections.is_empty(), "{none:?}");
}

/// A model line of three dated releases and one undated, on GPQA
/// (percent, with standard errors) and on a latency benchmark (seconds,
/// lower is better, no uncertainty stated).
async fn quality_world(c: &mut Client) {
    create_org(c, "lab").await;
    create_model(c, "line", &["lab"]).await;
    let on = |m| Some(date(2024, m, 1));
    create_release(c, "line", "line-1", dated("Line 1", on(1), &[])).await;
    create_release(c, "line", "line-2", dated("Line 2", on(5), &[])).await;
    create_release(c, "line", "line-3", dated("Line 3", on(9), &[])).await;
    create_release(c, "line", "line-x", dated("Line X", None, &[])).await;
    create_benchmark(c, "gpqa", ScoreScale::Percent, "knowledge").await;
    c.create_benchmark(CreateBenchmarkRequest {
        benchmark_id: "lat".into(),
        benchmark: Some(Benchmark {
            display_name: "Latency".into(),
            scale: ScoreScale::DurationSeconds as i32,
            direction: ScoreDirection::LowerIsBetter as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let with_error = |release: &str, score: f64| {
        let mut r = scored(
            &format!("models/line/releases/{release}"),
            "benchmarks/gpqa",
            score,
            Some(date(2024, 10, 1)),
        );
        r.standard_error = Some(1.0);
        r
    };
    create_result(c, "m1", with_error("line-1", 70.0)).await;
    create_result(c, "m1-low", with_error("line-1", 66.0)).await;
    create_result(c, "m2", with_error("line-2", 68.0)).await;
    create_result(c, "m3", with_error("line-3", 69.0)).await;
    let latency = |release: &str, score: f64| {
        scored(
            &format!("models/line/releases/{release}"),
            "benchmarks/lat",
            score,
            Some(date(2024, 10, 1)),
        )
    };
    create_result(c, "l1", latency("line-1", 10.0)).await;
    create_result(c, "l2", latency("line-2", 12.0)).await;
}

fn quality_request(threshold: f64) -> GetModelLineQualityRequest {
    GetModelLineQualityRequest {
        model: "models/line".into(),
        regression_threshold: threshold,
        ..Default::default()
    }
}

#[tokio::test]
async fn line_quality_compares_each_release_with_the_one_before_and_flags_regressions() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    quality_world(&mut c).await;
    let q = c
        .get_model_line_quality(quality_request(0.0))
        .await
        .unwrap()
        .into_inner();
    let order: Vec<_> = q
        .releases
        .iter()
        .map(|r| {
            (
                r.release.rsplit('/').next().unwrap(),
                r.previous_release.as_str(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            ("line-1", ""),
            ("line-2", "models/line/releases/line-1"),
            ("line-3", "models/line/releases/line-2"),
            // Undated: last.
            ("line-x", "models/line/releases/line-3"),
        ]
    );
    assert!(q.releases[0].deltas.is_empty());
    assert_eq!(q.releases[0].results, 3);
    let second = &q.releases[1];
    let deltas: Vec<_> = second
        .deltas
        .iter()
        .map(|d| {
            (
                d.benchmark.as_str(),
                d.previous_score,
                d.score,
                d.delta,
                (d.tolerance * 1000.0).round() / 1000.0,
                d.regressed,
            )
        })
        .collect();
    // GPQA: the best of line-1 (70) against 68, beyond √2 of the two
    // standard errors; latency: 10 s to 12 s with nothing stated, any fall.
    assert_eq!(
        deltas,
        vec![
            ("benchmarks/gpqa", 70.0, 68.0, -2.0, 1.414, true),
            ("benchmarks/lat", 10.0, 12.0, 2.0, 0.0, true),
        ]
    );
    assert_eq!(second.regressions, 2);
    assert_eq!(second.deltas[0].benchmark_result, "benchmarkResults/m2");
    assert_eq!(
        second.deltas[0].previous_benchmark_result,
        "benchmarkResults/m1"
    );
    assert_eq!(
        second.deltas[1].direction,
        ScoreDirection::LowerIsBetter as i32
    );
    let third = &q.releases[2];
    assert_eq!(third.deltas.len(), 1);
    assert!(!third.deltas[0].regressed);
    assert_eq!(third.regressions, 0);
    // A threshold applies only where no uncertainty is stated.
    let q = c
        .get_model_line_quality(quality_request(3.0))
        .await
        .unwrap()
        .into_inner();
    let flags: Vec<_> = q.releases[1]
        .deltas
        .iter()
        .map(|d| (d.tolerance, d.regressed))
        .collect();
    assert!(flags[0].1);
    assert_eq!(flags[1], (3.0, false));
    // As of a date before the results: releases, no deltas.
    let early = c
        .get_model_line_quality(GetModelLineQualityRequest {
            as_of: Some(date(2024, 6, 1)),
            ..quality_request(0.0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(early.releases.len(), 4);
    assert!(early.releases.iter().all(|r| r.deltas.is_empty()));
}

#[tokio::test]
async fn progress_questions_are_answered_as_the_record_stood_when_asked_so() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    progression_world(&mut c).await;
    quality_world(&mut c).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A correction: r6 was 80, it is 50; and line-2's GPQA is 72.
    for (name, score) in [("r6", 50.0), ("m2", 72.0)] {
        let mut r = c
            .get_benchmark_result(GetBenchmarkResultRequest {
                name: format!("benchmarkResults/{name}"),
            })
            .await
            .unwrap()
            .into_inner();
        r.score = score;
        c.update_benchmark_result(UpdateBenchmarkResultRequest {
            benchmark_result: Some(r),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["score".into()],
            }),
        })
        .await
        .unwrap();
    }
    let known_as_of = Some(prost_types::Timestamp::from(before));
    let then = c
        .get_record_progression(GetRecordProgressionRequest {
            known_as_of,
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    let now = c
        .get_record_progression(progression_request(false, AccessFilter::Unspecified))
        .await
        .unwrap()
        .into_inner();
    let holders = |p: &RecordProgression| {
        p.sections[0].lines[0]
            .records
            .iter()
            .map(|r| r.score)
            .collect::<Vec<_>>()
    };
    assert_eq!(holders(&then), vec![60.0, 62.0, 65.0, 80.0, 82.0]);
    assert_eq!(holders(&now), vec![60.0, 62.0, 65.0, 82.0]);
    let quality_then = c
        .get_model_line_quality(GetModelLineQualityRequest {
            known_as_of,
            ..quality_request(0.0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quality_then.releases[1].deltas[0].score, 68.0);
    let quality_now = c
        .get_model_line_quality(quality_request(0.0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quality_now.releases[1].deltas[0].score, 72.0);
    assert_eq!(quality_now.releases[1].regressions, 1);
}

#[tokio::test]
async fn bad_progress_requests_get_the_documented_codes() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    progression_world(&mut c).await;
    let status = c
        .get_record_progression(GetRecordProgressionRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&status, "benchmark");
    let status = c
        .get_record_progression(GetRecordProgressionRequest {
            benchmark: "benchmarks/nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = c
        .get_record_progression(GetRecordProgressionRequest {
            access: 9,
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "access");
    let status = c
        .get_record_progression(GetRecordProgressionRequest {
            as_of: Some(date(2024, 2, 30)),
            ..progression_request(false, AccessFilter::Unspecified)
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "as_of");
    let status = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/mmlu".into(),
            access: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "access");
    let status = c
        .get_model_line_quality(GetModelLineQualityRequest {
            model: "models/nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    for (model, threshold, field) in [
        ("organizations/lab-o", 0.0, "model"),
        ("models/open", -1.0, "regression_threshold"),
        ("models/open", f64::NAN, "regression_threshold"),
    ] {
        let status = c
            .get_model_line_quality(GetModelLineQualityRequest {
                model: model.into(),
                regression_threshold: threshold,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, field);
    }
    let status = c
        .get_model_line_quality(GetModelLineQualityRequest {
            known_as_of: Some(prost_types::Timestamp {
                seconds: 4_000_000_000,
                nanos: 0,
            }),
            ..quality_request(0.0)
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "known_as_of");
}

fn alerts_of(messages: &[Msg]) -> usize {
    messages
        .iter()
        .map(|m| match m {
            Msg::Transaction { events, .. } => events.len(),
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn a_regression_is_announced_once_and_a_second_regression_again() {
    let database = fresh_database().await;
    let env = vec![("FRONTIERWATCH_ALERT_SECONDS".to_owned(), "0.2".to_owned())];
    let a = server_with(&database, env.clone()).await;
    let b = server_with(&database, env).await;
    let mut c = a.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_benchmark(&mut c, "mmlu", ScoreScale::Percent, "knowledge").await;
    let on = |m| Some(date(2024, m, 1));
    create_release(&mut c, "line", "line-1", dated("Line 1", on(1), &[])).await;
    create_release(&mut c, "line", "line-2", dated("Line 2", on(5), &[])).await;
    let mmlu = |release: &str, score: f64| {
        scored(
            &format!("models/line/releases/{release}"),
            "benchmarks/mmlu",
            score,
            on(10),
        )
    };
    create_result(&mut c, "m1", mmlu("line-1", 70.0)).await;
    let mut watch_client = b.client().await;
    let alerts = Recorder::start(
        &mut watch_client,
        WatchRequest {
            resource_types: vec![ResourceType::Alert as i32],
            model: "models/line".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // An improvement: nothing to announce.
    create_result(&mut c, "m2", mmlu("line-2", 72.0)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A regression, seen by both replicas' evaluators many times.
    create_release(&mut c, "line", "line-3", dated("Line 3", on(9), &[])).await;
    create_result(&mut c, "m3", mmlu("line-3", 65.0)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A second regression, of the next release.
    create_release(&mut c, "line", "line-4", dated("Line 4", on(11), &[])).await;
    create_result(&mut c, "m4", mmlu("line-4", 60.0)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = alerts.stop();
    assert_eq!(alerts_of(&messages), 2, "{messages:?}");
    let pool = a.pool().await;
    let stored: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT resource FROM changes WHERE resource_type = 'frontierwatch.v1.Alert' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // (The new leader of MMLU is announced too, about the benchmark.)
    let alerts: Vec<Alert> = stored
        .iter()
        .map(|(d,)| <Alert as prost::Message>::decode(d.as_slice()).unwrap())
        .filter(|a| a.kind != AlertKind::NewLeader as i32)
        .collect();
    let seen: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a.kind,
                a.subject.as_str(),
                a.organization.as_str(),
                a.benchmark.as_str(),
                a.release.rsplit('/').next().unwrap(),
                a.previous_release.rsplit('/').next().unwrap(),
                a.score,
                a.previous_score,
            )
        })
        .collect();
    let kind = AlertKind::QualityRegression as i32;
    assert_eq!(
        seen,
        vec![
            (
                kind,
                "models/line",
                "organizations/lab",
                "benchmarks/mmlu",
                "line-3",
                "line-2",
                65.0,
                72.0
            ),
            (
                kind,
                "models/line",
                "organizations/lab",
                "benchmarks/mmlu",
                "line-4",
                "line-3",
                60.0,
                65.0
            ),
        ]
    );
}

fn fwatch(server: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = run_fwatch_status(server, args, None);
    assert_eq!(code, Some(0), "fwatch {args:?}: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fwatch_shows_records_and_line_quality_in_every_format_and_draws_them() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    progression_world(&mut c).await;
    quality_world(&mut c).await;
    let table = fwatch(
        &server,
        &["records", "mmlu", "--as-of", "2025-01-01", "--split"],
    );
    assert!(table.contains("open weights"), "{table}");
    assert!(table.contains("TIME GAP DAYS"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains("prop-2") && l.contains("proprietary"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("80") && row.contains("214"), "{row}");
    let json: Value = serde_json::from_str(&fwatch(
        &server,
        &[
            "-o",
            "json",
            "records",
            "mmlu",
            "--as-of",
            "2025-01-01",
            "--open-weights",
        ],
    ))
    .unwrap();
    assert_eq!(
        json["sections"][0]["lines"][0]["access"],
        "ACCESS_FILTER_OPEN_WEIGHTS"
    );
    assert_eq!(
        json["sections"][0]["lines"][0]["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let yaml = fwatch(
        &server,
        &["-o", "yaml", "records", "mmlu", "--as-of", "2025-01-01"],
    );
    assert!(yaml.contains("saturation: SATURATION_ACTIVE"), "{yaml}");
    let csv = fwatch(
        &server,
        &["-o", "csv", "records", "mmlu", "--as-of", "2025-01-01"],
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[5], "SCORE");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert_eq!(
        (&rows[4][3], &rows[4][5]),
        ("models/open/releases/open-2", "82")
    );

    let quality = fwatch(&server, &["line-quality", "line"]);
    let regressed = quality.lines().filter(|l| l.contains("REGRESSED")).count();
    assert_eq!(regressed, 2, "{quality}");
    let csv = fwatch(
        &server,
        &["-o", "csv", "line-quality", "line", "--threshold", "3"],
    );
    assert_eq!(
        csv.lines().filter(|l| l.ends_with(",REGRESSED")).count(),
        1,
        "{csv}"
    );
    let json: Value =
        serde_json::from_str(&fwatch(&server, &["-o", "json", "line-quality", "line"])).unwrap();
    assert_eq!(json["releases"][1]["regressions"], 2);

    // Charts: PNG files a person can open.
    let dir = tempdir();
    for (args, file) in [
        (
            vec!["records", "mmlu", "--split", "--as-of", "2025-01-01"],
            "records.png",
        ),
        (vec!["line-quality", "line"], "quality.png"),
    ] {
        let path = dir.join(file);
        let mut full = args.clone();
        let text = path.to_str().unwrap().to_owned();
        full.extend(["--plot", text.as_str()]);
        fwatch(&server, &full);
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{file} is a PNG");
        // Drawn, not blank: a blank 1100×640 PNG compresses to a few kB.
        assert!(png.len() > 10_000, "{file}: {} bytes", png.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Bad input from the command line.
    let (code, _, err) = run_fwatch_status(
        &server,
        &["records", "mmlu", "--split", "--open-weights"],
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run_fwatch_status(&server, &["records", "nope"], None);
    assert_ne!(code, Some(0));
    assert!(err.contains("benchmarks/nope"), "{err}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fw-progress-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
