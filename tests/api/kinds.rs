//! Every kind of resource, walked from the contract's `ResourceType` enum,
//! works end to end: a live event and a snapshot entry carry the right type
//! and a decodable type URL, a filter on the type returns exactly that kind,
//! an import outcome names it, and the CLI and the client crate create and
//! get it. A kind missing from the registry, or a kind without a sample
//! here, fails this test.

use std::time::Duration;

use frontierwatch_proto::kinds::KindInfo;
use frontierwatch_proto::v1::*;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _};
use tokio_stream::StreamExt as _;

use crate::fixtures::{create_benchmark, create_model, create_org, create_release, date, source};
use crate::harness::{TestServer, run_fwatch};

fn pool() -> DescriptorPool {
    DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET).expect("descriptors decode")
}

/// Every value of `ResourceType` in the contract that is a stored kind.
fn kinds_of_the_contract(pool: &DescriptorPool) -> Vec<&'static KindInfo> {
    let values = pool
        .get_enum_by_name("frontierwatch.v1.ResourceType")
        .expect("ResourceType exists");
    let mut kinds = Vec::new();
    for value in values.values() {
        let resource_type = ResourceType::try_from(value.number()).expect("generated is current");
        if matches!(
            resource_type,
            ResourceType::Unspecified | ResourceType::Alert
        ) {
            continue;
        }
        let kind = resource_type
            .kind()
            .unwrap_or_else(|| panic!("{} is not in the registry", value.name()));
        kinds.push(kind);
    }
    assert_eq!(kinds.len(), frontierwatch_proto::kinds::KINDS.len());
    kinds
}

/// A valid resource of each kind, named `id` (under `models/line` where
/// the kind has a parent). Exhaustive over `ResourceType`.
pub(crate) fn sample(kind: &KindInfo, id: &str) -> import_item::Resource {
    let name = kind.name("models/line", id);
    use import_item::Resource as R;
    match kind.resource_type {
        ResourceType::Organization => R::Organization(Organization {
            name,
            display_name: "Org".into(),
            ..Default::default()
        }),
        ResourceType::Model => R::Model(Model {
            name,
            display_name: "Model".into(),
            developers: vec!["organizations/lab".into()],
            ..Default::default()
        }),
        ResourceType::Release => R::Release(Release {
            name,
            display_name: "Release".into(),
            provenance: Some(source("https://example.com/release")),
            ..Default::default()
        }),
        ResourceType::Benchmark => R::Benchmark(Benchmark {
            name,
            display_name: "Bench".into(),
            scale: ScoreScale::Percent as i32,
            direction: ScoreDirection::HigherIsBetter as i32,
            ..Default::default()
        }),
        ResourceType::BenchmarkResult => R::BenchmarkResult(BenchmarkResult {
            name,
            release: "models/line/releases/base".into(),
            benchmark: "benchmarks/bench".into(),
            score: 50.0,
            provenance: Some(source("https://example.com/result")),
            ..Default::default()
        }),
        ResourceType::Disclosure => R::Disclosure(Disclosure {
            name,
            subject: "organizations/lab".into(),
            category: DisclosureCategory::ComputePartnership as i32,
            status: DisclosureStatus::Disclosed as i32,
            provenance: Some(source("https://example.com/disclosure")),
            ..Default::default()
        }),
        ResourceType::Indicator => R::Indicator(Indicator {
            name,
            display_name: "Data sources".into(),
            index: "fmti-2025".into(),
            ..Default::default()
        }),
        ResourceType::TransparencyIndex => R::TransparencyIndex(TransparencyIndex {
            name,
            display_name: "FMTI Dec 2025".into(),
            publisher: "Stanford CRFM".into(),
            edition_date: Some(date(2025, 12, 9)),
            ..Default::default()
        }),
        ResourceType::Commitment => R::Commitment(Commitment {
            name,
            organization: "organizations/lab".into(),
            promise: "A new model every month.".into(),
            provenance: Some(source("https://example.com/promise")),
            period: CommitmentPeriod::Monthly as i32,
            start_date: Some(date(2026, 1, 1)),
            ..Default::default()
        }),
        ResourceType::Offering => R::Offering(crate::fixtures::offering(
            &name,
            "models/line/releases/base",
            "organizations/lab",
        )),
        ResourceType::Measurement => R::Measurement(Measurement {
            name,
            offering: "offerings/served".into(),
            metric: MeasurementMetric::TimeToFirstToken as i32,
            value: 420.0,
            unit: MeasurementUnit::Milliseconds as i32,
            window_start: Some(prost_types::Timestamp {
                seconds: 1_764_000_000,
                nanos: 0,
            }),
            window_end: Some(prost_types::Timestamp {
                seconds: 1_764_003_600,
                nanos: 0,
            }),
            sample_count: Some(60),
            provenance: Some(source("https://example.com/probe")),
            ..Default::default()
        }),
        ResourceType::Unspecified | ResourceType::Alert => unreachable!("not stored kinds"),
    }
}

/// Creates through the client crate's generic create and gets it back.
async fn create_and_get<T: frontierwatch_client::Resource + Clone + PartialEq + std::fmt::Debug>(
    client: &frontierwatch_client::Client,
    kind: &KindInfo,
    id: &str,
    resource: T,
) -> String {
    let parent = kind.parent.map(|_| "models/line");
    let created = client
        .create(parent, id, resource)
        .await
        .unwrap_or_else(|e| panic!("the client crate creates a {}: {e}", kind.message));
    let name = kind.name("models/line", id);
    let got: T = client
        .get(&name)
        .await
        .unwrap_or_else(|e| panic!("the client crate gets {name}: {e}"));
    assert_eq!(got, created);
    name
}

async fn through_client_crate(
    client: &frontierwatch_client::Client,
    kind: &KindInfo,
    id: &str,
) -> String {
    use import_item::Resource as R;
    match sample(kind, id) {
        R::Organization(r) => {
            create_and_get(
                client,
                kind,
                id,
                Organization {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Model(r) => {
            create_and_get(
                client,
                kind,
                id,
                Model {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Release(r) => {
            create_and_get(
                client,
                kind,
                id,
                Release {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Benchmark(r) => {
            create_and_get(
                client,
                kind,
                id,
                Benchmark {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::BenchmarkResult(r) => {
            create_and_get(
                client,
                kind,
                id,
                BenchmarkResult {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Disclosure(r) => {
            create_and_get(
                client,
                kind,
                id,
                Disclosure {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Indicator(r) => {
            create_and_get(
                client,
                kind,
                id,
                Indicator {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::TransparencyIndex(r) => {
            create_and_get(
                client,
                kind,
                id,
                TransparencyIndex {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Commitment(r) => {
            create_and_get(
                client,
                kind,
                id,
                Commitment {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Offering(r) => {
            create_and_get(
                client,
                kind,
                id,
                Offering {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
        R::Measurement(r) => {
            create_and_get(
                client,
                kind,
                id,
                Measurement {
                    name: String::new(),
                    ..r
                },
            )
            .await
        }
    }
}

/// The proto3 JSON of a sample, without its name, for the CLI.
fn sample_json(pool: &DescriptorPool, kind: &KindInfo, id: &str) -> String {
    let item = ImportItem {
        line: 0,
        resource: Some(sample(kind, id)),
    };
    let dynamic = DynamicMessage::decode(
        pool.get_message_by_name("frontierwatch.v1.ImportItem")
            .expect("ImportItem"),
        item.encode_to_vec().as_slice(),
    )
    .expect("decodes");
    let json = serde_json::to_value(&dynamic).expect("serializes");
    let field = pool
        .get_message_by_name("frontierwatch.v1.ImportItem")
        .and_then(|m| m.get_field_by_name(kind.field))
        .expect("ImportItem has a field per kind");
    let mut resource = json[field.json_name()].clone();
    resource.as_object_mut().expect("object").remove("name");
    resource.to_string()
}

/// Decodes an `Any` by its type URL alone, the way grpcurl does.
fn decode_any(pool: &DescriptorPool, any: &prost_types::Any) -> DynamicMessage {
    let type_name = any
        .type_url
        .strip_prefix("type.googleapis.com/")
        .unwrap_or_else(|| panic!("type URL {:?} has the usual prefix", any.type_url));
    let descriptor = pool
        .get_message_by_name(type_name)
        .unwrap_or_else(|| panic!("type URL {:?} names a message", any.type_url));
    DynamicMessage::decode(descriptor, any.value.as_slice()).expect("the resource decodes")
}

#[tokio::test]
async fn every_kind_streams_snapshots_filters_imports_and_is_served_to_both_clients() {
    let server = TestServer::start().await;
    let mut raw = server.client().await;
    let client = frontierwatch_client::Client::connect(server.connect_options())
        .await
        .expect("the client crate connects");
    let pool = pool();
    create_org(&mut raw, "lab").await;
    create_model(&mut raw, "line", &["lab"]).await;
    create_release(&mut raw, "line", "base", crate::fixtures::release("Base")).await;
    create_benchmark(&mut raw, "bench", ScoreScale::Percent, "coding").await;
    raw.create_offering(CreateOfferingRequest {
        offering_id: "served".into(),
        offering: Some(crate::fixtures::offering(
            "",
            "models/line/releases/base",
            "organizations/lab",
        )),
        ..Default::default()
    })
    .await
    .expect("the measured offering is created");
    let db = server.pool().await;

    for kind in kinds_of_the_contract(&pool) {
        let t = kind.resource_type;
        let mut live = raw
            .watch(WatchRequest {
                resource_types: vec![t as i32],
                ..Default::default()
            })
            .await
            .expect("a filtered watch opens")
            .into_inner();
        // The first message is the bookmark of "now".
        live.next().await.expect("a bookmark").expect("no error");

        // An import outcome names the kind.
        let outcome = raw
            .import_resources(ImportResourcesRequest {
                items: vec![ImportItem {
                    line: 1,
                    resource: Some(sample(kind, "imported")),
                }],
                ..Default::default()
            })
            .await
            .expect("the import runs")
            .into_inner()
            .outcomes
            .remove(0);
        assert_eq!(outcome.result, ImportResult::Created as i32, "{outcome:?}");
        assert_eq!(
            outcome.resource_type, t as i32,
            "{}: import outcome",
            kind.message
        );

        let by_crate = through_client_crate(&client, kind, "by-crate").await;

        let mut args = vec!["create", kind.plural_field, "--id", "by-cli"];
        if kind.parent.is_some() {
            args.extend(["--parent", "models/line"]);
        }
        let json = sample_json(&pool, kind, "by-cli");
        let (ok, _, err) = run_fwatch(&server, &args, Some(&json));
        assert!(ok, "the CLI creates a {}: {err}", kind.message);
        let by_cli = kind.name("models/line", "by-cli");
        let (ok, out, err) = run_fwatch(&server, &["get", &by_cli], None);
        assert!(ok && out.contains(&by_cli), "the CLI gets {by_cli}: {err}");

        // Live events: exactly the three creates, each of this type.
        let mut names = Vec::new();
        while names.len() < 3 {
            let message = tokio::time::timeout(Duration::from_secs(10), live.next())
                .await
                .unwrap_or_else(|_| panic!("{}: live events arrive", kind.message))
                .expect("the stream is open")
                .expect("no error");
            let Some(watch_response::Kind::Transaction(tx)) = message.kind else {
                continue;
            };
            for event in tx.events {
                assert_eq!(
                    event.resource_type, t as i32,
                    "{}: live event type",
                    kind.message
                );
                let any = event.resource.expect("the event carries the resource");
                assert_eq!(any.type_url, kind.type_url);
                let decoded = decode_any(&pool, &any);
                assert_eq!(decoded.descriptor().full_name(), kind.full_name);
                names.push(event.resource_name);
            }
        }
        names.sort();
        let mut expected = vec![kind.name("models/line", "imported"), by_crate, by_cli];
        expected.sort();
        assert_eq!(
            names, expected,
            "{}: the filter matches exactly these",
            kind.message
        );

        // A snapshot filtered on the type holds every resource of the kind
        // and nothing else.
        let mut snapshot = raw
            .watch(WatchRequest {
                snapshot: true,
                resource_types: vec![t as i32],
                ..Default::default()
            })
            .await
            .expect("a snapshot opens")
            .into_inner();
        let mut snapshotted = Vec::new();
        loop {
            let message = snapshot.next().await.expect("open").expect("no error");
            match message.kind {
                Some(watch_response::Kind::Snapshot(chunk)) => {
                    for entry in chunk.resources {
                        assert_eq!(
                            entry.resource_type, t as i32,
                            "{}: snapshot type",
                            kind.message
                        );
                        let any = entry.resource.expect("the entry carries the resource");
                        assert_eq!(
                            decode_any(&pool, &any).descriptor().full_name(),
                            kind.full_name
                        );
                        snapshotted.push(entry.resource_name);
                    }
                }
                Some(watch_response::Kind::Bookmark(b)) if b.end_of_snapshot => break,
                _ => {}
            }
        }
        let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM resources WHERE kind = $1")
            .bind(kind.field)
            .fetch_one(&db)
            .await
            .expect("count");
        assert_eq!(
            snapshotted.len() as i64,
            stored,
            "{}: snapshot is exactly the kind",
            kind.message
        );
        for name in &expected {
            assert!(
                snapshotted.contains(name),
                "{}: {name} is in the snapshot",
                kind.message
            );
        }
    }
}

/// The schema's name check comes from the registry: a name of the wrong
/// kind is refused by the database itself, whatever the application does.
#[tokio::test]
async fn the_database_refuses_a_name_that_does_not_match_its_kind() {
    let server = TestServer::start().await;
    let db = server.pool().await;
    let insert = |kind: &'static str, name: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(
                "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
                 VALUES ($1, $2, '', 'e', now(), now())",
            )
            .bind(name)
            .bind(kind)
            .execute(&db)
            .await
        }
    };
    let error = insert("organization", "models/x")
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("does not match kind"), "{error}");
    assert!(insert("no_such_kind", "things/x").await.is_err());
    insert("commitment", "commitments/x")
        .await
        .expect("a registered kind is accepted");

    // Ids as long as the registry allows and no longer, in every segment;
    // one bad row refuses its whole statement.
    let max = frontierwatch_proto::kinds::MAX_ID_LEN;
    let long = |n: usize| format!("a{}", "b".repeat(n - 1));
    let several = |names: Vec<(String, &'static str)>| {
        let db = db.clone();
        async move {
            let (names, kinds): (Vec<String>, Vec<&str>) = names.into_iter().unzip();
            sqlx::query(
                "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
                 SELECT n, k, '', 'e', now(), now() FROM UNNEST($1::text[], $2::text[]) AS u(n, k)",
            )
            .bind(names)
            .bind(kinds)
            .execute(&db)
            .await
        }
    };
    several(vec![
        (format!("organizations/{}", long(max)), "organization"),
        (format!("models/{}", long(max)), "model"),
        (
            format!("models/{}/releases/{}", long(max), long(max)),
            "release",
        ),
    ])
    .await
    .expect("ids of the longest length are accepted");
    for (name, kind) in [
        (format!("organizations/{}", long(max + 1)), "organization"),
        (format!("models/m/releases/{}", long(max + 1)), "release"),
        (format!("models/{}/releases/r", long(max + 1)), "release"),
        ("models/m/releases/R".to_owned(), "release"),
        ("organizations/models/x".to_owned(), "organization"),
    ] {
        let error = several(vec![
            ("organizations/fine".to_owned(), "organization"),
            (name.clone(), kind),
        ])
        .await
        .expect_err(&name);
        assert!(
            error.to_string().contains("does not match kind"),
            "{name}: {error}"
        );
    }
    let (fine,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM resources WHERE name = 'organizations/fine'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(fine, 0, "a refused statement writes none of its rows");
    let error = sqlx::query("UPDATE resources SET name = 'models/x' WHERE name = 'commitments/x'")
        .execute(&db)
        .await
        .expect_err("a rename to another kind's name is refused");
    assert!(error.to_string().contains("does not match kind"), "{error}");
}
