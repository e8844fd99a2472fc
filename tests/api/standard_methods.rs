//! Get, List, Create, Update and Delete of every resource.

use frontierwatch_proto::v1::*;
use prost_types::FieldMask;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::TestServer;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

#[tokio::test]
async fn every_resource_goes_through_its_standard_methods() {
    let server = TestServer::start().await;
    let mut c = server.client().await;

    // Create
    let xai = create_org(&mut c, "xai").await;
    assert_eq!(xai.name, "organizations/xai");
    assert!(xai.create_time.is_some() && !xai.etag.is_empty());
    let grok = create_model(&mut c, "grok", &["xai"]).await;
    assert_eq!(grok.name, "models/grok");
    let release = create_release(&mut c, "grok", "grok-4-5", release("Grok 4.5")).await;
    assert_eq!(release.name, "models/grok/releases/grok-4-5");
    let bench = create_benchmark(&mut c, "swe-bench-verified", ScoreScale::Percent, "coding").await;
    let result = create_result(&mut c, "", result(&release.name, &bench.name, 72.5)).await;
    assert!(
        result.name.starts_with("benchmarkResults/"),
        "{}",
        result.name
    );
    let disclosure = create_disclosure(
        &mut c,
        "colossus",
        disclosure("organizations/xai", DisclosureCategory::ComputeHardware),
    )
    .await;
    assert_eq!(disclosure.name, "disclosures/colossus");

    // Get returns what Create returned.
    let got = c
        .get_organization(GetOrganizationRequest {
            name: xai.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, xai);
    assert_eq!(
        c.get_model(GetModelRequest {
            name: grok.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        grok
    );
    assert_eq!(
        c.get_release(GetReleaseRequest {
            name: release.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        release
    );
    assert_eq!(
        c.get_benchmark(GetBenchmarkRequest {
            name: bench.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        bench
    );
    assert_eq!(
        c.get_benchmark_result(GetBenchmarkResultRequest {
            name: result.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        result
    );
    assert_eq!(
        c.get_disclosure(GetDisclosureRequest {
            name: disclosure.name.clone()
        })
        .await
        .unwrap()
        .into_inner(),
        disclosure
    );

    // Update
    let updated = c
        .update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: xai.name.clone(),
                website: "https://x.ai".into(),
                ..Default::default()
            }),
            update_mask: mask(&["website"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.website, "https://x.ai");
    assert_eq!(updated.display_name, xai.display_name);
    assert_eq!(updated.create_time, xai.create_time);
    assert_ne!(updated.etag, xai.etag);
    assert_ne!(updated.update_time, xai.update_time);

    let model = c
        .update_model(UpdateModelRequest {
            model: Some(Model {
                name: grok.name.clone(),
                description: "xAI's model line".into(),
                ..Default::default()
            }),
            update_mask: mask(&["description"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(model.description, "xAI's model line");
    assert_eq!(model.developers, vec!["organizations/xai".to_owned()]);

    let rel = c
        .update_release(UpdateReleaseRequest {
            release: Some(Release {
                name: release.name.clone(),
                stage: LifecycleStage::Deprecated as i32,
                ..Default::default()
            }),
            update_mask: mask(&["stage"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rel.stage, LifecycleStage::Deprecated as i32);
    assert_eq!(rel.display_name, "Grok 4.5");

    let b = c
        .update_benchmark(UpdateBenchmarkRequest {
            benchmark: Some(Benchmark {
                name: bench.name.clone(),
                version: "2024-08".into(),
                ..Default::default()
            }),
            update_mask: mask(&["version"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.version, "2024-08");

    let r = c
        .update_benchmark_result(UpdateBenchmarkResultRequest {
            benchmark_result: Some(BenchmarkResult {
                name: result.name.clone(),
                verification: VerificationStatus::Contested as i32,
                ..Default::default()
            }),
            update_mask: mask(&["verification"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.verification, VerificationStatus::Contested as i32);
    assert_eq!(r.score, 72.5);

    let d = c
        .update_disclosure(UpdateDisclosureRequest {
            disclosure: Some(Disclosure {
                name: disclosure.name.clone(),
                status: DisclosureStatus::PartiallyDisclosed as i32,
                ..Default::default()
            }),
            update_mask: mask(&["status"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.status, DisclosureStatus::PartiallyDisclosed as i32);

    // List
    let orgs = c
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(orgs.organizations, vec![updated.clone()]);
    assert!(orgs.next_page_token.is_empty());
    let n = |len: usize| len;
    assert_eq!(
        n(c.list_models(ListModelsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .models
            .len()),
        1
    );
    assert_eq!(
        c.list_releases(ListReleasesRequest {
            parent: "models/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .releases,
        vec![rel.clone()]
    );
    assert_eq!(
        c.list_benchmarks(ListBenchmarksRequest::default())
            .await
            .unwrap()
            .into_inner()
            .benchmarks,
        vec![b.clone()]
    );
    assert_eq!(
        c.list_benchmark_results(ListBenchmarkResultsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .benchmark_results,
        vec![r.clone()]
    );
    assert_eq!(
        c.list_disclosures(ListDisclosuresRequest::default())
            .await
            .unwrap()
            .into_inner()
            .disclosures,
        vec![d.clone()]
    );

    // Delete, dependents first.
    c.delete_disclosure(DeleteDisclosureRequest {
        name: d.name.clone(),
        etag: d.etag.clone(),
    })
    .await
    .unwrap();
    c.delete_benchmark_result(DeleteBenchmarkResultRequest {
        name: r.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_benchmark(DeleteBenchmarkRequest {
        name: b.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_release(DeleteReleaseRequest {
        name: rel.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_model(DeleteModelRequest {
        name: model.name.clone(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_organization(DeleteOrganizationRequest {
        name: updated.name.clone(),
        etag: updated.etag.clone(),
    })
    .await
    .unwrap();

    let gone = c
        .get_organization(GetOrganizationRequest {
            name: xai.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(reason(&gone), "RESOURCE_NOT_FOUND");
    let gone = c
        .delete_release(DeleteReleaseRequest {
            name: rel.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn creating_an_existing_name_answers_already_exists() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "openai").await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "openai".into(),
            organization: Some(Organization {
                display_name: "OpenAI".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(reason(&err), "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn a_delete_is_refused_while_the_resource_is_referenced() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "anthropic").await;
    create_model(&mut c, "claude", &["anthropic"]).await;
    create_release(&mut c, "claude", "claude-opus-4", release("Claude Opus 4")).await;

    for (name, err) in [
        (
            "models/claude",
            c.delete_model(DeleteModelRequest {
                name: "models/claude".into(),
                etag: String::new(),
            })
            .await
            .unwrap_err(),
        ),
        (
            "organizations/anthropic",
            c.delete_organization(DeleteOrganizationRequest {
                name: "organizations/anthropic".into(),
                etag: String::new(),
            })
            .await
            .unwrap_err(),
        ),
    ] {
        assert_eq!(err.code(), Code::FailedPrecondition, "{name}: {err:?}");
        assert_eq!(reason(&err), "RESOURCE_IN_USE");
    }
    // Nothing was deleted.
    c.get_model(GetModelRequest {
        name: "models/claude".into(),
    })
    .await
    .unwrap();

    // Once the release is gone, the model can go, then the organization.
    c.delete_release(DeleteReleaseRequest {
        name: "models/claude/releases/claude-opus-4".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_model(DeleteModelRequest {
        name: "models/claude".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    c.delete_organization(DeleteOrganizationRequest {
        name: "organizations/anthropic".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_reference_to_a_missing_resource_is_refused() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .create_model(CreateModelRequest {
            model_id: "gemini".into(),
            model: Some(Model {
                display_name: "Gemini".into(),
                developers: vec!["organizations/google-deepmind".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "REFERENCED_RESOURCE_NOT_FOUND");

    // A release under a model line that does not exist: its parent is missing.
    let err = c
        .create_release(CreateReleaseRequest {
            parent: "models/gemini".into(),
            release_id: "gemini-3".into(),
            release: Some(release("Gemini 3")),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

#[tokio::test]
async fn a_create_retried_with_its_request_id_creates_one_resource() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "xai").await;
    create_model(&mut c, "grok", &["xai"]).await;
    let rel = create_release(&mut c, "grok", "grok-4", release("Grok 4")).await;
    create_benchmark(&mut c, "hle", ScoreScale::Percent, "reasoning").await;

    let request = CreateBenchmarkResultRequest {
        benchmark_result_id: String::new(), // server-generated: a naive retry would duplicate
        benchmark_result: Some(result(&rel.name, "benchmarks/hle", 25.4)),
        request_id: "8d0f7c1e-3a3b-4c3e-9f59-1f0c2f0a9b11".into(),
    };
    let first = c
        .create_benchmark_result(request.clone())
        .await
        .unwrap()
        .into_inner();
    let second = c
        .create_benchmark_result(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, second);

    let all = c
        .list_benchmark_results(ListBenchmarkResultsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .benchmark_results;
    assert_eq!(all.len(), 1);
    let pool = server.pool().await;
    let (changes,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM changes WHERE resource_name = $1")
            .bind(&first.name)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(changes, 1);

    // The same id with another request is refused rather than silently answered.
    let mut other = request.clone();
    other.benchmark_result_id = "r-other".into();
    let err = c.create_benchmark_result(other).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");

    let mut bad = request;
    bad.request_id = "not-a-uuid".into();
    let err = c.create_benchmark_result(bad).await.unwrap_err();
    assert_invalid(&err, "request_id");
}
