//! Limits that keep one kind of client from starving the rest.

use std::time::Duration;

use frontierwatch_proto::v1::*;

use crate::fixtures::create_org;
use crate::harness::fresh_database;
use crate::watch::server_with;

/// Snapshots hold a repeatable-read transaction while they are sent. Twenty
/// watchers that open a snapshot and never read must not take the
/// connections every other call needs: snapshots have their own bounded
/// share of the database's connections.
#[tokio::test]
async fn twenty_snapshots_that_never_read_do_not_starve_other_calls() {
    let s = server_with(
        &fresh_database().await,
        vec![(
            "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS".into(),
            "120".into(),
        )],
    )
    .await;
    crate::fixtures::store_large_organizations(&s.pool().await, 20_000).await;
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut watcher = s.client().await;
        let stream = watcher
            .watch(WatchRequest {
                snapshot: true,
                ..Default::default()
            })
            .await
            .expect("the snapshot opens")
            .into_inner();
        stalled.push((watcher, stream));
    }
    // Let the snapshots start and fill their buffers; none is read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Every other call still gets a connection: none waits out the pool's
    // acquire timeout (5 s) or the 3 s deadline given here.
    for i in 0..30 {
        let mut request = tonic::Request::new(GetOrganizationRequest {
            name: "organizations/lab".into(),
        });
        request.set_timeout(Duration::from_secs(3));
        c.get_organization(request)
            .await
            .unwrap_or_else(|e| panic!("call {i} was starved: {e:?}"));
        let mut request = tonic::Request::new(ListOrganizationsRequest {
            page_size: 5,
            ..Default::default()
        });
        request.set_timeout(Duration::from_secs(3));
        c.list_organizations(request)
            .await
            .unwrap_or_else(|e| panic!("list {i} was starved: {e:?}"));
    }
    drop(stalled);
}

/// An import of `n` new organizations.
fn organizations(prefix: &str, n: i64) -> ImportResourcesRequest {
    let items = (0..n)
        .map(|i| crate::fixtures::org_import_item(i, &format!("{prefix}-{i}")))
        .collect();
    ImportResourcesRequest {
        items,
        ..Default::default()
    }
}

async fn limited_server(name: &str, value: &str) -> crate::harness::TestServer {
    server_with(&fresh_database().await, vec![(name.into(), value.into())]).await
}

/// A call past the default deadline is answered DEADLINE_EXCEEDED.
#[tokio::test]
async fn a_call_past_the_default_deadline_is_answered_deadline_exceeded() {
    let s = limited_server("FRONTIERWATCH_DEFAULT_DEADLINE_SECONDS", "0.001").await;
    let mut c = s.client().await;
    let err = c
        .import_resources(organizations("late", 500))
        .await
        .expect_err("no import of 500 items finishes within a millisecond");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("deadline"), "{}", err.message());
}

/// A request larger than the limit is refused with its own status and a
/// message that says the limit; smaller ones go through.
#[tokio::test]
async fn a_request_over_the_size_limit_is_refused_resource_exhausted() {
    let s = limited_server("FRONTIERWATCH_MAX_REQUEST_BYTES", "65536").await;
    let mut c = s.client().await;
    let err = c
        .create_organization(CreateOrganizationRequest {
            organization_id: "big".into(),
            organization: Some(Organization {
                display_name: "Big".into(),
                aliases: (0..200)
                    .map(|i| format!("{i}{}", "a".repeat(500)))
                    .collect(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("100 KB is over the limit");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("65536"), "{}", err.message());
    create_org(&mut c, "small").await;
}

/// Past the concurrency limit calls are shed at once with
/// RESOURCE_EXHAUSTED, never left hanging; the rest succeed.
#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_shed_not_queued() {
    let s = limited_server("FRONTIERWATCH_MAX_CONCURRENT_CALLS", "1").await;
    let mut calls = Vec::new();
    for batch in 0..16 {
        let mut c = s.client().await;
        calls.push(tokio::spawn(async move {
            let mut request = tonic::Request::new(organizations(&format!("b{batch}"), 300));
            request.set_timeout(Duration::from_secs(30));
            c.import_resources(request).await.map(|_| ())
        }));
    }
    let (mut ok, mut shed) = (0, 0);
    for call in calls {
        match call.await.expect("the task runs") {
            Ok(()) => ok += 1,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                assert!(status.message().contains("limit of 1 calls"), "{status:?}");
                shed += 1;
            }
            Err(status) => panic!("neither served nor shed: {status:?}"),
        }
    }
    assert!(ok >= 1 && shed >= 1, "served {ok}, shed {shed}");
}

/// Each token has its own bound on open watches, so one client cannot take
/// a replica's every watch; another token still gets its own.
#[tokio::test]
async fn open_watches_are_bounded_per_token() {
    use frontierwatch_proto::v1::token_service_client::TokenServiceClient;
    let s = limited_server("FRONTIERWATCH_MAX_WATCHES_PER_TOKEN", "2").await;
    let mut c = s.client().await;
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            c.watch(WatchRequest::default())
                .await
                .expect("within the token's share")
                .into_inner(),
        );
    }
    let err = c
        .watch(WatchRequest::default())
        .await
        .expect_err("the third is over the share");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(crate::fixtures::reason(&err), "WATCH_LIMIT_PER_TOKEN");
    let reader = TokenServiceClient::new(s.auth_channel().await)
        .create_token(CreateTokenRequest {
            token_id: "dashboard".into(),
            token: Some(Token {
                role: TokenRole::Reader as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("made")
        .into_inner()
        .secret;
    let mut other =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            s.channel_with(Some(&reader)).await,
        );
    other
        .watch(WatchRequest::default())
        .await
        .expect("another token has its own share");
    // A closed watch gives its place back.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.watch(WatchRequest::default())
        .await
        .expect("the freed place is taken again");
}
