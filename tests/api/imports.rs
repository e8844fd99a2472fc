//! ImportResources decides a batch by the one decision of every write
//! (what the database holds read up front, every item decided in memory);
//! each item must be decided as if it were imported alone, in order,
//! seeing the items before it, a name repeated in the batch included.

use frontierwatch_proto::v1::*;

use crate::fixtures::{create_benchmark, create_org, release, result};
use crate::harness::{Client, TestServer};

fn item(line: i64, resource: import_item::Resource) -> ImportItem {
    ImportItem {
        line,
        resource: Some(resource),
    }
}

fn model(name: &str, display: &str, developers: &[&str]) -> import_item::Resource {
    import_item::Resource::Model(Model {
        name: name.to_owned(),
        display_name: display.to_owned(),
        developers: developers.iter().map(|d| (*d).to_owned()).collect(),
        ..Default::default()
    })
}

fn scored(name: &str, release: &str, benchmark: &str, score: f64) -> import_item::Resource {
    import_item::Resource::BenchmarkResult(BenchmarkResult {
        name: name.to_owned(),
        ..result(release, benchmark, score)
    })
}

/// What both servers hold before the batch: an organization a person
/// created, a second one only a stored model references, that model as one
/// source states it, and a benchmark.
async fn prepare(client: &mut Client) {
    create_org(client, "lab").await;
    create_org(client, "other").await;
    create_benchmark(client, "pct", ScoreScale::Percent, "coding").await;
    let stored = client
        .import_resources(ImportResourcesRequest {
            items: vec![item(
                1,
                model("models/stored", "Stored", &["organizations/other"]),
            )],
            source: Some(Source {
                publisher: "Source A".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("the first import runs")
        .into_inner();
    assert_eq!(stored.outcomes[0].result, ImportResult::Created as i32);
}

/// The batch, and the outcome each item must have.
fn batch() -> Vec<(ImportItem, ImportResult)> {
    use ImportResult::*;
    let new_benchmark = import_item::Resource::Benchmark(Benchmark {
        name: "benchmarks/new".into(),
        display_name: "New".into(),
        scale: ScoreScale::Percent as i32,
        direction: ScoreDirection::HigherIsBetter as i32,
        ..Default::default()
    });
    let lab = import_item::Resource::Organization(Organization {
        name: "organizations/lab".into(),
        display_name: "Org lab".into(),
        website: "https://lab.example".into(),
        ..Default::default()
    });
    let orphan = import_item::Resource::Release(Release {
        name: "models/missing/releases/x".into(),
        ..release("X")
    });
    let items = vec![
        // A model line, and a release under it: the release sees the line.
        (model("models/m", "M", &["organizations/lab"]), Created),
        (
            import_item::Resource::Release(Release {
                name: "models/m/releases/r1".into(),
                ..release("R1")
            }),
            Created,
        ),
        // A result on a benchmark the batch creates only after it.
        (
            scored(
                "benchmarkResults/early",
                "models/m/releases/r1",
                "benchmarks/new",
                50.0,
            ),
            Rejected,
        ),
        (new_benchmark, Created),
        // Off the scale of the benchmark created just before.
        (
            scored(
                "benchmarkResults/off",
                "models/m/releases/r1",
                "benchmarks/new",
                150.0,
            ),
            Rejected,
        ),
        (
            scored(
                "benchmarkResults/on",
                "models/m/releases/r1",
                "benchmarks/new",
                50.0,
            ),
            Created,
        ),
        (
            scored(
                "benchmarkResults/old",
                "models/m/releases/r1",
                "benchmarks/pct",
                40.0,
            ),
            Created,
        ),
        // A second source merges with what a person created.
        (lab, Updated),
        // Under a model line that does not exist.
        (orphan, Rejected),
        // A second source of the stored model: the merge keeps the first
        // source's developer, which no item of the batch references.
        (
            model("models/stored", "Stored model", &["organizations/lab"]),
            Updated,
        ),
    ];
    items
        .into_iter()
        .enumerate()
        .map(|(i, (resource, expected))| (item(i as i64 + 1, resource), expected))
        .collect()
}

/// The stored state, without what every write renews.
async fn state(server: &TestServer) -> Vec<String> {
    let pool = server.pool().await;
    let mut out: Vec<String> = sqlx::query_as::<_, (String,)>(
        "SELECT concat_ws(' ', name, kind, model, release, benchmark, organizations::text, \
                          category, score) FROM resources ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(row,)| row)
    .collect();
    for query in [
        "SELECT concat_ws(' ', 'ref', from_name, to_name, field) FROM resource_refs ORDER BY 1",
        "SELECT concat_ws(' ', 'claim', name, claimant, authority) FROM resource_claims ORDER BY 1",
        "SELECT concat_ws(' ', 'change', resource_name, change_kind) FROM changes \
          WHERE resource_type <> '' ORDER BY seq",
    ] {
        out.extend(
            sqlx::query_as::<_, (String,)>(query)
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .map(|(row,)| row),
        );
    }
    out
}

/// Imports decided and written together, and one by one, from the
/// server's metrics.
fn paths(server: &TestServer) -> (f64, f64) {
    let samples = crate::metrics::scrape(server).1;
    let path = |p| {
        crate::metrics::value(
            &samples,
            "frontierwatch_import_batches_total",
            &[("path", p)],
        )
    };
    (path("together"), path("one_by_one"))
}

#[tokio::test]
async fn a_batch_is_decided_item_by_item_in_order_whichever_way_it_is_written() {
    let (plain, repeated_server) = (TestServer::start().await, TestServer::start().await);
    let (mut a, mut b) = (plain.client().await, repeated_server.client().await);
    prepare(&mut a).await;
    prepare(&mut b).await;
    let (items, expected): (Vec<ImportItem>, Vec<ImportResult>) = batch().into_iter().unzip();
    let source = Some(Source {
        publisher: "Source B".into(),
        ..Default::default()
    });

    let first = a
        .import_resources(ImportResourcesRequest {
            items: items.clone(),
            source: source.clone(),
        })
        .await
        .expect("the import runs")
        .into_inner()
        .outcomes;
    // The same batch with one name repeated at its end: the repeat is
    // decided after the first, in the same batch.
    let mut repeated = items.clone();
    repeated.push(ImportItem {
        line: 99,
        ..items[0].clone()
    });
    let mut second = b
        .import_resources(ImportResourcesRequest {
            items: repeated,
            source,
        })
        .await
        .expect("the import runs")
        .into_inner()
        .outcomes;
    let last = second.pop().unwrap();
    assert_eq!(last.result, ImportResult::Unchanged as i32, "{last:?}");

    let results = |outcomes: &[ImportOutcome]| -> Vec<ImportResult> {
        outcomes
            .iter()
            .map(|o| ImportResult::try_from(o.result).unwrap())
            .collect()
    };
    assert_eq!(results(&first), expected, "the batch: {first:#?}");
    assert_eq!(
        results(&second),
        expected,
        "with a name repeated: {second:#?}"
    );
    assert_eq!(
        first, second,
        "both ways give the same outcomes and reasons"
    );
    assert!(
        first[2].reason.contains("benchmarks/new"),
        "{}",
        first[2].reason
    );
    assert!(
        first[4].reason.contains("outside the scale"),
        "{}",
        first[4].reason
    );

    // Both were decided and written together, the repeated name too
    // (with the preparing import of one item).
    assert_eq!(paths(&plain), (2.0, 0.0), "together, one_by_one");
    assert_eq!(paths(&repeated_server), (2.0, 0.0), "together, one_by_one");

    let (x, y) = (state(&plain).await, state(&repeated_server).await);
    assert_eq!(x, y, "both ways store the same");
    assert!(
        x.iter()
            .any(|row| row == "ref models/stored organizations/other developers"),
        "the merge keeps the first source's developer: {x:#?}"
    );
}
