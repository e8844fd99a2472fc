//! BatchCreateBenchmarkResults (AIP-233) is decided by the one decision of
//! every write (what the database holds for the batch read up front, every
//! item decided in memory, a few statements): it must still be all or none,
//! name the request at fault, and answer a retry with its request ids as
//! before.

use frontierwatch_proto::v1::*;
use tonic::Code;
use tonic_types::StatusExt;

use crate::fixtures::*;
use crate::harness::{Client, TestServer};

const RELEASE: &str = "models/line/releases/v1";
const BENCHMARK: &str = "benchmarks/bench";

async fn prepare(c: &mut Client) {
    create_org(c, "lab").await;
    create_model(c, "line", &["lab"]).await;
    create_release(c, "line", "v1", release("V1")).await;
    create_benchmark(c, "bench", ScoreScale::Percent, "coding").await;
}

fn request(id: &str, result: BenchmarkResult, request_id: &str) -> CreateBenchmarkResultRequest {
    CreateBenchmarkResultRequest {
        benchmark_result_id: id.to_owned(),
        benchmark_result: Some(result),
        request_id: request_id.to_owned(),
    }
}

fn valid(id: &str) -> CreateBenchmarkResultRequest {
    request(id, result(RELEASE, BENCHMARK, 50.0), "")
}

/// Stored results and their change records.
async fn written(server: &TestServer) -> (i64, i64) {
    let pool = server.pool().await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64,)>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
                .0
        }
    };
    (
        count("SELECT count(*) FROM resources WHERE kind = 'benchmark_result'").await,
        count("SELECT count(*) FROM changes WHERE resource_name LIKE 'benchmarkResults/%'").await,
    )
}

async fn batch(
    c: &mut Client,
    requests: Vec<CreateBenchmarkResultRequest>,
) -> Result<Vec<BenchmarkResult>, tonic::Status> {
    c.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest { requests })
        .await
        .map(|r| r.into_inner().benchmark_results)
}

#[tokio::test]
async fn a_batch_create_writes_all_or_nothing_and_names_the_request_at_fault() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    prepare(&mut c).await;
    create_result(&mut c, "taken", result(RELEASE, BENCHMARK, 10.0)).await;
    assert_eq!(written(&s).await, (1, 1));

    // A missing release in the third request.
    let mut requests: Vec<_> = (0..4).map(|i| valid(&format!("a{i}"))).collect();
    requests[2] = request(
        "a2",
        result("models/line/releases/missing", BENCHMARK, 50.0),
        "",
    );
    let status = batch(&mut c, requests).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "REFERENCED_RESOURCE_NOT_FOUND");
    assert_eq!(
        info.metadata.get("field").map(String::as_str),
        Some("requests[2].benchmark_result.release"),
        "{info:?}"
    );

    // A score outside the benchmark's scale in the second.
    let mut requests: Vec<_> = (0..4).map(|i| valid(&format!("b{i}"))).collect();
    requests[1] = request("b1", result(RELEASE, BENCHMARK, 150.0), "");
    let status = batch(&mut c, requests).await.unwrap_err();
    assert_invalid(&status, "requests[1].benchmark_result.score");

    // A name twice in one batch, and a name that exists.
    let status = batch(&mut c, vec![valid("c0"), valid("c1"), valid("c0")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let status = batch(&mut c, vec![valid("d0"), valid("taken")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    assert_eq!(
        written(&s).await,
        (1, 1),
        "a refused batch writes nothing, neither rows nor change records"
    );

    // A valid batch: all written, answered in request order.
    let created = batch(&mut c, (0..5).map(|i| valid(&format!("e{i}"))).collect())
        .await
        .expect("the batch is created");
    let names: Vec<&str> = created.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        (0..5)
            .map(|i| format!("benchmarkResults/e{i}"))
            .collect::<Vec<_>>()
    );
    assert!(
        created
            .iter()
            .all(|r| !r.etag.is_empty() && r.create_time.is_some())
    );
    assert_eq!(written(&s).await, (6, 6));
}

#[tokio::test]
async fn a_batch_create_retried_with_its_request_ids_answers_as_before() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    prepare(&mut c).await;
    let ids: Vec<String> = (0..3)
        .map(|i| format!("00000000-0000-4000-8000-00000000000{i}"))
        .collect();
    // Ids generated from the request ids, so that a retry names the same.
    let requests = |ids: &[String]| {
        ids.iter()
            .map(|id| request("", result(RELEASE, BENCHMARK, 50.0), id))
            .collect::<Vec<_>>()
    };

    let first = batch(&mut c, requests(&ids)).await.expect("first");
    let again = batch(&mut c, requests(&ids)).await.expect("retry");
    assert_eq!(first, again, "a retry answers exactly as the first call");
    assert_eq!(written(&s).await, (3, 3));

    // A retry of two with one new request: the two replay, the new one is
    // created.
    let mut mixed = requests(&ids[..2]);
    mixed.push(request(
        "",
        result(RELEASE, BENCHMARK, 60.0),
        "00000000-0000-4000-8000-000000000009",
    ));
    let answered = batch(&mut c, mixed).await.expect("mixed");
    assert_eq!(answered[..2], first[..2]);
    assert_eq!(answered[2].score, 60.0);
    assert_eq!(written(&s).await, (4, 4));

    // A request id already used for another name is refused, and the
    // batch it came in writes nothing.
    let status = batch(
        &mut c,
        vec![
            valid("fresh"),
            request("other", result(RELEASE, BENCHMARK, 50.0), &ids[0]),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");
    assert_eq!(written(&s).await, (4, 4));
}
