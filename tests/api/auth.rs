//! Tokens with roles: every method of every service, walked from the
//! descriptor set, is checked against every kind of credential, so a new
//! method cannot ship unprotected.

use std::time::Duration;

use frontierwatch_proto::v1::token_service_client::TokenServiceClient;
use frontierwatch_proto::v1::*;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

use crate::fixtures::create_org;
use crate::harness::{AuthChannel, ServerOptions, TestServer, fresh_database};

/// The methods that only read, and so take a reader token. Every other
/// method of FrontierWatchService writes; every method of TokenService
/// administers.
const READS: &[&str] = &[
    "Watch",
    "GetLeaderboard",
    "CompareReleases",
    "GetCadenceReport",
    "GetTransparencyReport",
    "GetTimeline",
    "GetRecordProgression",
    "GetModelLineQuality",
    "ListRevisions",
    "GetRevision",
    "GetOrganization",
    "ListOrganizations",
    "GetModel",
    "ListModels",
    "GetRelease",
    "ListReleases",
    "GetBenchmark",
    "ListBenchmarks",
    "GetBenchmarkResult",
    "ListBenchmarkResults",
    "GetDisclosure",
    "ListDisclosures",
    "GetIndicator",
    "ListIndicators",
    "GetTransparencyIndex",
    "ListTransparencyIndexes",
    "GetCommitment",
    "ListCommitments",
    "GetOffering",
    "ListOfferings",
    "GetMeasurement",
    "ListMeasurements",
    "GetOfferingTerms",
    "GetPriceFrontier",
    "GetOfferingReport",
];

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Role {
    Reader,
    Writer,
    Admin,
}

fn needed(method: &MethodDescriptor) -> Role {
    match method.parent_service().name() {
        "FrontierWatchService" if READS.contains(&method.name()) => Role::Reader,
        "FrontierWatchService" => Role::Writer,
        _ => Role::Admin,
    }
}

/// Calls a method with an empty request; returns the status code.
async fn code(channel: AuthChannel, method: &MethodDescriptor) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path: PathAndQuery = format!("/{}/{}", method.parent_service().full_name(), method.name())
        .parse()
        .expect("path");
    let request = DynamicMessage::new(method.input());
    let codec = ProstCodec::<DynamicMessage, ()>::default();
    let result = if method.is_server_streaming() {
        match grpc
            .server_streaming(tonic::Request::new(request), path, codec)
            .await
        {
            Ok(mut stream) => {
                match tokio::time::timeout(Duration::from_millis(300), stream.get_mut().message())
                    .await
                {
                    Ok(Err(status)) => Err(status),
                    _ => Ok(()),
                }
            }
            Err(status) => Err(status),
        }
    } else {
        grpc.unary(tonic::Request::new(request), path, codec)
            .await
            .map(|_| ())
    };
    result.err().map_or(Code::Ok, |s| s.code())
}

async fn make_token(
    admin: &mut TokenServiceClient<AuthChannel>,
    id: &str,
    role: TokenRole,
) -> String {
    admin
        .create_token(CreateTokenRequest {
            token_id: id.into(),
            token: Some(Token {
                role: role as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("an admin makes tokens")
        .into_inner()
        .secret
}

fn methods() -> Vec<MethodDescriptor> {
    let pool = DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET).expect("pool");
    let methods: Vec<MethodDescriptor> = pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect();
    for read in READS {
        assert!(methods.iter().any(|m| m.name() == *read), "{read} exists");
    }
    assert!(methods.len() > 50);
    methods
}

#[tokio::test]
async fn every_method_of_every_service_is_checked_against_every_role() {
    let s = TestServer::start().await;
    let mut admin = TokenServiceClient::new(s.auth_channel().await);
    let reader = make_token(&mut admin, "reader", TokenRole::Reader).await;
    let writer = make_token(&mut admin, "writer", TokenRole::Writer).await;
    let revoked = make_token(&mut admin, "revoked", TokenRole::Admin).await;
    admin
        .revoke_token(RevokeTokenRequest {
            name: "tokens/revoked".into(),
        })
        .await
        .expect("revoked");
    let in_a_second = std::time::SystemTime::now() + Duration::from_secs(1);
    let expiring = admin
        .create_token(CreateTokenRequest {
            token_id: "expiring".into(),
            token: Some(Token {
                role: TokenRole::Admin as i32,
                expire_time: Some(in_a_second.into()),
                ..Default::default()
            }),
        })
        .await
        .expect("made")
        .into_inner()
        .secret;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let credentials: [(&str, Option<&str>, Option<Role>); 6] = [
        ("no token", None, None),
        ("revoked", Some(&revoked), None),
        ("expired", Some(&expiring), None),
        ("reader", Some(&reader), Some(Role::Reader)),
        ("writer", Some(&writer), Some(Role::Writer)),
        ("admin", Some(&s.token), Some(Role::Admin)),
    ];
    let mut checked = 0;
    for method in methods() {
        let service = method.parent_service().full_name().to_owned();
        let is_ours = service.starts_with("frontierwatch.");
        for (label, secret, role) in credentials {
            let got = code(s.channel_with(secret).await, &method).await;
            let expected = match (is_ours, role) {
                // Health and reflection stay anonymous.
                (false, _) => None,
                (true, None) => Some(Code::Unauthenticated),
                (true, Some(role)) if role < needed(&method) => Some(Code::PermissionDenied),
                (true, Some(_)) => None,
            };
            match expected {
                Some(code) => assert_eq!(got, code, "{service}/{} with {label}", method.name()),
                None => assert!(
                    !matches!(got, Code::Unauthenticated | Code::PermissionDenied),
                    "{service}/{} with {label} was refused: {got:?}",
                    method.name()
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 300);
}

#[tokio::test]
async fn with_anonymous_reads_reads_need_no_token_and_writes_still_do() {
    let s = crate::watch::server_with(
        &fresh_database().await,
        vec![("FRONTIERWATCH_ANONYMOUS_READS".into(), "true".into())],
    )
    .await;
    for method in methods() {
        if !method
            .parent_service()
            .full_name()
            .starts_with("frontierwatch.")
        {
            continue;
        }
        let got = code(s.channel_with(None).await, &method).await;
        if needed(&method) == Role::Reader {
            assert_ne!(got, Code::Unauthenticated, "{}", method.name());
        } else {
            assert_eq!(got, Code::Unauthenticated, "{}", method.name());
        }
    }
}

/// The first start writes the admin token to an owner-only file and logs
/// the file's path, never the token; `token create` bootstraps others.
#[tokio::test]
async fn the_first_admin_token_is_written_to_an_owner_only_file_and_never_logged() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile_dir();
    let file = dir.join("secrets/admin-token");
    let database_url = fresh_database().await;
    let mut s = TestServer::start_with(ServerOptions {
        database_url: Some(database_url.clone()),
        env: vec![(
            "FRONTIERWATCH_ADMIN_TOKEN_FILE".into(),
            file.display().to_string(),
        )],
        ..Default::default()
    })
    .await
    .expect("starts");
    let secret = std::fs::read_to_string(&file).expect("the file is written");
    let secret = secret.trim();
    assert!(secret.len() >= 64, "a high-entropy token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut c =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            s.channel_with(Some(secret)).await,
        );
    c.create_organization(CreateOrganizationRequest {
        organization_id: "lab".into(),
        organization: Some(Organization {
            display_name: "Lab".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .expect("the admin token writes");

    // The bootstrap subcommand makes a writer token in the same database.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_frontierwatch-server"))
        .args([
            "--database-url",
            &database_url,
            "token",
            "create",
            "--role",
            "writer",
            "--name",
            "importer",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let importer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let mut w =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            s.channel_with(Some(&importer)).await,
        );
    create_org(&mut w, "other").await;
    let denied = TokenServiceClient::new(s.channel_with(Some(&importer)).await)
        .list_tokens(ListTokensRequest::default())
        .await
        .expect_err("a writer cannot manage tokens");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let (_, lines) = s.terminate().await;
    let log = format!("{}\n{}", s.startup_log, lines.join("\n"));
    assert!(
        log.contains(&file.display().to_string()),
        "the log names the file"
    );
    assert!(!log.contains(secret), "the log never holds the token");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fwauth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Each change records who made it: the stream's events carry the token's
/// name, and `fwatch watch` shows it.
#[tokio::test]
async fn every_change_names_the_token_that_made_it_on_the_stream_and_in_the_cli() {
    let s = TestServer::start().await;
    let mut admin = TokenServiceClient::new(s.auth_channel().await);
    let importer = make_token(&mut admin, "importer", TokenRole::Writer).await;
    let start = crate::watch::head(&s).await;
    let mut by_admin = s.client().await;
    create_org(&mut by_admin, "lab").await;
    let mut by_importer =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            s.channel_with(Some(&importer)).await,
        );
    create_org(&mut by_importer, "other").await;

    let mut stream = by_admin
        .watch(WatchRequest {
            start_after_sequence: Some(start),
            ..Default::default()
        })
        .await
        .expect("opens")
        .into_inner();
    let mut actors = Vec::new();
    while actors.len() < 2 {
        let message = stream.message().await.expect("open").expect("a message");
        if let Some(watch_response::Kind::Transaction(t)) = message.kind {
            actors.extend(t.events.into_iter().map(|e| (e.resource_name, e.actor)));
        }
    }
    assert_eq!(
        actors,
        [
            ("organizations/lab".to_owned(), "tokens/admin".to_owned()),
            (
                "organizations/other".to_owned(),
                "tokens/importer".to_owned()
            ),
        ]
    );

    let after = start.to_string();
    let (ok, out, err) =
        crate::harness::run_fwatch(&s, &["watch", "--after", &after, "--limit", "2"], None);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("tokens/importer") && l.ends_with("organizations/other")),
        "{out}"
    );
}

/// Tokens are managed from the CLI too: create, list, revoke.
#[tokio::test]
async fn fwatch_creates_lists_and_revokes_tokens() {
    let s = TestServer::start().await;
    let (ok, secret, err) = crate::harness::run_fwatch(
        &s,
        &["token", "create", "importer", "--role", "writer"],
        None,
    );
    assert!(ok, "{err}");
    let secret = secret.trim().to_owned();
    let mut w =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            s.channel_with(Some(&secret)).await,
        );
    create_org(&mut w, "lab").await;
    let (ok, out, err) = crate::harness::run_fwatch(&s, &["token", "list"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("tokens/importer") && out.contains("writer"),
        "{out}"
    );
    assert!(!out.contains(&secret), "secrets are never listed");
    let (ok, _, err) = crate::harness::run_fwatch(&s, &["token", "revoke", "importer"], None);
    assert!(ok, "{err}");
    let err = w
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect_err("revoked at once");
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// A replica remembers valid tokens for a few seconds rather than reading
/// them on every call, yet a revocation through another replica is refused
/// there well within that time (the revocation is notified), and a token
/// remembered shortly before its expiry is refused once it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_through_one_replica_is_refused_by_another_at_once() {
    let a = TestServer::start().await;
    let b = TestServer::start_with(ServerOptions {
        database_url: Some(a.database_url.clone()),
        ..Default::default()
    })
    .await
    .expect("a second replica starts");
    let mut admin = TokenServiceClient::new(a.auth_channel().await);
    let reader = make_token(&mut admin, "remembered", TokenRole::Reader).await;
    let soon = std::time::SystemTime::now() + Duration::from_millis(1500);
    let expiring = admin
        .create_token(CreateTokenRequest {
            token_id: "expiring-soon".into(),
            token: Some(Token {
                role: TokenRole::Reader as i32,
                expire_time: Some(soon.into()),
                ..Default::default()
            }),
        })
        .await
        .expect("made")
        .into_inner()
        .secret;
    let on_b = |secret: String| {
        let b = &b;
        async move {
            let mut client = frontier_watch_service_client::FrontierWatchServiceClient::new(
                b.channel_with(Some(&secret)).await,
            );
            client
                .list_organizations(ListOrganizationsRequest::default())
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }
    };
    // Both are valid, and now remembered by b.
    for _ in 0..3 {
        assert_eq!(on_b(reader.clone()).await, Ok(()));
        assert_eq!(on_b(expiring.clone()).await, Ok(()));
    }
    admin
        .revoke_token(RevokeTokenRequest {
            name: "tokens/remembered".into(),
        })
        .await
        .expect("revoked");
    let revoked = std::time::Instant::now();
    let refused = |secret: String, within: Duration| {
        let on_b = &on_b;
        async move {
            let deadline = std::time::Instant::now() + within;
            while std::time::Instant::now() < deadline {
                if on_b(secret.clone()).await == Err(Code::Unauthenticated) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        }
    };
    // Well within the five seconds b would otherwise remember it.
    assert!(
        refused(reader, Duration::from_secs(2)).await,
        "b still accepts a token revoked through a"
    );
    assert!(revoked.elapsed() < Duration::from_secs(4));
    // The expiring token was remembered less than a second before its
    // expiry (the revocation above made b forget it; it is read again
    // here): refused right after it expires.
    assert_eq!(on_b(expiring.clone()).await, Ok(()));
    let left = soon
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    assert_eq!(on_b(expiring).await, Err(Code::Unauthenticated));
}
