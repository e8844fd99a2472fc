//! Health, reflection, telemetry export, the embedded PostgreSQL, and the
//! README's grpcurl session.

use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use frontierwatch_proto::v1::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::fixtures::*;
use crate::harness::{ServerOptions, TestServer, fresh_database, run_grpcurl};

#[tokio::test]
async fn health_answers_serving_for_each_service_and_the_overall_service() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "frontierwatch.v1.FrontierWatchService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
}

#[tokio::test]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::{v1, v1alpha};
    let server = TestServer::start().await;
    let expected = [
        "frontierwatch.v1.FrontierWatchService",
        "frontierwatch.v1.TokenService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];

    let mut client =
        v1::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no reflection answer")
    };
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection answer")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, expected);

    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no reflection answer")
    };
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection answer")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn spans_of_rpcs_and_storage_calls_reach_an_otlp_collector() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let mut server = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.endpoint())],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = server.client().await;
    create_org(&mut c, "xai").await;
    drop(c);
    // Spans are flushed on shutdown.
    let (clean, _) = server.terminate().await;
    assert!(clean, "server exits cleanly on SIGTERM");
    let spans = collector.exported_spans(2, Duration::from_secs(10)).await;
    let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "grpc"), "{names:?}");
    assert!(names.iter().any(|n| n == "create"), "{names:?}");
}

/// A pooled connection that the database dropped while it sat idle is
/// checked when it is handed out, found dead and replaced: the call that
/// gets it does not fail.
#[tokio::test]
async fn connections_the_database_dropped_while_idle_are_not_handed_to_calls() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let org = create_org(&mut c, "kept").await;
    // Several calls at once, so that the pool holds several connections.
    let mut gets = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut c = c.clone();
        let name = org.name.clone();
        gets.spawn(async move { c.get_organization(GetOrganizationRequest { name }).await });
    }
    while let Some(got) = gets.join_next().await {
        got.expect("a Get task")
            .expect("a Get before the connections are dropped");
    }
    let pool = server.pool().await;
    let (dropped,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&pool)
    .await
    .expect("the server's connections are dropped");
    assert!(dropped > 1, "the server held connections: {dropped}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..8 {
        c.get_organization(GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("Get {i} after the connections were dropped: {e:?}"));
    }
}

#[tokio::test]
async fn the_embedded_postgresql_starts_keeps_data_across_restarts_and_stops_with_the_server() {
    let dir = tempdir("embedded");
    let start = || {
        TestServer::start_with(ServerOptions {
            data_dir: Some(dir.clone()),
            ..Default::default()
        })
    };

    let mut server = start().await.unwrap();
    let mut c = server.client().await;
    create_org(&mut c, "xai").await;
    drop(c);
    let (clean, lines) = server.terminate().await;
    assert!(clean, "{lines:?}");
    assert!(
        !dir.join("postmaster.pid").exists(),
        "PostgreSQL stopped with the server"
    );
    assert!(!dir.join(".s.PGSQL.5432").exists(), "no socket left behind");

    let mut server = start().await.unwrap();
    let mut c = server.client().await;
    let org = c
        .get_organization(GetOrganizationRequest {
            name: "organizations/xai".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(org.display_name, "Org xai");
    drop(c);
    assert!(server.terminate().await.0);
    assert!(!dir.join("postmaster.pid").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_postgresql_binaries_the_server_says_what_to_install() {
    let dir = tempdir("nobin");
    let err = TestServer::start_with(ServerOptions {
        data_dir: Some(dir.clone()),
        env: vec![(
            "FRONTIERWATCH_POSTGRES_BIN_DIR".into(),
            "/nonexistent/bin".into(),
        )],
        ..Default::default()
    })
    .await
    .err()
    .expect("the server refuses to start");
    assert!(err.contains("FRONTIERWATCH_POSTGRES_BIN_DIR"), "{err}");
    assert!(err.contains("exited with"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_bad_configuration_value_is_refused_with_a_clear_message() {
    let err = TestServer::start_with(ServerOptions {
        database_url: Some("mysql://nope".into()),
        ..Default::default()
    })
    .await
    .err()
    .expect("the server refuses to start");
    assert!(
        err.contains("--database-url") && err.contains("postgres://"),
        "{err}"
    );
}

fn tempdir(label: &str) -> std::path::PathBuf {
    let dir =
        std::path::PathBuf::from(format!("/tmp/fw-{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The README's grpcurl session, then the analytics session of docs/api.md
/// that continues it, run verbatim with grpcurl 1.8.6 (only the address
/// differs: the test server listens on a random port).
#[tokio::test]
async fn the_readme_grpcurl_session_works_as_written() {
    let server = TestServer::start().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let outputs = run_readme_block(&readme, "<!-- grpcurl-session -->", &server);
    assert!(outputs.len() >= 7, "{outputs:?}");
    assert!(
        outputs[0].contains("frontierwatch.v1.FrontierWatchService"),
        "{}",
        outputs[0]
    );
    let last = outputs.last().unwrap();
    assert!(
        last.contains("\"score\": 59.3"),
        "the listing shows the result:\n{last}"
    );

    // The analytics examples, after the first session (docs/api.md).
    let api_doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let outputs = run_readme_block(&api_doc, "<!-- grpcurl-analytics -->", &server);
    assert_eq!(outputs.len(), 9);
    assert!(
        outputs[2].contains("grok-4-5") && outputs[2].contains("\"rank\": 1"),
        "{}",
        outputs[2]
    );
    assert!(
        !outputs[3].contains("grok-4-5"),
        "as of 2025 the later release is not there: {}",
        outputs[3]
    );
    assert!(outputs[4].contains("\"delta\": 11.9"), "{}", outputs[4]);
    assert!(
        outputs[6].contains("WINDOW_STATUS_MET") && outputs[6].contains("WINDOW_STATUS_MISSED"),
        "{}",
        outputs[6]
    );
    assert!(
        outputs[8].contains("TIMELINE_EVENT_KIND_RELEASED"),
        "{}",
        outputs[8]
    );

    // Progress over time, after the analytics (docs/api.md).
    let outputs = run_readme_block(&api_doc, "<!-- grpcurl-progress -->", &server);
    assert_eq!(outputs.len(), 3);
    assert!(
        outputs[0].contains("models/grok/releases/grok-4-5")
            && outputs[0].contains("11.9")
            && outputs[0].contains("SATURATION_ACTIVE"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[1].contains("ACCESS_FILTER_OPEN_WEIGHTS")
            && outputs[1].contains("ACCESS_FILTER_PROPRIETARY"),
        "{}",
        outputs[1]
    );
    assert!(
        outputs[2].contains("grok-4-5") && outputs[2].contains("\"delta\": 11.9"),
        "{}",
        outputs[2]
    );

    // Offerings, measurements and prices, after progress (docs/api.md).
    let outputs = run_readme_block(&api_doc, "<!-- grpcurl-market -->", &server);
    assert_eq!(outputs.len(), 5);
    assert!(
        outputs[0].contains("\"name\": \"offerings/xai-grok-4\""),
        "{}",
        outputs[0]
    );
    assert!(outputs[2].contains("\"amount\": \"15\""), "{}", outputs[2]);
    assert!(
        outputs[3].contains("\"offering\": \"offerings/xai-grok-4\"")
            && outputs[3].contains("\"onFrontier\": true"),
        "{}",
        outputs[3]
    );
    assert!(
        outputs[4].contains("NETWORK_SATELLITE") && outputs[4].contains("\"median\": 1.8"),
        "{}",
        outputs[4]
    );
}

/// Runs the grpcurl commands of the README block after `marker` verbatim,
/// but for the address, and returns their outputs.
fn run_readme_block(readme: &str, marker: &str, server: &TestServer) -> Vec<String> {
    let section = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README has {marker}"));
    shell_commands(section)
        .iter()
        .map(|command| {
            // The README reads the admin token from the file a local server
            // writes; the test server's token is the same thing.
            let command = command.replace("$(cat .frontierwatch/admin-token)", &server.token);
            let args: Vec<String> = shell_words(&command)
                .into_iter()
                .skip(1)
                .map(|a| a.replace("localhost:50051", &server.addr.to_string()))
                .collect();
            let (ok, stdout, stderr) = run_grpcurl(&args);
            assert!(ok, "`{command}` failed:\n{stdout}\n{stderr}");
            stdout
        })
        .collect()
}

/// The grpcurl commands of a README section: lines starting with `grpcurl`,
/// with `\` continuations joined.
fn shell_commands(section: &str) -> Vec<String> {
    let block = section.split("```").nth(1).unwrap_or_default();
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines().skip(1) {
        let line = line.trim_end();
        if current.is_empty() && !line.starts_with("grpcurl") {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            current.push_str(stripped);
            current.push(' ');
        } else {
            current.push_str(line);
            commands.push(std::mem::take(&mut current));
        }
    }
    commands
}

/// Splits a command line the way a POSIX shell does for the quoting the
/// README uses: single quotes, double quotes (without escapes) and plain
/// words.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in command.chars() {
        match ch {
            '\'' | '"' if quote.is_none() || quote == Some(ch) => {
                quote = if quote.is_some() { None } else { Some(ch) };
                in_word = true;
            }
            c if c.is_whitespace() && quote.is_none() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Every start-up failure caused by a flag's value names the flag: a taken
/// port, unreadable TLS files, a data directory that cannot be made, an
/// admin token file too short, a database wait used up.
#[tokio::test]
async fn start_up_failures_caused_by_a_flag_name_the_flag() {
    let url = fresh_database().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempdir("flags");
    let short_token = dir.join("short-token");
    std::fs::write(&short_token, "short").unwrap();
    let file_not_dir = dir.join("a-file");
    std::fs::write(&file_not_dir, "").unwrap();
    // (the flag, the environment that gives it a bad value, the database)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Option<String>);
    let cases: Vec<Case> = vec![
        (
            "--listen",
            vec![("FRONTIERWATCH_LISTEN", port.clone())],
            Some(url.clone()),
        ),
        (
            "--health-listen",
            vec![("FRONTIERWATCH_HEALTH_LISTEN", port.clone())],
            Some(url.clone()),
        ),
        (
            "--tls-cert-file",
            vec![
                ("FRONTIERWATCH_TLS_CERT_FILE", "/nonexistent/tls.crt".into()),
                ("FRONTIERWATCH_TLS_KEY_FILE", "/nonexistent/tls.key".into()),
            ],
            Some(url.clone()),
        ),
        (
            "--admin-token-file",
            vec![(
                "FRONTIERWATCH_ADMIN_TOKEN_FILE",
                short_token.display().to_string(),
            )],
            Some(fresh_database().await),
        ),
        (
            "--data-dir",
            vec![(
                "FRONTIERWATCH_DATA_DIR",
                file_not_dir.join("pg").display().to_string(),
            )],
            None,
        ),
        (
            "--database-wait-seconds",
            vec![("FRONTIERWATCH_DATABASE_WAIT_SECONDS", "0".into())],
            Some(format!(
                "postgres://postgres@localhost:5432/nothing?host={}",
                dir.display()
            )),
        ),
    ];
    for (flag, pairs, database_url) in cases {
        let err = TestServer::start_with(ServerOptions {
            database_url,
            listen: None,
            env: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            ..Default::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a bad {flag} stops the start"));
        assert!(err.contains(flag), "{flag} is not named: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's fwatch session, run verbatim with the fwatch this
/// workspace builds (the `cargo build` and `alias` lines aside; only the
/// server's address and token, given as flags, and where shared/data lies
/// differ). Its last command follows the stream: it runs until a result
/// created meanwhile shows, and is stopped then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_fwatch_session_works_as_written() {
    use std::io::BufRead as _;
    let server = TestServer::start().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("## A first session with fwatch")
        .nth(1)
        .expect("README has the fwatch session");
    let block = section.split("```").nth(1).unwrap_or_default();
    let commands: Vec<&str> = block.lines().filter(|l| l.starts_with("fwatch ")).collect();
    assert!(commands.len() >= 7, "{commands:?}");
    let data = crate::datasets::data("");
    let data = data.to_str().unwrap().trim_end_matches('/');
    for command in commands {
        let command = command.replace("../shared/data", data);
        let args: Vec<String> = shell_words(&command).into_iter().skip(1).collect();
        if args[0] == "watch" {
            let mut watch = std::process::Command::new(crate::harness::fwatch())
                .args(["--server", &format!("http://{}", server.addr)])
                .args(["--token", &server.token])
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let stdout = watch.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut client = server.client().await;
            let release = "models/gpt-4o/releases/gpt-4o-2024-05-13";
            let release = match client
                .get_release(GetReleaseRequest {
                    name: release.into(),
                })
                .await
            {
                Ok(_) => release.to_owned(),
                Err(_) => {
                    let any = client
                        .list_releases(ListReleasesRequest {
                            parent: "models/-".into(),
                            page_size: 1,
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    any.releases[0].name.clone()
                }
            };
            client
                .create_benchmark_result(CreateBenchmarkResultRequest {
                    benchmark_result_id: "readme-session".into(),
                    benchmark_result: Some(result(&release, "benchmarks/gpqa", 0.5)),
                    request_id: String::new(),
                })
                .await
                .expect("a result to watch");
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                    seen.push(line);
                    if seen.iter().any(|l| l.contains("readme-session")) {
                        break;
                    }
                }
            }
            let _ = watch.kill();
            let _ = watch.wait();
            assert!(
                seen.iter().any(|l| l.contains("readme-session")),
                "`{command}` showed the new result: {seen:?}"
            );
            continue;
        }
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = crate::harness::run_fwatch_status(&server, &words, None);
        // An import exits 2 when some rows were rejected, the rest imported.
        let allowed: &[i32] = if words.contains(&"import") {
            &[0, 2]
        } else {
            &[0]
        };
        assert!(
            code.is_some_and(|c| allowed.contains(&c)),
            "`{command}` exited {code:?}:\n{out}\n{err}"
        );
        if let Some(at) = words.iter().position(|w| *w == "get") {
            assert!(out.contains(words[at + 1]), "`{command}`:\n{out}");
        }
    }
}
