//! The change log: exactly one record per committed write, none for a
//! failed one, numbered without gaps in commit order under concurrency.

use frontierwatch_proto::v1::*;
use prost::Message as _;
use prost_types::FieldMask;

use crate::fixtures::*;
use crate::harness::TestServer;

async fn log(server: &TestServer) -> Vec<(i64, String, String, Vec<u8>)> {
    let pool = server.pool().await;
    sqlx::query_as("SELECT seq, resource_name, change_kind, resource FROM changes ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_committed_write_has_exactly_one_change_record_and_failed_ones_none() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let org = create_org(&mut c, "xai").await; // 1
    create_model(&mut c, "grok", &["xai"]).await; // 2
    let updated = c
        .update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: org.name.clone(),
                website: "https://x.ai".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["website".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner(); // 3

    // Failures of every kind: invalid, duplicate, in use, stale etag, missing reference.
    assert!(
        c.create_organization(CreateOrganizationRequest {
            organization_id: "xai".into(),
            organization: Some(Organization {
                display_name: "x".into(),
                ..Default::default()
            }),
            request_id: String::new()
        })
        .await
        .is_err()
    );
    assert!(
        c.create_organization(CreateOrganizationRequest {
            organization_id: "y".into(),
            organization: Some(Organization::default()),
            request_id: String::new()
        })
        .await
        .is_err()
    );
    assert!(
        c.delete_organization(DeleteOrganizationRequest {
            name: org.name.clone(),
            etag: String::new()
        })
        .await
        .is_err()
    );
    assert!(
        c.update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: org.name.clone(),
                etag: org.etag.clone(),
                country: "GB".into(),
                ..Default::default()
            }),
            update_mask: None
        })
        .await
        .is_err()
    );
    assert!(
        c.create_model(CreateModelRequest {
            model_id: "m".into(),
            model: Some(Model {
                display_name: "M".into(),
                developers: vec!["organizations/nobody".into()],
                ..Default::default()
            }),
            request_id: String::new()
        })
        .await
        .is_err()
    );

    c.delete_model(DeleteModelRequest {
        name: "models/grok".into(),
        etag: String::new(),
    })
    .await
    .unwrap(); // 4

    let log = log(&server).await;
    let summary: Vec<(String, String)> = log
        .iter()
        .map(|(_, n, k, _)| (n.clone(), k.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("organizations/xai".to_owned(), "created".to_owned()),
            ("models/grok".to_owned(), "created".to_owned()),
            ("organizations/xai".to_owned(), "updated".to_owned()),
            ("models/grok".to_owned(), "deleted".to_owned()),
        ]
    );
    // Sequence numbers are consecutive.
    let seqs: Vec<i64> = log.iter().map(|(s, ..)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // Each record holds the resource after the change (the last state for a delete).
    assert_eq!(Organization::decode(log[2].3.as_slice()).unwrap(), updated);
    assert_eq!(
        Model::decode(log[3].3.as_slice()).unwrap().name,
        "models/grok"
    );
}

#[tokio::test]
async fn concurrent_writers_commit_in_sequence_order() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let mut c = server.client().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                create_org(&mut c, &format!("w{writer}-o{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let pool = server.pool().await;
    // Commit order is visible as transaction-id order of the records' commit
    // timestamps; the sequence must follow it, and have no holes.
    let rows: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT seq, commit_time FROM changes ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 200);
    assert!(
        rows.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "sequence has holes"
    );
    assert!(
        rows.windows(2).all(|w| w[1].1 >= w[0].1),
        "sequence order differs from commit order"
    );
}

/// seq, tx_id, resource_name, organizations, model, benchmark.
type ChangeRow = (
    i64,
    String,
    String,
    Vec<String>,
    Option<String>,
    Option<String>,
);

/// A batch's change records go in with one statement: consecutive
/// sequences, one transaction, in request order, each carrying what
/// watchers filter on (the developers of the result's model line).
#[tokio::test]
async fn a_batch_appends_its_change_records_in_request_order_with_their_filter_columns() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_release(&mut c, "line", "v1", release("V1")).await;
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    let requests = (0..20)
        .map(|i| CreateBenchmarkResultRequest {
            benchmark_result_id: format!("r{i}"),
            benchmark_result: Some(result("models/line/releases/v1", "benchmarks/bench", 50.0)),
            request_id: String::new(),
        })
        .collect();
    c.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest { requests })
        .await
        .expect("the batch is created");
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT seq, tx_id::text, resource_name, organizations, model, benchmark \
               FROM changes WHERE resource_name LIKE 'benchmarkResults/%' ORDER BY seq",
    )
    .fetch_all(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 20);
    assert!(
        rows.windows(2)
            .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 == w[0].1)
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.2, format!("benchmarkResults/r{i}"));
        assert!(row.3.contains(&"organizations/lab".to_owned()), "{row:?}");
        assert_eq!(row.4.as_deref(), Some("models/line"));
        assert_eq!(row.5.as_deref(), Some("benchmarks/bench"));
    }
}
