//! Prometheus metrics after a known workload: the counters hold exactly
//! what was done, and Prometheus' own `promtool` accepts the scrape.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient;
use frontierwatch_proto::v1::*;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{ServerOptions, TestServer, fresh_database};

/// One sample of a scrape.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// `GET /metrics` over plain HTTP/1.1; returns the status line and body.
pub fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("the metrics port accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The Gets a replica with `--read-cache` answered from its cache, and
/// from the database.
pub fn read_cache_gets(server: &TestServer) -> (f64, f64) {
    let samples = scrape(server).1;
    let count = |served| {
        value(
            &samples,
            "frontierwatch_read_cache_gets_total",
            &[("served", served)],
        )
    };
    (count("cache"), count("database"))
}

/// Parses the Prometheus text format (what the tests need of it).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.trim_end_matches('}');
                    let labels = rest
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=value");
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            Sample {
                name,
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the series `name` with (at least) `labels`; 0 if absent.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// A scrape of `server`'s `/metrics`: its text, and its samples parsed.
pub fn scrape(server: &TestServer) -> (String, Vec<Sample>) {
    let addr = server.metrics_addr.expect("the metrics address is logged");
    let (status, body) = get(addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    let samples = parse(&body);
    (body, samples)
}

const FW: &str = "frontierwatch.v1.FrontierWatchService";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_a_known_workload_exactly_and_promtool_accepts_the_scrape() {
    let url = fresh_database().await;
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url),
        env: vec![(
            "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS".into(),
            "1".into(),
        )],
        ..Default::default()
    })
    .await
    .expect("server starts");
    let mut c = server.client().await;

    // 3 creates that succeed, 2 refused as invalid, 4 gets of nothing.
    for i in 0..3 {
        create_org(&mut c, &format!("lab-{i}")).await;
    }
    for bad in ["Bad Id", "-x"] {
        let status = c
            .create_organization(CreateOrganizationRequest {
                organization_id: bad.into(),
                organization: Some(Organization {
                    display_name: "x".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    for i in 0..4 {
        let status = c
            .get_organization(GetOrganizationRequest {
                name: format!("organizations/none-{i}"),
            })
            .await
            .expect_err("absent");
        assert_eq!(status.code(), Code::NotFound);
    }
    // One call without a token.
    let mut anonymous = FrontierWatchServiceClient::new(server.channel().await);
    let status = anonymous
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect_err("needs a token");
    assert_eq!(status.code(), Code::Unauthenticated);

    // One import: 2 rows created, 1 rejected.
    let org = |name: &str| ImportItem {
        line: 0,
        resource: Some(import_item::Resource::Organization(Organization {
            name: name.into(),
            display_name: "Imported".into(),
            ..Default::default()
        })),
    };
    let imported = c
        .import_resources(ImportResourcesRequest {
            items: vec![
                org("organizations/imp-1"),
                org("organizations/imp-2"),
                org("organizations/Not Valid"),
            ],
            ..Default::default()
        })
        .await
        .expect("the import runs")
        .into_inner();
    assert_eq!(
        imported
            .outcomes
            .iter()
            .filter(|o| o.result == ImportResult::Rejected as i32)
            .count(),
        1
    );

    // One slow consumer: a snapshot larger than its buffers, never read.
    store_large_organizations(&server.pool().await, 20_000).await;
    let mut stream = c
        .watch(WatchRequest {
            snapshot: true,
            ..Default::default()
        })
        .await
        .expect("the watch opens")
        .into_inner();
    let _first = stream.next().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, samples) = scrape(&server);
        if value(
            &samples,
            "frontierwatch_watches_ended_total",
            &[("reason", "slow_consumer")],
        ) >= 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "the slow consumer was ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stream);

    let (text, samples) = scrape(&server);
    let handled = |method: &str, code: &str| {
        value(
            &samples,
            "grpc_server_handled_total",
            &[
                ("grpc_service", FW),
                ("grpc_method", method),
                ("grpc_code", code),
            ],
        )
    };
    assert_eq!(handled("CreateOrganization", "OK"), 3.0, "{text}");
    assert_eq!(handled("CreateOrganization", "INVALID_ARGUMENT"), 2.0);
    assert_eq!(handled("GetOrganization", "NOT_FOUND"), 4.0);
    assert_eq!(handled("ListOrganizations", "UNAUTHENTICATED"), 1.0);
    assert_eq!(handled("ImportResources", "OK"), 1.0);
    assert_eq!(
        value(
            &samples,
            "grpc_server_started_total",
            &[("grpc_service", FW), ("grpc_method", "CreateOrganization")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "grpc_server_handling_seconds_count",
            &[("grpc_service", FW), ("grpc_method", "GetOrganization")]
        ),
        4.0
    );
    assert_eq!(
        value(
            &samples,
            "frontierwatch_auth_denied_total",
            &[("grpc_code", "UNAUTHENTICATED"), ("role", "anonymous")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "frontierwatch_import_items_total",
            &[("kind", "organization"), ("outcome", "created")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "frontierwatch_import_items_total",
            &[("kind", "organization"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "frontierwatch_watches_ended_total",
            &[("reason", "slow_consumer")]
        ),
        1.0
    );
    assert!(value(&samples, "frontierwatch_watch_bytes_sent_total", &[]) > 0.0);
    // The watch that ended is no longer open; the scrape itself is no RPC.
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&scrape(&server).1, "frontierwatch_watches_open", &[]) != 0.0 {
        assert!(Instant::now() < deadline, "the ended watch was closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The follower's head is the change log's.
    let (head,): (i64,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(&server.pool().await)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(
        &scrape(&server).1,
        "frontierwatch_change_log_head_sequence",
        &[],
    ) != head as f64
    {
        assert!(Instant::now() < deadline, "the head gauge follows the log");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value(
            &samples,
            "frontierwatch_db_pool_max_connections",
            &[("pool", "main")]
        ),
        10.0
    );
    assert!(
        value(
            &samples,
            "frontierwatch_db_query_seconds_count",
            &[("operation", "create")]
        ) >= 3.0
    );
    // Every declared metric with a value is described (HELP and TYPE).
    for sample in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.name.strip_suffix(suffix))
            .unwrap_or(&sample.name);
        assert!(
            text.contains(&format!("# HELP {family} "))
                || text.contains(&format!("# HELP {} ", sample.name)),
            "{} has no HELP",
            sample.name
        );
    }
    // No label holds a resource name or a token.
    assert!(!text.contains("organizations/"), "resource names in labels");
    assert!(!text.contains(&server.token), "a token in the scrape");

    // Prometheus' own linter, on this very scrape (.ci/run installs it; the
    // scrape is kept for it in the target directory too).
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-scrape.prom");
    std::fs::write(&kept, &text).unwrap();
    if let Some(promtool) = which("promtool") {
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Only /metrics is served.
    let (status, _) = get(server.metrics_addr.unwrap(), "/other");
    assert!(status.contains("404"), "{status}");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

#[tokio::test]
async fn metrics_listen_off_serves_none_and_a_taken_port_stops_the_start() {
    let url = fresh_database().await;
    let off = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        env: vec![("FRONTIERWATCH_METRICS_LISTEN".into(), "off".into())],
        ..Default::default()
    })
    .await
    .expect("server starts");
    assert_eq!(off.metrics_addr, None);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let refused = TestServer::start_with(ServerOptions {
        database_url: Some(url),
        env: vec![("FRONTIERWATCH_METRICS_LISTEN".into(), port.to_string())],
        ..Default::default()
    })
    .await
    .err()
    .expect("a taken metrics port stops the start");
    assert!(refused.contains("for metrics"), "{refused}");
    assert!(refused.contains("--metrics-listen"), "{refused}");
}
