//! Valid resources to build tests from, and assertions on error details.

use frontierwatch_proto::v1::*;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::harness::Client;

pub fn source(uri: &str) -> Provenance {
    Provenance {
        sources: vec![Source {
            uri: uri.to_owned(),
            publisher: "Test".to_owned(),
            kind: SourceKind::VendorAnnouncement as i32,
            publish_time: None,
            retrieve_time: None,
        }],
    }
}

pub fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

/// The request that creates the organization `id`.
pub fn org_request(id: &str) -> CreateOrganizationRequest {
    CreateOrganizationRequest {
        organization_id: id.to_owned(),
        organization: Some(Organization {
            display_name: format!("Org {id}"),
            country: "US".to_owned(),
            kind: OrganizationKind::Company as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

/// An ImportResources item for the organization `id`.
pub fn org_import_item(line: i64, id: &str) -> ImportItem {
    ImportItem {
        line,
        resource: Some(import_item::Resource::Organization(Organization {
            name: format!("organizations/{id}"),
            display_name: format!("Org {id}"),
            country: "US".to_owned(),
            website: "https://example.com".to_owned(),
            ..Default::default()
        })),
    }
}

pub async fn create_org(client: &mut Client, id: &str) -> Organization {
    client
        .create_organization(org_request(id))
        .await
        .expect("organization is created")
        .into_inner()
}

pub async fn create_model(client: &mut Client, id: &str, developers: &[&str]) -> Model {
    client
        .create_model(CreateModelRequest {
            model_id: id.to_owned(),
            model: Some(Model {
                display_name: format!("Model {id}"),
                developers: developers
                    .iter()
                    .map(|d| format!("organizations/{d}"))
                    .collect(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("model is created")
        .into_inner()
}

pub fn release(display_name: &str) -> Release {
    Release {
        display_name: display_name.to_owned(),
        stage: LifecycleStage::GenerallyAvailable as i32,
        release_date: Some(ApproximateDate {
            date: Some(date(2025, 7, 9)),
            precision: DatePrecision::Day as i32,
        }),
        provenance: Some(source("https://example.com/release")),
        ..Default::default()
    }
}

pub async fn create_release(
    client: &mut Client,
    model: &str,
    id: &str,
    release: Release,
) -> Release {
    client
        .create_release(CreateReleaseRequest {
            parent: format!("models/{model}"),
            release_id: id.to_owned(),
            release: Some(release),
            request_id: String::new(),
        })
        .await
        .expect("release is created")
        .into_inner()
}

pub async fn create_benchmark(
    client: &mut Client,
    id: &str,
    scale: ScoreScale,
    category: &str,
) -> Benchmark {
    client
        .create_benchmark(CreateBenchmarkRequest {
            benchmark_id: id.to_owned(),
            benchmark: Some(Benchmark {
                display_name: format!("Bench {id}"),
                scale: scale as i32,
                direction: ScoreDirection::HigherIsBetter as i32,
                category: category.to_owned(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("benchmark is created")
        .into_inner()
}

pub fn result(release: &str, benchmark: &str, score: f64) -> BenchmarkResult {
    BenchmarkResult {
        release: release.to_owned(),
        benchmark: benchmark.to_owned(),
        score,
        raw_value: format!("{score}"),
        verification: VerificationStatus::SelfReported as i32,
        evaluator_relation: EvaluatorRelation::FirstParty as i32,
        publish_date: Some(date(2025, 7, 10)),
        provenance: Some(source("https://example.com/result")),
        ..Default::default()
    }
}

pub async fn create_result(
    client: &mut Client,
    id: &str,
    result: BenchmarkResult,
) -> BenchmarkResult {
    client
        .create_benchmark_result(CreateBenchmarkResultRequest {
            benchmark_result_id: id.to_owned(),
            benchmark_result: Some(result),
            request_id: String::new(),
        })
        .await
        .expect("result is created")
        .into_inner()
}

pub fn disclosure(subject: &str, category: DisclosureCategory) -> Disclosure {
    Disclosure {
        subject: subject.to_owned(),
        category: category as i32,
        status: DisclosureStatus::Disclosed as i32,
        statement: "Trained on a cluster of accelerators.".to_owned(),
        publish_date: Some(date(2025, 8, 1)),
        provenance: Some(source("https://example.com/disclosure")),
        ..Default::default()
    }
}

pub async fn create_disclosure(
    client: &mut Client,
    id: &str,
    disclosure: Disclosure,
) -> Disclosure {
    client
        .create_disclosure(CreateDisclosureRequest {
            disclosure_id: id.to_owned(),
            disclosure: Some(disclosure),
            request_id: String::new(),
        })
        .await
        .expect("disclosure is created")
        .into_inner()
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_else(|| panic!("status has no ErrorInfo: {status:?}"))
}

/// Asserts INVALID_ARGUMENT with a field violation naming `field`.
pub fn assert_invalid(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details: {status:?}"));
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert!(
        fields.contains(&field),
        "expected a violation of {field}, got {fields:?}"
    );
    assert_eq!(reason(status), "INVALID_ARGUMENT");
}

/// Stores `n` organizations of about 1 KB each straight into the table:
/// enough state that a snapshot does not fit in the buffers of a watcher
/// that does not read.
pub async fn store_large_organizations(pool: &sqlx::PgPool, n: i64) {
    sqlx::query(
        "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
         SELECT 'organizations/o' || i, 'organization', \
                '\\x12e807'::bytea || convert_to(repeat('a', 1000), 'UTF8'), 'e', now(), now() \
           FROM generate_series(1, $1) i",
    )
    .bind(n)
    .execute(pool)
    .await
    .expect("resources are stored");
}

/// USD `amount`.
pub fn usd(amount: &str) -> Price {
    Price {
        amount: amount.to_owned(),
        currency_code: "USD".to_owned(),
    }
}

/// Terms from `effective` on at these USD prices per million tokens.
pub fn terms(effective: Date, input: &str, output: &str) -> OfferingTerms {
    OfferingTerms {
        effective_date: Some(effective),
        input_price: Some(usd(input)),
        output_price: Some(usd(output)),
        context_window: 200_000,
        max_output_tokens: 8192,
        input_modalities: vec![Modality::Text as i32],
        output_modalities: vec![Modality::Text as i32],
        features: vec![OfferingFeature::FunctionCalling as i32],
        ..Default::default()
    }
}

/// An offering `name` of `release` by `provider` at $3/$15 from 2025-01-01.
pub fn offering(name: &str, release: &str, provider: &str) -> Offering {
    Offering {
        name: name.to_owned(),
        release: release.to_owned(),
        provider: provider.to_owned(),
        provider_model_id: "model-2025".to_owned(),
        terms: vec![terms(date(2025, 1, 1), "3", "15")],
        deployment_target: DeploymentTarget::Cloud as i32,
        provenance: Some(source("https://example.com/pricing")),
        ..Default::default()
    }
}
