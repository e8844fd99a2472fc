//! Leaderboards, comparisons, cadence, alerts, transparency and timelines on
//! fixtures with known answers.

use std::time::Duration;

use frontierwatch_proto::v1::*;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, TestServer, fresh_database, run_fwatch};
use crate::watch::server_with;
use crate::watch_support::{Msg, Recorder};

fn settings(shots: i32) -> Option<EvaluationSettings> {
    Some(EvaluationSettings {
        shots: Some(shots),
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
async fn result_on(
    c: &mut Client,
    id: &str,
    release: &str,
    score: f64,
    shots: i32,
    published: Date,
    verification: VerificationStatus,
    relation: EvaluatorRelation,
) {
    let mut r = result(release, "benchmarks/gpqa", score);
    r.settings = settings(shots);
    r.publish_date = Some(published);
    r.verification = verification as i32;
    r.evaluator_relation = relation as i32;
    create_result(c, id, r).await;
}

/// The resource names of the events of recorded messages.
fn event_names(messages: &[Msg]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|m| match m {
            Msg::Transaction { events, .. } => events.iter().map(|e| e.1.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Four labs' releases on GPQA (percent): under 5-shot settings, A 70 (Jan),
/// B 75 (Mar), C 75 (Mar, a tie), D 90 (Apr, contested), A2 80 (May,
/// third-party); under 0-shot, B 60.
async fn gpqa_world(c: &mut Client) {
    for org in ["lab-a", "lab-b", "lab-c", "lab-d"] {
        create_org(c, org).await;
    }
    create_model(c, "alpha", &["lab-a"]).await;
    create_model(c, "beta", &["lab-b"]).await;
    create_model(c, "gamma", &["lab-c"]).await;
    create_model(c, "delta", &["lab-d"]).await;
    let dated = |name: &str, y: i32, m: i32| {
        let mut r = release(name);
        r.release_date = Some(ApproximateDate {
            date: Some(date(y, m, 1)),
            precision: DatePrecision::Day as i32,
        });
        r
    };
    create_release(c, "alpha", "alpha-1", dated("Alpha 1", 2026, 1)).await;
    create_release(c, "alpha", "alpha-2", dated("Alpha 2", 2026, 5)).await;
    create_release(c, "beta", "beta-1", dated("Beta 1", 2026, 3)).await;
    create_release(c, "gamma", "gamma-1", dated("Gamma 1", 2026, 3)).await;
    create_release(c, "delta", "delta-1", dated("Delta 1", 2026, 4)).await;
    create_benchmark(c, "gpqa", ScoreScale::Percent, "science").await;
    use EvaluatorRelation::{FirstParty, ThirdParty};
    use VerificationStatus::{Contested, IndependentlyReproduced, SelfReported};
    result_on(
        c,
        "a1",
        "models/alpha/releases/alpha-1",
        70.0,
        5,
        date(2026, 1, 10),
        SelfReported,
        FirstParty,
    )
    .await;
    result_on(
        c,
        "b1",
        "models/beta/releases/beta-1",
        75.0,
        5,
        date(2026, 3, 10),
        SelfReported,
        FirstParty,
    )
    .await;
    result_on(
        c,
        "c1",
        "models/gamma/releases/gamma-1",
        75.0,
        5,
        date(2026, 3, 12),
        IndependentlyReproduced,
        ThirdParty,
    )
    .await;
    result_on(
        c,
        "d1",
        "models/delta/releases/delta-1",
        90.0,
        5,
        date(2026, 4, 2),
        Contested,
        FirstParty,
    )
    .await;
    result_on(
        c,
        "a2",
        "models/alpha/releases/alpha-2",
        80.0,
        5,
        date(2026, 5, 3),
        IndependentlyReproduced,
        ThirdParty,
    )
    .await;
    result_on(
        c,
        "b0",
        "models/beta/releases/beta-1",
        60.0,
        0,
        date(2026, 3, 10),
        SelfReported,
        FirstParty,
    )
    .await;
}

fn rows(board: &Leaderboard, key_shots: &str) -> Vec<(i32, bool, String, f64)> {
    board
        .sections
        .iter()
        .find(|s| s.settings_key.starts_with(key_shots))
        .map(|s| {
            s.rows
                .iter()
                .map(|r| {
                    (
                        r.rank,
                        r.tied,
                        r.release.rsplit('/').next().unwrap().to_owned(),
                        r.score,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn leaderboards_rank_like_for_like_with_ties_as_of_a_date_and_without_contested_results() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    gpqa_world(&mut c).await;
    let board = |r: GetLeaderboardRequest| {
        let mut c = c.clone();
        async move { c.get_leaderboard(r).await.unwrap().into_inner() }
    };
    let base = || GetLeaderboardRequest {
        benchmark: "benchmarks/gpqa".into(),
        ..Default::default()
    };

    // Now: contested delta-1 is left out; beta and gamma tie; 0-shot is its own section.
    let now = board(base()).await;
    assert_eq!(
        rows(&now, "shots=5"),
        vec![
            (1, false, "alpha-2".into(), 80.0),
            (2, true, "beta-1".into(), 75.0),
            (2, true, "gamma-1".into(), 75.0),
            (4, false, "alpha-1".into(), 70.0)
        ]
    );
    assert_eq!(
        rows(&now, "shots=0"),
        vec![(1, false, "beta-1".into(), 60.0)]
    );
    assert!(
        now.sections[0].rows[0]
            .provenance
            .as_ref()
            .is_some_and(|p| !p.sources.is_empty()),
        "rows carry provenance"
    );

    // As of the end of February only alpha-1 had published.
    let feb = board(GetLeaderboardRequest {
        as_of: Some(date(2026, 2, 28)),
        ..base()
    })
    .await;
    assert_eq!(
        rows(&feb, "shots=5"),
        vec![(1, false, "alpha-1".into(), 70.0)]
    );
    // As of mid-April, with disputed results included, the contested delta-1 leads.
    let april = board(GetLeaderboardRequest {
        as_of: Some(date(2026, 4, 15)),
        include_disputed: true,
        ..base()
    })
    .await;
    assert_eq!(
        rows(&april, "shots=5")[0],
        (1, false, "delta-1".into(), 90.0)
    );

    // First-party only, and one row per model line (best and latest).
    let first_party = board(GetLeaderboardRequest {
        evaluators: EvaluatorFilter::FirstPartyOnly as i32,
        ..base()
    })
    .await;
    assert_eq!(
        rows(&first_party, "shots=5"),
        vec![
            (1, false, "beta-1".into(), 75.0),
            (2, false, "alpha-1".into(), 70.0)
        ]
    );
    let per_model = board(GetLeaderboardRequest {
        grouping: LeaderboardGrouping::ModelBest as i32,
        ..base()
    })
    .await;
    assert_eq!(
        rows(&per_model, "shots=5")
            .iter()
            .map(|r| r.2.as_str())
            .collect::<Vec<_>>(),
        ["alpha-2", "beta-1", "gamma-1"]
    );
    let latest = board(GetLeaderboardRequest {
        grouping: LeaderboardGrouping::ModelLatest as i32,
        as_of: Some(date(2026, 3, 31)),
        ..base()
    })
    .await;
    assert_eq!(
        rows(&latest, "shots=5")
            .iter()
            .map(|r| r.2.as_str())
            .collect::<Vec<_>>(),
        ["beta-1", "gamma-1", "alpha-1"]
    );

    let err = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "gpqa".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "benchmark");
    let err = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn comparisons_are_like_for_like_and_report_what_is_not_comparable() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    gpqa_world(&mut c).await;
    // A release with only a 3-shot result: not comparable with the others.
    create_org(&mut c, "lab-e").await;
    create_model(&mut c, "eps", &["lab-e"]).await;
    create_release(&mut c, "eps", "eps-1", release("Eps 1")).await;
    result_on(
        &mut c,
        "e1",
        "models/eps/releases/eps-1",
        99.0,
        3,
        date(2026, 6, 1),
        VerificationStatus::SelfReported,
        EvaluatorRelation::FirstParty,
    )
    .await;

    let response = c
        .compare_releases(CompareReleasesRequest {
            releases: vec![
                "models/beta/releases/beta-1".into(),
                "models/alpha/releases/alpha-2".into(),
                "models/eps/releases/eps-1".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.comparisons.len(), 1);
    let gpqa = &response.comparisons[0];
    assert_eq!(gpqa.groups.len(), 1, "only the 5-shot settings are shared");
    let group = &gpqa.groups[0];
    assert!(group.settings_key.starts_with("shots=5"));
    let scores: Vec<(String, f64, f64, bool)> = group
        .scores
        .iter()
        .map(|s| {
            (
                s.release.rsplit('/').next().unwrap().to_owned(),
                s.score,
                s.delta,
                s.better,
            )
        })
        .collect();
    assert_eq!(
        scores,
        vec![
            ("beta-1".into(), 75.0, 0.0, false),
            ("alpha-2".into(), 80.0, 5.0, true)
        ]
    );
    let pairs: Vec<(String, String)> = gpqa
        .not_comparable
        .iter()
        .map(|n| (n.release_a.clone(), n.release_b.clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (
                "models/beta/releases/beta-1".into(),
                "models/eps/releases/eps-1".into()
            ),
            (
                "models/alpha/releases/alpha-2".into(),
                "models/eps/releases/eps-1".into()
            ),
        ]
    );
    assert!(gpqa.not_comparable[0].reason.contains("shots=3"));

    let err = c
        .compare_releases(CompareReleasesRequest {
            releases: vec!["models/beta/releases/beta-1".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "releases");
}

/// Lab M promises a model trained from scratch every month from January
/// 2026, 7 days' grace. Releases: Jan 10, Feb 27, Apr 3 (keeps March, 3 days
/// late), Apr 20, May 15 (a fine-tune: does not count), Jun 15.
pub async fn monthly_commitment(c: &mut Client, end: Option<Date>) {
    create_org(c, "lab-m").await;
    create_model(c, "mono", &["lab-m"]).await;
    for (id, (m, d), scratch) in [
        ("m-jan", (1, 10), true),
        ("m-feb", (2, 27), true),
        ("m-apr-a", (4, 3), true),
        ("m-apr-b", (4, 20), true),
        ("m-may", (5, 15), false),
        ("m-jun", (6, 15), true),
    ] {
        let mut r = release(id);
        r.release_date = Some(ApproximateDate {
            date: Some(date(2026, m, d)),
            precision: DatePrecision::Day as i32,
        });
        r.trained_from_scratch = Some(scratch);
        create_release(c, "mono", id, r).await;
    }
    c.create_commitment(CreateCommitmentRequest {
        commitment_id: "monthly".into(),
        commitment: Some(Commitment {
            organization: "organizations/lab-m".into(),
            model: "models/mono".into(),
            promise: "A new model trained from scratch every month.".into(),
            provenance: Some(source("https://example.com/promise")),
            made_date: Some(date(2025, 12, 15)),
            period: CommitmentPeriod::Monthly as i32,
            trained_from_scratch: true,
            start_date: Some(date(2026, 1, 1)),
            end_date: end,
            grace_days: 7,
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_monthly_commitment_gives_the_expected_windows_slips_kept_ratio_and_streak() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    monthly_commitment(&mut c, None).await;
    let report = c
        .get_cadence_report(GetCadenceReportRequest {
            commitment: "commitments/monthly".into(),
            as_of: Some(date(2026, 7, 15)),
        })
        .await
        .unwrap()
        .into_inner();
    use WindowStatus::*;
    let windows: Vec<(i32, i32, String, i32)> = report
        .windows
        .iter()
        .map(|w| {
            (
                w.start.unwrap().month,
                w.status,
                w.release.rsplit('/').next().unwrap_or_default().to_owned(),
                w.slip_days,
            )
        })
        .collect();
    assert_eq!(
        windows,
        vec![
            (1, Met as i32, "m-jan".into(), 0),
            (2, Met as i32, "m-feb".into(), 0),
            (3, MetLate as i32, "m-apr-a".into(), 3),
            (4, Met as i32, "m-apr-b".into(), 0),
            (5, Missed as i32, String::new(), 0),
            (6, Met as i32, "m-jun".into(), 0),
            (7, Pending as i32, String::new(), 0),
        ]
    );
    assert_eq!(report.windows[2].end, Some(date(2026, 3, 31)));
    assert_eq!(
        (report.met, report.met_late, report.missed, report.pending),
        (4, 1, 1, 1)
    );
    assert!((report.on_time_rate - 4.0 / 6.0).abs() < 1e-9);
    assert!((report.kept_ratio - 5.0 / 6.0).abs() < 1e-9);
    assert_eq!((report.mean_slip_days, report.max_slip_days), (3.0, 3));
    // Qualifying dates Jan 10, Feb 27, Apr 3, Apr 20, Jun 15: longest gap Apr 20 → Jun 15.
    assert_eq!(report.longest_gap_days, 56);
    assert_eq!(report.current_streak, 1, "June kept, May missed");
}

#[tokio::test]
async fn a_missed_window_puts_exactly_one_event_on_the_stream_with_two_evaluating_replicas() {
    let database = fresh_database().await;
    let env = vec![("FRONTIERWATCH_ALERT_SECONDS".to_owned(), "0.2".to_owned())];
    let a = server_with(&database, env.clone()).await;
    let b = server_with(&database, env).await;
    let mut watch_client = b.client().await;
    let alerts = Recorder::start(
        &mut watch_client,
        WatchRequest {
            resource_types: vec![ResourceType::Alert as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut c = a.client().await;
    // January to June: only May is missed.
    monthly_commitment(&mut c, Some(date(2026, 6, 30))).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages = alerts.stop();
    let events = event_names(&messages);
    assert_eq!(
        events,
        vec!["alerts/missed-monthly-20260501".to_owned()],
        "{messages:?}"
    );
    let pool = a.pool().await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM changes WHERE resource_type = 'frontierwatch.v1.Alert'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparency_totals_match_the_fmti_scores_for_all_thirteen_developers() {
    let server = TestServer::start().await;
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fmti");
    let (ok, _, err) = run_fwatch(
        &server,
        &["-o", "json", "import", "fmti", dir.to_str().unwrap()],
        None,
    );
    assert!(ok, "{err}");

    // The totals straight from the scores file: per developer column, the
    // indicators scored 1.
    let mut reader = csv::Reader::from_path(dir.join("Dec2025_scores.csv")).unwrap();
    let developers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let mut totals = vec![0; developers.len()];
    let mut indicators = 0;
    for record in reader.records() {
        let record = record.unwrap();
        indicators += 1;
        for (i, cell) in record.iter().skip(1).enumerate() {
            if cell.trim() == "1" {
                totals[i] += 1;
            }
        }
    }
    assert_eq!((developers.len(), indicators), (13, 100));

    let mut c = server.client().await;
    let orgs = c
        .list_organizations(ListOrganizationsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organizations;
    for (developer, expected) in developers.iter().zip(&totals) {
        let org = orgs
            .iter()
            .find(|o| o.display_name == *developer || o.aliases.contains(developer))
            .unwrap_or_else(|| panic!("{developer} was imported"));
        let report = c
            .get_transparency_report(GetTransparencyReportRequest {
                organization: org.name.clone(),
                index: "FMTI Dec 2025".into(),
                as_of: Some(date(2026, 1, 1)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let overall = report.overall.unwrap();
        assert_eq!(
            (overall.disclosed, overall.indicators),
            (*expected, 100),
            "{developer}"
        );
        let by_domain: i32 = report.domains.iter().map(|d| d.disclosed).sum();
        assert_eq!(by_domain, *expected);
        // Before the edition was published, it did not exist yet: an
        // answer that says so, not "0 of 100".
        let before = c
            .get_transparency_report(GetTransparencyReportRequest {
                organization: org.name.clone(),
                index: "FMTI Dec 2025".into(),
                as_of: Some(date(2025, 11, 1)),
                ..Default::default()
            })
            .await
            .expect_err("the edition did not exist yet");
        assert_eq!(before.code(), tonic::Code::FailedPrecondition, "{before:?}");
        assert!(before.message().contains("did not exist yet"), "{before:?}");
    }
}

#[tokio::test]
async fn a_timeline_lists_releases_and_stage_changes_in_date_order() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "xai").await;
    create_model(&mut c, "grok", &["xai"]).await;
    let mut r = release("Grok 4.5");
    r.announce_date = Some(ApproximateDate {
        date: Some(date(2026, 2, 1)),
        precision: DatePrecision::Day as i32,
    });
    r.release_date = Some(ApproximateDate {
        date: Some(date(2026, 4, 1)),
        precision: DatePrecision::Day as i32,
    });
    r.stage_history = vec![
        StageChange {
            stage: LifecycleStage::RestrictedPreview as i32,
            date: Some(ApproximateDate {
                date: Some(date(2026, 3, 1)),
                precision: DatePrecision::Day as i32,
            }),
            audience: "Tesla and SpaceX".into(),
            note: String::new(),
        },
        StageChange {
            stage: LifecycleStage::GenerallyAvailable as i32,
            date: Some(ApproximateDate {
                date: Some(date(2026, 4, 1)),
                precision: DatePrecision::Day as i32,
            }),
            ..Default::default()
        },
    ];
    create_release(&mut c, "grok", "grok-4-5", r).await;
    let mut old = release("Grok 4");
    old.release_date = Some(ApproximateDate {
        date: Some(date(2025, 7, 9)),
        precision: DatePrecision::Day as i32,
    });
    create_release(&mut c, "grok", "grok-4", old).await;
    for subject in ["models/grok", "organizations/xai"] {
        let timeline = c
            .get_timeline(GetTimelineRequest {
                subject: subject.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let events: Vec<(i32, i32, String)> = timeline
            .events
            .iter()
            .map(|e| {
                (
                    e.date.unwrap().date.unwrap().month,
                    e.kind,
                    e.audience.clone(),
                )
            })
            .collect();
        use TimelineEventKind::*;
        assert_eq!(
            events,
            vec![
                (7, Released as i32, String::new()),
                (2, Announced as i32, String::new()),
                (3, StageChanged as i32, "Tesla and SpaceX".into()),
                (4, Released as i32, String::new()),
                (4, StageChanged as i32, String::new()),
            ]
        );
    }
}

#[tokio::test]
async fn a_new_leader_on_a_leaderboard_is_announced_once_on_the_stream() {
    let database = fresh_database().await;
    let env = vec![("FRONTIERWATCH_ALERT_SECONDS".to_owned(), "0.2".to_owned())];
    let a = server_with(&database, env.clone()).await;
    let b = server_with(&database, env).await;
    let mut c = a.client().await;
    for org in ["lab-a", "lab-b"] {
        create_org(&mut c, org).await;
    }
    create_model(&mut c, "alpha", &["lab-a"]).await;
    create_model(&mut c, "beta", &["lab-b"]).await;
    create_release(&mut c, "alpha", "alpha-1", release("Alpha 1")).await;
    create_release(&mut c, "beta", "beta-1", release("Beta 1")).await;
    create_benchmark(&mut c, "gpqa", ScoreScale::Percent, "science").await;
    result_on(
        &mut c,
        "a1",
        "models/alpha/releases/alpha-1",
        70.0,
        5,
        date(2026, 1, 10),
        VerificationStatus::SelfReported,
        EvaluatorRelation::FirstParty,
    )
    .await;
    // The first leader is recorded, not announced.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut watch_client = b.client().await;
    let alerts = Recorder::start(
        &mut watch_client,
        WatchRequest {
            resource_types: vec![ResourceType::Alert as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    result_on(
        &mut c,
        "b1",
        "models/beta/releases/beta-1",
        75.0,
        5,
        date(2026, 2, 10),
        VerificationStatus::SelfReported,
        EvaluatorRelation::FirstParty,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = alerts.stop();
    let events = event_names(&messages);
    assert_eq!(events.len(), 1, "{messages:?}");
    let pool = a.pool().await;
    let (data,): (Vec<u8>,) = sqlx::query_as(
        "SELECT resource FROM changes WHERE resource_type = 'frontierwatch.v1.Alert'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let alert = <Alert as prost::Message>::decode(data.as_slice()).unwrap();
    assert_eq!(alert.kind, AlertKind::NewLeader as i32);
    assert_eq!(
        (alert.release.as_str(), alert.previous_release.as_str()),
        (
            "models/beta/releases/beta-1",
            "models/alpha/releases/alpha-1"
        )
    );
    assert_eq!(alert.subject, "benchmarks/gpqa");
}

#[tokio::test]
async fn a_benchmarks_canonical_settings_come_first_and_rows_carry_display_names() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    for id in ["a", "b", "c", "d"] {
        create_release(
            &mut c,
            "line",
            id,
            release(&format!("Line {}", id.to_uppercase())),
        )
        .await;
    }
    let zero_shot = EvaluationSettings {
        shots: Some(0),
        ..Default::default()
    };
    let five_shot = EvaluationSettings {
        shots: Some(5),
        ..Default::default()
    };
    let benchmark = |canonical: Option<EvaluationSettings>| Benchmark {
        display_name: "MMLU".into(),
        scale: ScoreScale::Percent as i32,
        direction: ScoreDirection::HigherIsBetter as i32,
        canonical_settings: canonical,
        ..Default::default()
    };
    // Refused: settings that no result could have.
    let status = c
        .create_benchmark(CreateBenchmarkRequest {
            benchmark_id: "bad".into(),
            benchmark: Some(benchmark(Some(EvaluationSettings {
                shots: Some(-1),
                ..Default::default()
            }))),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "benchmark.canonical_settings.shots");
    c.create_benchmark(CreateBenchmarkRequest {
        benchmark_id: "mmlu".into(),
        benchmark: Some(benchmark(None)),
        request_id: String::new(),
    })
    .await
    .unwrap();
    // Three 5-shot results, one 0-shot.
    for (id, settings, score) in [
        ("a", &five_shot, 80.0),
        ("b", &five_shot, 81.0),
        ("c", &five_shot, 82.0),
        ("d", &zero_shot, 70.0),
    ] {
        let mut r = result(
            &format!("models/line/releases/{id}"),
            "benchmarks/mmlu",
            score,
        );
        r.settings = Some(settings.clone());
        create_result(&mut c, &format!("r-{id}"), r).await;
    }
    let board = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.get_leaderboard(GetLeaderboardRequest {
                benchmark: "benchmarks/mmlu".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    // Without canonical settings the largest section leads.
    let before = board(&mut c).await;
    assert_eq!(before.sections[0].rows.len(), 3);
    let top = &before.sections[0].rows[0];
    assert_eq!(top.release_display_name, "Line C");
    assert_eq!(top.model_display_name, "Model line");
    // Named canonical, the 0-shot section leads, whatever its size.
    let mut mmlu: Benchmark = c
        .get_benchmark(GetBenchmarkRequest {
            name: "benchmarks/mmlu".into(),
        })
        .await
        .unwrap()
        .into_inner();
    mmlu.canonical_settings = Some(zero_shot.clone());
    c.update_benchmark(UpdateBenchmarkRequest {
        benchmark: Some(mmlu),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["canonical_settings".into()],
        }),
    })
    .await
    .unwrap();
    let after = board(&mut c).await;
    assert_eq!(after.sections.len(), 2);
    assert_eq!(after.sections[0].rows.len(), 1);
    assert_eq!(after.sections[0].rows[0].release_display_name, "Line D");
    assert_eq!(after.sections[1].rows.len(), 3);
    // Grouped boards name the rows too.
    let grouped = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/mmlu".into(),
            grouping: LeaderboardGrouping::ModelBest as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grouped.sections[0].rows[0].release_display_name, "Line D");
    assert_eq!(grouped.sections[0].rows[0].model_display_name, "Model line");
}

/// Sections come in one order whichever way the board is built (ranked in
/// the database, or per model line in the server): the largest section
/// first, by all its rows, not by the rows a small limit shows.
#[tokio::test]
async fn sections_are_ordered_alike_with_and_without_grouping_whatever_the_limit() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_benchmark(&mut c, "gpqa", ScoreScale::Percent, "reasoning").await;
    // Three model lines with a 5-shot result each; two with a 0-shot one.
    // "shots=0" sorts before "shots=5", so only the size puts 5-shot first.
    for (i, line) in ["l1", "l2", "l3"].iter().enumerate() {
        create_model(&mut c, line, &["lab"]).await;
        create_release(&mut c, line, "v1", release(&format!("{line} v1"))).await;
        let release = format!("models/{line}/releases/v1");
        let score = 60.0 + i as f64;
        result_on(
            &mut c,
            &format!("{line}-five"),
            &release,
            score,
            5,
            date(2025, 7, 1),
            VerificationStatus::SelfReported,
            EvaluatorRelation::FirstParty,
        )
        .await;
        if i < 2 {
            result_on(
                &mut c,
                &format!("{line}-zero"),
                &release,
                score - 10.0,
                0,
                date(2025, 7, 1),
                VerificationStatus::SelfReported,
                EvaluatorRelation::FirstParty,
            )
            .await;
        }
    }
    let mut orders = Vec::new();
    for grouping in [
        LeaderboardGrouping::Unspecified,
        LeaderboardGrouping::ModelBest,
        LeaderboardGrouping::ModelLatest,
    ] {
        for limit in [1, 2, 0] {
            let board = c
                .get_leaderboard(GetLeaderboardRequest {
                    benchmark: "benchmarks/gpqa".into(),
                    grouping: grouping as i32,
                    limit,
                    ..Default::default()
                })
                .await
                .expect("a leaderboard")
                .into_inner();
            let order: Vec<(String, usize)> = board
                .sections
                .iter()
                .map(|s| (s.settings_key.clone(), s.rows.len()))
                .collect();
            orders.push((grouping, limit, order));
        }
    }
    for (grouping, limit, order) in &orders {
        let keys: Vec<&str> = order.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 2, "{grouping:?} limit {limit}: {order:?}");
        assert!(
            keys[0].contains("shots=5") && keys[1].contains("shots=0"),
            "{grouping:?} limit {limit}: the 5-shot section has three rows and comes first: {order:?}"
        );
    }
}

/// A lower-is-better board keeps each release's lowest score, and of two
/// results with that score the earlier published; ties share a rank; the
/// grouped path ranks alike.
#[tokio::test]
async fn a_lower_is_better_board_keeps_each_releases_lowest_score_and_its_earliest_result() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    gpqa_world(&mut c).await;
    c.create_benchmark(CreateBenchmarkRequest {
        benchmark_id: "errors".into(),
        benchmark: Some(Benchmark {
            display_name: "Error rate".into(),
            scale: ScoreScale::Percent as i32,
            direction: ScoreDirection::LowerIsBetter as i32,
            category: "science".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .expect("the benchmark is created");
    use VerificationStatus::{Contested, SelfReported};
    for (id, release, score, published, verification) in [
        ("e1", "alpha-1", 30.0, date(2026, 1, 10), SelfReported),
        ("e2", "alpha-1", 20.0, date(2026, 2, 10), SelfReported),
        ("e3", "beta-1", 20.0, date(2026, 3, 12), SelfReported),
        ("e4", "beta-1", 20.0, date(2026, 3, 10), SelfReported),
        ("e5", "beta-1", 25.0, date(2026, 3, 1), SelfReported),
        ("e6", "gamma-1", 50.0, date(2026, 3, 1), SelfReported),
        ("e7", "delta-1", 10.0, date(2026, 4, 1), Contested),
    ] {
        let model = release.split('-').next().unwrap();
        let mut r = result(
            &format!("models/{model}/releases/{release}"),
            "benchmarks/errors",
            score,
        );
        r.settings = settings(5);
        r.publish_date = Some(published);
        r.verification = verification as i32;
        create_result(&mut c, id, r).await;
    }
    let board = |grouping: LeaderboardGrouping, include_disputed: bool| {
        let mut c = c.clone();
        async move {
            c.get_leaderboard(GetLeaderboardRequest {
                benchmark: "benchmarks/errors".into(),
                grouping: grouping as i32,
                include_disputed,
                ..Default::default()
            })
            .await
            .expect("the board is read")
            .into_inner()
        }
    };
    let picked = |board: &Leaderboard| -> Vec<String> {
        board.sections[0]
            .rows
            .iter()
            .map(|r| r.benchmark_result.clone())
            .collect()
    };

    let ranked = board(LeaderboardGrouping::Unspecified, false).await;
    assert_eq!(ranked.direction, ScoreDirection::LowerIsBetter as i32);
    assert_eq!(
        rows(&ranked, "shots=5"),
        vec![
            (1, true, "alpha-1".into(), 20.0),
            (1, true, "beta-1".into(), 20.0),
            (3, false, "gamma-1".into(), 50.0),
        ]
    );
    assert_eq!(
        picked(&ranked),
        [
            "benchmarkResults/e2",
            "benchmarkResults/e4",
            "benchmarkResults/e6"
        ]
    );
    let grouped = board(LeaderboardGrouping::ModelBest, false).await;
    assert_eq!(rows(&grouped, "shots=5"), rows(&ranked, "shots=5"));
    assert_eq!(picked(&grouped), picked(&ranked));

    let disputed = board(LeaderboardGrouping::Unspecified, true).await;
    assert_eq!(
        rows(&disputed, "shots=5")[0],
        (1, false, "delta-1".into(), 10.0)
    );
}
