//! Update masks and etags.

use frontierwatch_proto::v1::*;
use prost_types::FieldMask;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, TestServer};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn scored_result(c: &mut Client) -> BenchmarkResult {
    create_org(c, "openai").await;
    create_model(c, "gpt", &["openai"]).await;
    create_release(c, "gpt", "gpt-5", release("GPT-5")).await;
    create_benchmark(c, "aime", ScoreScale::Percent, "math").await;
    let mut r = result("models/gpt/releases/gpt-5", "benchmarks/aime", 94.6);
    r.settings = Some(EvaluationSettings {
        shots: Some(0),
        chain_of_thought: Some(true),
        harness: "internal".into(),
        ..Default::default()
    });
    r.evaluator = "organizations/openai".into();
    create_result(c, "gpt5-aime", r).await
}

#[tokio::test]
async fn an_update_mask_changes_only_the_named_fields() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let original = scored_result(&mut c).await;

    // The patch carries other changed fields too; only the masked one lands.
    let updated = c
        .update_benchmark_result(UpdateBenchmarkResultRequest {
            benchmark_result: Some(BenchmarkResult {
                name: original.name.clone(),
                score: 90.0,
                raw_value: "90%".into(),
                settings: Some(EvaluationSettings {
                    shots: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: mask(&["settings.shots"]),
        })
        .await
        .unwrap()
        .into_inner();
    let settings = updated.settings.clone().unwrap();
    assert_eq!(settings.shots, Some(5));
    assert_eq!(
        settings.chain_of_thought,
        Some(true),
        "sibling of a nested path survives"
    );
    assert_eq!(settings.harness, "internal");
    assert_eq!(updated.score, 94.6);
    assert_eq!(updated.raw_value, original.raw_value);

    // No mask: every field set in the patch.
    let updated = c
        .update_benchmark_result(UpdateBenchmarkResultRequest {
            benchmark_result: Some(BenchmarkResult {
                name: original.name.clone(),
                score: 93.3,
                raw_value: "93.3%".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.score, updated.raw_value.as_str()), (93.3, "93.3%"));
    assert_eq!(updated.evaluator, "organizations/openai");
    assert_eq!(updated.settings.unwrap().shots, Some(5));

    // A masked field absent from the patch is cleared.
    let updated = c
        .update_benchmark_result(UpdateBenchmarkResultRequest {
            benchmark_result: Some(BenchmarkResult {
                name: original.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["evaluator"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.evaluator, "");
}

#[tokio::test]
async fn update_masks_that_name_unknown_output_only_or_immutable_fields_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let original = scored_result(&mut c).await;
    let patch = |paths: &[&str], r: BenchmarkResult| UpdateBenchmarkResultRequest {
        benchmark_result: Some(BenchmarkResult {
            name: original.name.clone(),
            ..r
        }),
        update_mask: mask(paths),
    };
    for paths in [
        &["no_such_field"][..],
        &["create_time"],
        &["etag"],
        &["score.value"],
        &["provenance.sources.uri"],
    ] {
        let err = c
            .update_benchmark_result(patch(paths, BenchmarkResult::default()))
            .await
            .unwrap_err();
        assert_invalid(&err, "update_mask.paths");
    }
    let err = c
        .update_benchmark_result(patch(
            &["benchmark"],
            BenchmarkResult {
                benchmark: "benchmarks/other".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_invalid(&err, "benchmark_result.benchmark");

    // The update that fails validation after the mask writes nothing.
    let err = c
        .update_benchmark_result(patch(
            &["score"],
            BenchmarkResult {
                score: 140.0,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_invalid(&err, "benchmark_result.score");
    let stored = c
        .get_benchmark_result(GetBenchmarkResultRequest {
            name: original.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, original);
}

#[tokio::test]
async fn a_stale_etag_answers_aborted_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let v1 = create_org(&mut c, "mistral").await;
    let v2 = c
        .update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: v1.name.clone(),
                etag: v1.etag.clone(),
                country: "FR".into(),
                ..Default::default()
            }),
            update_mask: mask(&["country"]),
        })
        .await
        .unwrap()
        .into_inner();

    let err = c
        .update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: v1.name.clone(),
                etag: v1.etag.clone(),
                website: "https://mistral.ai".into(),
                ..Default::default()
            }),
            update_mask: mask(&["website"]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(reason(&err), "ETAG_MISMATCH");

    let err = c
        .delete_organization(DeleteOrganizationRequest {
            name: v1.name.clone(),
            etag: v1.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);

    let stored = c
        .get_organization(GetOrganizationRequest {
            name: v1.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, v2);
    c.delete_organization(DeleteOrganizationRequest {
        name: v2.name.clone(),
        etag: v2.etag.clone(),
    })
    .await
    .unwrap();
}

/// A benchmark's scale cannot change under results it would leave off the
/// scale; once they fit, it can.
#[tokio::test]
async fn a_scale_change_that_would_leave_results_off_the_scale_is_refused() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    let rel = create_release(&mut c, "line", "v1", release("V1")).await;
    let bench = create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    create_result(&mut c, "high", result(&rel.name, &bench.name, 85.0)).await;
    let to_fraction = UpdateBenchmarkRequest {
        benchmark: Some(Benchmark {
            name: bench.name.clone(),
            scale: ScoreScale::Fraction as i32,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["scale".into()],
        }),
    };
    let err = c
        .update_benchmark(to_fraction.clone())
        .await
        .expect_err("85 is not a fraction");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "RESULTS_OFF_SCALE");
    let stored = c
        .get_benchmark(GetBenchmarkRequest {
            name: bench.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.scale, ScoreScale::Percent as i32, "nothing changed");
    c.delete_benchmark_result(DeleteBenchmarkResultRequest {
        name: "benchmarkResults/high".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    create_result(&mut c, "low", result(&rel.name, &bench.name, 0.85)).await;
    c.update_benchmark(to_fraction)
        .await
        .expect("every result fits the new scale");
}
