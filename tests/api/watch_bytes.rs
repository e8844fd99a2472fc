//! Bytes, not items: a transaction larger than a default client's 4 MiB
//! receive limit reaches grpcurl (with its defaults) as fragments and the
//! client crate as one whole transaction; snapshots of large resources are
//! cut by size.

use std::time::Duration;

use frontierwatch_client::{Client, WatchEvent};
use frontierwatch_proto::v1::*;
use prost::Message as _;
use tokio_stream::StreamExt as _;

use crate::fixtures::{create_org, disclosure};
use crate::harness::{TestServer, run_grpcurl};
use crate::watch::head;

/// 5,000 disclosures in one import, ten of them at the largest allowed
/// statement: one transaction of more than 4 MiB of events.
fn large_import() -> ImportResourcesRequest {
    let items = (0..5000)
        .map(|i| {
            let mut d = disclosure(
                "organizations/lab",
                DisclosureCategory::TrainingDataProvenance,
            );
            d.name = format!("disclosures/d{i}");
            d.statement = "s".repeat(if i % 500 == 0 { 65_536 } else { 500 });
            ImportItem {
                line: i,
                resource: Some(import_item::Resource::Disclosure(d)),
            }
        })
        .collect();
    ImportResourcesRequest {
        items,
        ..Default::default()
    }
}

fn grpcurl_watch(server: &TestServer, request: &str) -> (String, String) {
    let (_, out, err) = run_grpcurl(&[
        "-plaintext".into(),
        "-H".into(),
        format!("authorization: Bearer {}", server.token),
        // Watch never ends by itself; everything arrives well within this.
        "-max-time".into(),
        "10".into(),
        "-d".into(),
        request.into(),
        server.addr.to_string(),
        "frontierwatch.v1.FrontierWatchService/Watch".into(),
    ]);
    (out, err)
}

#[tokio::test]
async fn a_transaction_over_four_mebibytes_reaches_grpcurl_in_fragments_and_the_client_crate_whole()
{
    let server = TestServer::start().await;
    let mut raw = server.client().await;
    create_org(&mut raw, "lab").await;
    let start = head(&server).await;
    let client = Client::connect(server.connect_options())
        .await
        .expect("connects");
    let mut events = client.watch(WatchRequest {
        start_after_sequence: Some(start),
        ..Default::default()
    });
    let outcomes = raw
        .import_resources(large_import())
        .await
        .expect("the import runs")
        .into_inner()
        .outcomes;
    assert!(
        outcomes
            .iter()
            .all(|o| o.result == ImportResult::Created as i32)
    );

    // The client crate hands over the transaction whole.
    let transaction = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the transaction arrives")
            .expect("open")
            .expect("no error");
        if let WatchEvent::Transaction(t) = next {
            break t;
        }
    };
    assert_eq!(transaction.events.len(), 5000);
    assert!(!transaction.fragment);
    assert!(
        transaction.encoded_len() > 4 << 20,
        "the transaction ({} bytes) exceeds a default client's limit",
        transaction.encoded_len()
    );

    // grpcurl with its defaults (4 MiB) reads every event of it.
    let (out, err) = grpcurl_watch(&server, &format!(r#"{{"start_after_sequence": {start}}}"#));
    assert!(
        !err.contains("larger than max") && !err.contains("ResourceExhausted"),
        "grpcurl: {err}"
    );
    assert_eq!(
        out.matches(r#""resourceName": "disclosures/"#).count(),
        5000,
        "{err}"
    );
    assert!(out.contains(r#""fragment": true"#), "sent in fragments");

    // And a snapshot of the same resources.
    let (out, err) = grpcurl_watch(
        &server,
        r#"{"snapshot": true, "resource_types": ["RESOURCE_TYPE_DISCLOSURE"]}"#,
    );
    assert!(!err.contains("larger than max"), "grpcurl: {err}");
    assert_eq!(
        out.matches(r#""resourceName": "disclosures/"#).count(),
        5000,
        "{err}"
    );
}
