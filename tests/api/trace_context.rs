//! W3C trace context: the server continues a caller's `traceparent` and
//! logs its trace id with the call; the client crate and the CLI send one;
//! the OTLP export carries the caller's trace.

use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use frontierwatch_client::{Client, WatchEvent};
use frontierwatch_proto::v1::*;
use tonic::Code;

use crate::harness::{ServerOptions, TestServer, fresh_database, run_fwatch};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A server that logs every call it receives (debug, inside its span).
async fn logging_server() -> TestServer {
    TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: vec![(
            "RUST_LOG".into(),
            "info,frontierwatch_server::api::observe=debug".into(),
        )],
        ..Default::default()
    })
    .await
    .expect("server starts")
}

fn trace_ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("call received"))
        .filter_map(|l| l.split("trace_id=").nth(1))
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect())
        .collect()
}

#[tokio::test]
async fn the_callers_trace_is_continued_and_its_id_is_in_the_servers_log_lines() {
    let mut server = logging_server().await;
    // The client crate with a given trace id.
    let mut options = server.connect_options();
    options.trace_id = Some(TRACE.to_owned());
    let client = Client::connect(options).await.unwrap();
    let status = client
        .get_organization("organizations/none")
        .await
        .expect_err("absent");
    assert_eq!(status.code(), Code::NotFound);
    // A raw call with a traceparent header.
    let mut raw = server.client().await;
    let mut request = tonic::Request::new(GetOrganizationRequest {
        name: "organizations/none".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{}-{PARENT}-01", "0af7651916cd43dd8448eb211c80319c")
            .parse()
            .unwrap(),
    );
    let _ = raw.get_organization(request).await;
    // A malformed one starts a new trace instead of failing the call.
    let mut request = tonic::Request::new(GetOrganizationRequest {
        name: "organizations/none".into(),
    });
    request
        .metadata_mut()
        .insert("traceparent", "00-nothex-00-01".parse().unwrap());
    assert_eq!(
        raw.get_organization(request).await.unwrap_err().code(),
        Code::NotFound
    );
    // The client crate's watch carries it too (a fresh one without any).
    let plain = Client::connect(server.connect_options()).await.unwrap();
    let mut events = plain.watch(WatchRequest::default());
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_stream::StreamExt::next(&mut events),
    )
    .await
    .expect("a first bookmark");
    assert!(matches!(first, Some(Ok(WatchEvent::Bookmark(_)))));
    drop(events);

    let (_, lines) = server.terminate().await;
    let ids = trace_ids(&lines);
    assert_eq!(ids.len(), 4, "one log line per call: {lines:#?}");
    assert_eq!(ids[0], TRACE, "the client crate's trace id");
    assert_eq!(
        ids[1], "0af7651916cd43dd8448eb211c80319c",
        "the raw caller's"
    );
    for id in &ids[2..] {
        assert_eq!(id.len(), 32, "a fresh trace: {id}");
        assert_ne!(id, TRACE);
        assert_ne!(id, &"0".repeat(32));
    }
    assert_ne!(ids[2], ids[3]);
}

#[tokio::test]
async fn the_cli_sends_one_trace_per_invocation_and_prints_it_on_error() {
    let mut server = logging_server().await;
    let (ok, _, stderr) = run_fwatch(
        &server,
        &["--trace-id", TRACE, "get", "organizations/none"],
        None,
    );
    assert!(!ok);
    assert!(stderr.contains(&format!("trace id: {TRACE}")), "{stderr}");
    let (ok, _, stderr) = run_fwatch(&server, &["get", "organizations/none"], None);
    assert!(!ok);
    let printed: String = stderr
        .split("trace id: ")
        .nth(1)
        .expect("the trace id is printed")
        .chars()
        .take(32)
        .collect();
    let (ok, _, stderr) = run_fwatch(&server, &["--trace-id", "nope", "get", "x"], None);
    assert!(!ok && stderr.contains("invalid trace id"), "{stderr}");
    let (_, lines) = server.terminate().await;
    let ids = trace_ids(&lines);
    assert_eq!(ids, vec![TRACE.to_owned(), printed], "{lines:#?}");
}

#[tokio::test]
async fn the_exported_span_of_a_call_continues_the_callers_trace() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let mut server = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.endpoint())],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut raw = server.client().await;
    let mut request = tonic::Request::new(GetOrganizationRequest {
        name: "organizations/none".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE}-{PARENT}-01").parse().unwrap(),
    );
    let _ = raw.get_organization(request).await;
    drop(raw);
    let (clean, _) = server.terminate().await;
    assert!(clean);
    let spans = collector.exported_spans(1, Duration::from_secs(10)).await;
    let call = spans
        .iter()
        .find(|s| s.name == "grpc" && s.trace_id == TRACE)
        .unwrap_or_else(|| panic!("no grpc span in the caller's trace: {spans:#?}"));
    assert_eq!(call.parent_span_id, PARENT);
}
