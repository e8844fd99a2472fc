//! Pagination and every List filter.

use frontierwatch_proto::v1::*;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, TestServer};

#[tokio::test]
async fn pages_cover_every_resource_once_in_name_order() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let ids = ["a1", "a2", "b1", "b2", "c1", "c2", "d1"];
    for id in ids {
        create_org(&mut c, id).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_organizations(ListOrganizationsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.organizations.len() <= 3);
        seen.extend(page.organizations.into_iter().map(|o| o.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = ids.iter().map(|id| format!("organizations/{id}")).collect();
    assert_eq!(seen, expected);

    // A page that ends exactly at the last item has no next token.
    let page = c
        .list_organizations(ListOrganizationsRequest {
            page_size: 7,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.organizations.len(), 7);
    assert!(page.next_page_token.is_empty());
}

#[tokio::test]
async fn bad_page_sizes_and_foreign_page_tokens_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    for id in ["a", "b", "c"] {
        create_org(&mut c, id).await;
    }
    let err = c
        .list_organizations(ListOrganizationsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "page_size");

    let err = c
        .list_organizations(ListOrganizationsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "page_token");

    // A token is bound to the filters it was issued for.
    let page = c
        .list_organizations(ListOrganizationsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = c
        .list_organizations(ListOrganizationsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            country: "FR".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "page_token");
}

async fn names<T, F>(fut: F) -> Vec<String>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    T: Named,
{
    let mut names = fut.await.expect("list succeeds").into_inner().names();
    names.sort();
    names
}

trait Named {
    fn names(self) -> Vec<String>;
}

macro_rules! named {
    ($($resp:ty => $field:ident),*) => {$(
        impl Named for $resp {
            fn names(self) -> Vec<String> {
                self.$field.into_iter().map(|r| r.name).collect()
            }
        }
    )*};
}
named!(
    ListOrganizationsResponse => organizations,
    ListModelsResponse => models,
    ListReleasesResponse => releases,
    ListBenchmarksResponse => benchmarks,
    ListBenchmarkResultsResponse => benchmark_results,
    ListDisclosuresResponse => disclosures
);

fn range(start: Date, end: Date) -> Option<DateRange> {
    Some(DateRange {
        start: Some(start),
        end: Some(end),
    })
}

/// Two labs, Google owning DeepMind; two model lines; three releases; two
/// benchmarks; results and disclosures spread across them.
async fn world(c: &mut Client) {
    create_org(c, "google").await;
    c.create_organization(CreateOrganizationRequest {
        organization_id: "google-deepmind".into(),
        organization: Some(Organization {
            display_name: "Google DeepMind".into(),
            aliases: vec!["DeepMind".into()],
            country: "GB".into(),
            kind: OrganizationKind::ResearchLab as i32,
            parent: "organizations/google".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    create_org(c, "xai").await;
    create_model(c, "gemini", &["google-deepmind", "google"]).await;
    create_model(c, "grok", &["xai"]).await;

    let mut g25 = release("Gemini 2.5");
    g25.release_date = Some(ApproximateDate {
        date: Some(date(2025, 3, 25)),
        precision: DatePrecision::Day as i32,
    });
    create_release(c, "gemini", "gemini-2-5", g25).await;
    let mut g3 = release("Gemini 3");
    g3.stage = LifecycleStage::PublicPreview as i32;
    g3.release_date = Some(ApproximateDate {
        date: Some(date(2025, 11, 18)),
        precision: DatePrecision::Day as i32,
    });
    create_release(c, "gemini", "gemini-3", g3).await;
    let mut grok = release("Grok 4.5");
    grok.stage = LifecycleStage::RestrictedPreview as i32;
    grok.audience = "Tesla and SpaceX".into();
    grok.release_date = Some(ApproximateDate {
        date: Some(date(2025, 12, 1)),
        precision: DatePrecision::Month as i32,
    });
    create_release(c, "grok", "grok-4-5", grok).await;

    create_benchmark(c, "mmlu", ScoreScale::Fraction, "knowledge").await;
    create_benchmark(c, "swe-bench", ScoreScale::Percent, "coding").await;

    let mut r = result("models/gemini/releases/gemini-2-5", "benchmarks/mmlu", 0.86);
    r.publish_date = Some(date(2025, 3, 26));
    create_result(c, "g25-mmlu", r).await;
    let mut r = result(
        "models/gemini/releases/gemini-3",
        "benchmarks/swe-bench",
        76.2,
    );
    r.verification = VerificationStatus::IndependentlyReproduced as i32;
    r.publish_date = Some(date(2025, 11, 18));
    create_result(c, "g3-swe", r).await;
    let mut r = result(
        "models/grok/releases/grok-4-5",
        "benchmarks/swe-bench",
        75.0,
    );
    r.publish_date = Some(date(2025, 12, 2));
    create_result(c, "grok-swe", r).await;

    create_disclosure(
        c,
        "d-google-tpu",
        disclosure(
            "organizations/google",
            DisclosureCategory::CustomAccelerator,
        ),
    )
    .await;
    let mut d = disclosure(
        "models/gemini/releases/gemini-3",
        DisclosureCategory::TrainingDataProvenance,
    );
    d.status = DisclosureStatus::NotDisclosed as i32;
    d.publish_date = Some(date(2025, 11, 20));
    create_disclosure(c, "d-gemini3-data", d).await;
    let mut d = disclosure("models/grok", DisclosureCategory::DeploymentTarget);
    d.publish_date = Some(date(2025, 12, 5));
    create_disclosure(c, "d-grok-satellite", d).await;
}

#[tokio::test]
async fn every_filter_selects_exactly_its_resources() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    world(&mut c).await;

    // Organizations
    assert_eq!(
        names(c.list_organizations(ListOrganizationsRequest {
            parent_organization: "organizations/google".into(),
            ..Default::default()
        }))
        .await,
        ["organizations/google-deepmind"]
    );
    assert_eq!(
        names(c.list_organizations(ListOrganizationsRequest {
            kind: OrganizationKind::ResearchLab as i32,
            ..Default::default()
        }))
        .await,
        ["organizations/google-deepmind"]
    );
    assert_eq!(
        names(c.list_organizations(ListOrganizationsRequest {
            country: "US".into(),
            ..Default::default()
        }))
        .await,
        ["organizations/google", "organizations/xai"]
    );

    // Models
    assert_eq!(
        names(c.list_models(ListModelsRequest {
            developer: "organizations/google".into(),
            ..Default::default()
        }))
        .await,
        ["models/gemini"]
    );

    // Releases
    let all = || ListReleasesRequest {
        parent: "models/-".into(),
        ..Default::default()
    };
    assert_eq!(names(c.list_releases(all())).await.len(), 3);
    assert_eq!(
        names(c.list_releases(ListReleasesRequest {
            parent: "models/grok".into(),
            ..Default::default()
        }))
        .await,
        ["models/grok/releases/grok-4-5"]
    );
    assert_eq!(
        names(c.list_releases(ListReleasesRequest {
            organization: "organizations/google-deepmind".into(),
            ..all()
        }))
        .await,
        [
            "models/gemini/releases/gemini-2-5",
            "models/gemini/releases/gemini-3"
        ]
    );
    assert_eq!(
        names(c.list_releases(ListReleasesRequest {
            stage: LifecycleStage::RestrictedPreview as i32,
            ..all()
        }))
        .await,
        ["models/grok/releases/grok-4-5"]
    );
    assert_eq!(
        names(c.list_releases(ListReleasesRequest {
            release_date_range: range(date(2025, 11, 1), date(2025, 11, 30)),
            ..all()
        }))
        .await,
        ["models/gemini/releases/gemini-3"]
    );

    // Benchmarks
    assert_eq!(
        names(c.list_benchmarks(ListBenchmarksRequest {
            category: "coding".into(),
            ..Default::default()
        }))
        .await,
        ["benchmarks/swe-bench"]
    );

    // Results
    let r = ListBenchmarkResultsRequest::default;
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            release: "models/gemini/releases/gemini-3".into(),
            ..r()
        }))
        .await,
        ["benchmarkResults/g3-swe"]
    );
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            model: "models/gemini".into(),
            ..r()
        }))
        .await,
        ["benchmarkResults/g25-mmlu", "benchmarkResults/g3-swe"]
    );
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            organization: "organizations/xai".into(),
            ..r()
        }))
        .await,
        ["benchmarkResults/grok-swe"]
    );
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            benchmark: "benchmarks/swe-bench".into(),
            ..r()
        }))
        .await,
        ["benchmarkResults/g3-swe", "benchmarkResults/grok-swe"]
    );
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            verification: VerificationStatus::IndependentlyReproduced as i32,
            ..r()
        }))
        .await,
        ["benchmarkResults/g3-swe"]
    );
    assert_eq!(
        names(c.list_benchmark_results(ListBenchmarkResultsRequest {
            publish_date_range: Some(DateRange {
                start: Some(date(2025, 11, 1)),
                end: None
            }),
            ..r()
        }))
        .await,
        ["benchmarkResults/g3-swe", "benchmarkResults/grok-swe"]
    );

    // Disclosures
    let d = ListDisclosuresRequest::default;
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            subject: "models/grok".into(),
            ..d()
        }))
        .await,
        ["disclosures/d-grok-satellite"]
    );
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            organization: "organizations/google".into(),
            ..d()
        }))
        .await,
        ["disclosures/d-gemini3-data", "disclosures/d-google-tpu"]
    );
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            model: "models/gemini".into(),
            ..d()
        }))
        .await,
        ["disclosures/d-gemini3-data"]
    );
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            category: DisclosureCategory::CustomAccelerator as i32,
            ..d()
        }))
        .await,
        ["disclosures/d-google-tpu"]
    );
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            status: DisclosureStatus::NotDisclosed as i32,
            ..d()
        }))
        .await,
        ["disclosures/d-gemini3-data"]
    );
    assert_eq!(
        names(c.list_disclosures(ListDisclosuresRequest {
            publish_date_range: range(date(2025, 12, 1), date(2025, 12, 31)),
            ..d()
        }))
        .await,
        ["disclosures/d-grok-satellite"]
    );
}

#[tokio::test]
async fn malformed_filter_values_are_invalid() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let err = c
        .list_releases(ListReleasesRequest {
            parent: "organizations/xai".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "parent");
    let err = c
        .list_releases(ListReleasesRequest {
            parent: "models/-".into(),
            stage: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "stage");
    let err = c
        .list_benchmark_results(ListBenchmarkResultsRequest {
            publish_date_range: Some(DateRange {
                start: Some(date(2025, 2, 30)),
                end: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, "publish_date_range.start");
    let err = c
        .list_models(ListModelsRequest {
            developer: "xai".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// Page tokens are authenticated with a key every replica shares: a token
/// from one replica continues on another, and a truncated or edited one
/// (before, an edited name moved the cursor) is refused.
#[tokio::test]
async fn page_tokens_work_across_replicas_and_refuse_tampering() {
    let a = TestServer::start().await;
    let b = crate::watch::server_with(&a.database_url, Vec::new()).await;
    let mut ca = a.client().await;
    let mut cb = b.client().await;
    for i in 0..5 {
        create_org(&mut ca, &format!("org-{i}")).await;
    }
    let first = ca
        .list_organizations(ListOrganizationsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    let second = cb
        .list_organizations(ListOrganizationsRequest {
            page_size: 2,
            page_token: token.clone(),
            ..Default::default()
        })
        .await
        .expect("the other replica accepts the token")
        .into_inner();
    let names: Vec<&str> = second
        .organizations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["organizations/org-2", "organizations/org-3"]);

    let mut tampered = vec![token[..token.len() - 2].to_owned()];
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    tampered.push(String::from_utf8(flipped).unwrap());
    for page_token in tampered {
        let err = cb
            .list_organizations(ListOrganizationsRequest {
                page_size: 2,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&err, "page_token");
    }
}
