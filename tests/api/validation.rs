//! Invalid input answers INVALID_ARGUMENT naming the offending field, and
//! writes nothing.

use frontierwatch_proto::v1::*;

use crate::fixtures::*;
use crate::harness::TestServer;

#[tokio::test]
async fn empty_and_malformed_names_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    for name in [
        "",
        "organizations/",
        "organizations/XAI",
        "models/grok",
        "organizations/x/y",
        "organizations/-x",
    ] {
        let err = c
            .get_organization(GetOrganizationRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_invalid(&err, "name");
    }
    let err = c
        .delete_release(DeleteReleaseRequest {
            name: "models/grok".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "name");
    for id in [
        "",
        "Has-Caps",
        "9starts-with-digit",
        "ends-",
        &"x".repeat(64),
    ] {
        let err = c
            .create_organization(CreateOrganizationRequest {
                organization_id: id.to_owned(),
                organization: Some(Organization {
                    display_name: "X".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "organization_id");
    }
    let err = c
        .update_model(UpdateModelRequest {
            model: Some(Model {
                name: "nope".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "model.name");
}

#[tokio::test]
async fn a_release_under_a_wrong_parent_is_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "xai").await;
    for parent in ["organizations/xai", "", "models/grok/releases/grok-4"] {
        let err = c
            .create_release(CreateReleaseRequest {
                parent: parent.into(),
                release_id: "grok-5".into(),
                release: Some(release("Grok 5")),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "parent");
    }
}

#[tokio::test]
async fn a_score_outside_the_benchmarks_scale_is_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "meta").await;
    create_model(&mut c, "llama", &["meta"]).await;
    create_release(&mut c, "llama", "llama-4", release("Llama 4")).await;
    create_benchmark(&mut c, "mmlu", ScoreScale::Fraction, "knowledge").await;
    create_benchmark(&mut c, "gpqa", ScoreScale::Percent, "science").await;
    let rel = "models/llama/releases/llama-4";
    for (bench, score) in [
        ("benchmarks/mmlu", 85.2),
        ("benchmarks/mmlu", -0.1),
        ("benchmarks/gpqa", 100.5),
    ] {
        let err = c
            .create_benchmark_result(CreateBenchmarkResultRequest {
                benchmark_result_id: String::new(),
                benchmark_result: Some(result(rel, bench, score)),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "benchmark_result.score");
    }
    // On the scale, it is accepted.
    create_result(&mut c, "ok", result(rel, "benchmarks/mmlu", 0.852)).await;
    let mut r = result(rel, "benchmarks/gpqa", 60.0);
    r.confidence_interval = Some(ConfidenceInterval {
        low: 55.0,
        high: 101.0,
        level: 0.95,
    });
    let err = c
        .create_benchmark_result(CreateBenchmarkResultRequest {
            benchmark_result_id: "ci".into(),
            benchmark_result: Some(r),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "benchmark_result.confidence_interval.high");
}

#[tokio::test]
async fn unknown_enum_values_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "x".into(),
            organization: Some(Organization {
                display_name: "X".into(),
                kind: 99,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization.kind");

    create_org(&mut c, "xai").await;
    create_model(&mut c, "grok", &["xai"]).await;
    let mut r = release("Grok 4.5");
    r.deployment_targets = vec![DeploymentTarget::EdgeDevice as i32, 77];
    r.provenance.as_mut().unwrap().sources[0].kind = 12;
    let err = c
        .create_release(CreateReleaseRequest {
            parent: "models/grok".into(),
            release_id: "grok-4-5".into(),
            release: Some(r),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "release.deployment_targets[1]");
    assert_invalid(&err, "release.provenance.sources[0].kind");
}

#[tokio::test]
async fn oversized_strings_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "big".into(),
            organization: Some(Organization {
                display_name: "x".repeat(1025),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization.display_name");

    create_org(&mut c, "xai").await;
    let mut d = disclosure(
        "organizations/xai",
        DisclosureCategory::TrainingDataProvenance,
    );
    d.statement = "s".repeat(65_537);
    let err = c
        .create_disclosure(CreateDisclosureRequest {
            disclosure_id: String::new(),
            disclosure: Some(d.clone()),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "disclosure.statement");
    // A long statement within the limit is fine.
    d.statement = "s".repeat(10_000);
    create_disclosure(&mut c, "long", d).await;
}

#[tokio::test]
async fn missing_required_fields_and_sources_are_named() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "x".into(),
            organization: None,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization");
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "x".into(),
            organization: Some(Organization {
                country: "usa".into(),
                website: "ftp://x".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization.display_name");
    assert_invalid(&err, "organization.country");
    assert_invalid(&err, "organization.website");

    create_org(&mut c, "xai").await;
    create_model(&mut c, "grok", &["xai"]).await;
    let mut r = release("Grok 4");
    r.provenance = None;
    r.parameter_count = Some(Estimate {
        value: 1e12,
        low: Some(2e12),
        high: None,
        ..Default::default()
    });
    r.release_date = Some(ApproximateDate {
        date: Some(date(2025, 13, 1)),
        precision: DatePrecision::Day as i32,
    });
    let err = c
        .create_release(CreateReleaseRequest {
            parent: "models/grok".into(),
            release_id: "grok-4".into(),
            release: Some(r),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "release.provenance.sources");
    assert_invalid(&err, "release.parameter_count.low");
    assert_invalid(&err, "release.release_date.date");

    let err = c
        .create_model(CreateModelRequest {
            model_id: "m".into(),
            model: Some(Model {
                display_name: "M".into(),
                developers: vec![],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "model.developers");
    // Nothing of the above was written.
    let pool = server.pool().await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM resources")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
}

/// Strings with a NUL character are refused INVALID_ARGUMENT, naming the
/// field, whatever the method (PostgreSQL text cannot hold U+0000); before,
/// some answered INTERNAL and others stored it.
#[tokio::test]
async fn a_nul_character_in_any_string_is_invalid_and_names_the_field() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    let err = c
        .list_indicators(ListIndicatorsRequest {
            index: "a\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "index");
    let err = c
        .create_benchmark(CreateBenchmarkRequest {
            benchmark_id: "b".into(),
            benchmark: Some(Benchmark {
                display_name: "B".into(),
                category: "\0".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "benchmark.category");
    let err = c
        .get_transparency_report(GetTransparencyReportRequest {
            organization: "organizations/lab".into(),
            index: "x\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "index");
    let mut org = Organization {
        display_name: "Org".into(),
        aliases: vec!["fine".into(), "not\0fine".into()],
        ..Default::default()
    };
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "nul".into(),
            organization: Some(org.clone()),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization.aliases[1]");
    // Nothing was written; the same request without the NUL succeeds.
    org.aliases.pop();
    c.create_organization(CreateOrganizationRequest {
        organization_id: "nul".into(),
        organization: Some(org),
        request_id: String::new(),
    })
    .await
    .expect("without the NUL it is created");
}

/// Days must be 1 to 31 (or 0 for unknown) and timestamps printable by
/// the JSON mapping; negative days and out-of-range timestamps were stored.
#[tokio::test]
async fn negative_days_and_out_of_range_timestamps_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    let mut r = release("R");
    r.release_date = Some(ApproximateDate {
        date: Some(date(2025, 3, -1)),
        precision: DatePrecision::Day as i32,
    });
    let err = c
        .create_release(CreateReleaseRequest {
            parent: "models/line".into(),
            release_id: "r".into(),
            release: Some(r),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "release.release_date.date");
    for (seconds, nanos) in [(i64::MAX, 0), (0, -1), (-62_135_596_801, 0)] {
        let mut r = release("R");
        if let Some(p) = r.provenance.as_mut() {
            p.sources[0].publish_time = Some(prost_types::Timestamp { seconds, nanos });
        }
        let err = c
            .create_release(CreateReleaseRequest {
                parent: "models/line".into(),
                release_id: "r".into(),
                release: Some(r),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "release.provenance.sources[0].publish_time");
    }
    let err = c
        .create_commitment(CreateCommitmentRequest {
            commitment_id: "c".into(),
            commitment: Some(Commitment {
                organization: "organizations/lab".into(),
                promise: "Monthly".into(),
                provenance: Some(source("https://example.com/p")),
                period: CommitmentPeriod::Monthly as i32,
                start_date: Some(date(2026, 1, i32::MIN)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "commitment.start_date");
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    let err = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/bench".into(),
            as_of: Some(date(2025, 1, -5)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "as_of");
}

/// Repeated fields of a resource hold at most 1,000 items.
#[tokio::test]
async fn a_repeated_field_over_its_limit_is_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "many".into(),
            organization: Some(Organization {
                display_name: "Many".into(),
                aliases: (0..1001).map(|i| format!("a{i}")).collect(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "organization.aliases");
}
