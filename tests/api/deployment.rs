//! What a deployment relies on: readiness that follows the database, a
//! shutdown bounded by its grace period, a maximum connection age that
//! moves streams, an admin token from a mounted Secret, and health alone on
//! a plaintext port for kubelet's probes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use frontierwatch_client::{Client as FwClient, WatchEvent};
use frontierwatch_proto::v1::*;
use frontierwatch_server::embedded::{EmbeddedPostgres, ensure_database, find_bin_dir};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::fixtures::*;
use crate::harness::{ServerOptions, TestServer, fresh_database};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The overall health status (service `""`), or the error code.
pub async fn overall_health(addr: std::net::SocketAddr) -> Result<ServingStatus, Code> {
    service_health(addr, "").await
}

/// Polls health until it reports `want`; returns how long that took.
pub async fn wait_health(
    addr: std::net::SocketAddr,
    want: ServingStatus,
    timeout: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if overall_health(addr).await == Ok(want) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A private PostgreSQL cluster, for tests that stop and start it.
pub struct OwnCluster {
    pub pg: Option<EmbeddedPostgres>,
    dir: PathBuf,
    bin: PathBuf,
    /// Server options it (re)starts with.
    extra: String,
    /// Its port (TCP and the socket's name), when not the launcher's.
    port: Option<u16>,
}

impl OwnCluster {
    pub async fn start() -> (OwnCluster, String) {
        let dir = PathBuf::from(format!("/tmp/fw-own-{}", uuid::Uuid::new_v4().simple()));
        let bin = find_bin_dir(None).expect("PostgreSQL binaries");
        let pg = EmbeddedPostgres::start(&dir, &bin).expect("cluster starts");
        ensure_database(&pg.url("postgres"), "fw")
            .await
            .expect("database is made");
        let url = pg.url("fw");
        (
            OwnCluster {
                pg: Some(pg),
                dir,
                bin,
                extra: String::new(),
                port: None,
            },
            url,
        )
    }

    /// A cluster that also listens on TCP (127.0.0.1, a free port) with TLS,
    /// its certificate (for localhost) signed by `ca` (from
    /// `tls::authority`). Returns the cluster and the address a client
    /// would use, `localhost:PORT`; `url` reaches it over its socket.
    pub async fn start_tls(cert: &str, key: &str) -> (OwnCluster, String) {
        let (mut cluster, _) = Self::start().await;
        cluster.stop();
        cluster.install_certificate(cert, key);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        cluster.extra = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c ssl=on \
             -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        );
        cluster.port = Some(port);
        cluster.restart().await;
        (cluster, format!("localhost:{port}"))
    }

    /// A URL of `database` over the cluster's Unix socket, as its superuser.
    pub fn url(&self, database: &str) -> String {
        match self.port {
            Some(port) => format!(
                "postgres://postgres@localhost:{port}/{database}?host={}",
                self.dir
                    .canonicalize()
                    .unwrap_or(self.dir.clone())
                    .display()
            ),
            None => self.pg.as_ref().expect("running").url(database),
        }
    }

    /// Writes the server certificate and key PostgreSQL reads (at start and
    /// at each reload).
    pub fn install_certificate(&self, cert: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        for (file, text) in [("server.crt", cert), ("server.key", key)] {
            let path = self.dir.join(file);
            std::fs::write(&path, text).expect("written");
            let _ = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&path)
                .status();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
        }
    }

    /// Makes PostgreSQL re-read its configuration and certificate files.
    pub async fn reload(&self) {
        let pool = sqlx::PgPool::connect(&self.url("postgres"))
            .await
            .expect("superuser");
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&pool)
            .await
            .expect("reload");
        pool.close().await;
    }

    /// Ends every other session to `database`, so that clients must
    /// connect again.
    pub async fn disconnect_all(&self, database: &str) {
        let pool = sqlx::PgPool::connect(&self.url("postgres"))
            .await
            .expect("superuser");
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .execute(&pool)
        .await
        .expect("terminate");
        pool.close().await;
    }

    pub fn stop(&mut self) {
        if let Some(mut pg) = self.pg.take() {
            pg.stop();
        }
    }

    pub async fn restart(&mut self) {
        let (dir, bin, extra) = (self.dir.clone(), self.bin.clone(), self.extra.clone());
        let pg =
            tokio::task::spawn_blocking(move || EmbeddedPostgres::start_with(&dir, &bin, &extra))
                .await
                .expect("no panic")
                .expect("cluster restarts");
        self.pg = Some(pg);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_goes_not_serving_while_the_database_is_unreachable_and_back() {
    let (mut cluster, url) = OwnCluster::start().await;
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url),
        env: env(&[("FRONTIERWATCH_HEALTH_CHECK_SECONDS", "0.2")]),
        ..Default::default()
    })
    .await
    .expect("server starts");
    assert_eq!(
        overall_health(server.addr).await,
        Ok(ServingStatus::Serving)
    );

    cluster.stop();
    assert!(
        wait_health(
            server.addr,
            ServingStatus::NotServing,
            Duration::from_secs(15)
        )
        .await
        .is_some(),
        "health went NOT_SERVING while the database was down"
    );
    // The API service follows too: a probe of it would say the same.
    let mut health = HealthClient::new(server.channel().await);
    let api = health
        .check(HealthCheckRequest {
            service: "frontierwatch.v1.FrontierWatchService".into(),
        })
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(api.status(), ServingStatus::NotServing);

    cluster.restart().await;
    assert!(
        wait_health(server.addr, ServingStatus::Serving, Duration::from_secs(30))
            .await
            .is_some(),
        "health came back to SERVING once the database answered"
    );
    let mut c = server.client().await;
    create_org(&mut c, "after-outage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_ends_within_the_grace_period_with_a_snapshot_and_an_evaluation_in_flight() {
    let url = fresh_database().await;
    let grace = 2.0;
    let mut server = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        env: env(&[
            ("FRONTIERWATCH_SHUTDOWN_GRACE_SECONDS", "2"),
            ("FRONTIERWATCH_ALERT_SECONDS", "0.1"),
        ]),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_release(&mut c, "line", "v1", release("Line v1")).await;
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    create_result(
        &mut c,
        "r1",
        result("models/line/releases/v1", "benchmarks/bench", 50.0),
    )
    .await;
    let pool = server.pool().await;
    store_large_organizations(&pool, 30_000).await;

    // An evaluation stuck on a lock the test holds: it has its advisory
    // lock and a query waiting, two connections it will not give back.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE leaders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    // A tick evaluates the boards whose results changed: give it one.
    create_result(
        &mut c,
        "r2",
        result("models/line/releases/v1", "benchmarks/bench", 60.0),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the evaluation reached the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A snapshot of about 30 MB that nobody reads: it holds a snapshot
    // connection while its buffers are full.
    let mut stream = c
        .watch(WatchRequest {
            snapshot: true,
            ..Default::default()
        })
        .await
        .expect("the watch opens")
        .into_inner();
    let first = stream.next().await.expect("a first message");
    assert!(first.is_ok());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let (clean, _) = server.terminate().await;
    let took = started.elapsed();
    drop(blocker);
    assert!(clean, "the server exited cleanly");
    assert!(
        took < Duration::from_secs_f64(grace + 2.0),
        "shutdown took {took:?} with a {grace} s grace period"
    );
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_their_maximum_age_are_closed_and_watches_resume_elsewhere() {
    let url = fresh_database().await;
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url),
        env: env(&[
            ("FRONTIERWATCH_MAX_CONNECTION_AGE_SECONDS", "1"),
            ("FRONTIERWATCH_MAX_CONNECTION_AGE_GRACE_SECONDS", "0.5"),
            ("FRONTIERWATCH_WATCH_BOOKMARK_SECONDS", "0.2"),
        ]),
        ..Default::default()
    })
    .await
    .expect("server starts");

    // A raw stream is cut once its connection is older than 1.5 s.
    let mut raw = server.client().await;
    let mut stream = raw
        .watch(WatchRequest::default())
        .await
        .expect("the watch opens")
        .into_inner();
    let cut = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return Some(status.code()),
                None => return None,
            }
        }
    })
    .await
    .expect("the aged connection was closed");
    assert!(
        matches!(cut, None | Some(Code::Unavailable | Code::Unknown)),
        "ended with {cut:?}"
    );

    // The client crate resumes across such cuts without loss or repeats.
    let client = FwClient::connect(server.connect_options()).await.unwrap();
    let mut events = client.watch(WatchRequest::default());
    let mut c = server.client().await;
    let mut written = Vec::new();
    for i in 0..12 {
        let id = format!("aged-{i}");
        create_org(&mut c, &id).await;
        written.push(format!("organizations/{id}"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut seen = Vec::new();
    let mut sequences = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < written.len() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
            Ok(Some(Ok(WatchEvent::Transaction(t)))) => {
                for e in t.events {
                    sequences.push(e.sequence);
                    seen.push(e.resource_name);
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(error))) => panic!("the watch failed: {error:?}"),
            Ok(None) => panic!("the watch ended"),
        }
    }
    assert_eq!(seen, written, "every change once, in order");
    assert!(sequences.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn the_first_admin_token_can_come_from_a_mounted_secret() {
    let dir = std::env::temp_dir().join(format!("fw-secret-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    let secret = "given-secret-0123456789abcdef0123456789";
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: env(&[(
            "FRONTIERWATCH_ADMIN_TOKEN_FILE",
            file.to_str().expect("utf-8 path"),
        )]),
        ..Default::default()
    })
    .await
    .expect("server starts");
    assert_eq!(server.token, secret);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{secret}\n"),
        "the mounted file is only read"
    );
    let mut tokens = frontierwatch_proto::v1::token_service_client::TokenServiceClient::new(
        server.auth_channel().await,
    );
    let list = tokens
        .list_tokens(ListTokensRequest::default())
        .await
        .expect("the given secret is the admin's")
        .into_inner();
    assert_eq!(list.tokens.len(), 1);

    // Too short a secret is refused at start, without echoing it.
    std::fs::write(&file, "short").unwrap();
    let refused = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: env(&[(
            "FRONTIERWATCH_ADMIN_TOKEN_FILE",
            file.to_str().expect("utf-8 path"),
        )]),
        ..Default::default()
    })
    .await
    .err()
    .expect("a short secret is refused");
    assert!(refused.contains("at least 32"), "{refused}");
    assert!(!refused.contains("short\n"), "{refused}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn health_alone_is_served_in_plaintext_on_the_probe_port() {
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: env(&[("FRONTIERWATCH_HEALTH_LISTEN", "127.0.0.1:0")]),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let health_addr = server.health_addr.expect("the health address is logged");
    assert_ne!(health_addr, server.addr);
    assert_eq!(
        overall_health(health_addr).await,
        Ok(ServingStatus::Serving)
    );
    // Nothing else is served there, with or without a token.
    let channel = tonic::transport::Channel::from_shared(format!("http://{health_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut api =
        frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient::new(
            channel,
        );
    let status = api
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect_err("the API is not served on the health port");
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn a_replica_of_the_previous_release_starts_on_a_database_a_newer_one_migrated() {
    let url = fresh_database().await;
    let first = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let pool = first.pool().await;
    drop(first);
    // What a newer release's additive migration leaves behind.
    sqlx::query("ALTER TABLE resources ADD COLUMN future_column text")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer release', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let older = TestServer::start_with(ServerOptions {
        database_url: Some(url),
        ..Default::default()
    })
    .await
    .expect("the older release starts on the newer schema");
    let mut c = older.client().await;
    create_org(&mut c, "still-writable").await;
    pool.close().await;
}

/// The status of one health service (`liveness`, `""`, ...), or the error.
pub async fn service_health(
    addr: std::net::SocketAddr,
    service: &str,
) -> Result<ServingStatus, Code> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|_| Code::Unavailable)?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| r.into_inner().status())
        .map_err(|s| s.code())
}

/// Liveness does not follow the database: with PostgreSQL stopped for
/// longer than the production manifest's liveness budget (period ×
/// failure threshold), probed more often than the kubelet would, the
/// liveness service never fails while readiness reports NOT_SERVING, and
/// the process keeps running. A replica that starts while PostgreSQL is
/// away waits for it (logging each retry) and serves once it is back; one
/// whose wait is used up exits naming the flag that bounds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_does_not_follow_the_database_and_a_start_waits_for_it() {
    let docs = crate::rehearsal::render_production();
    let deployment = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("the Deployment");
    let server_container = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .and_then(|c| c.iter().find(|c| c["name"].as_str() == Some("server")))
        .expect("the server container");
    let probe = &server_container["livenessProbe"];
    let service = probe["grpc"]["service"].as_str().expect("a gRPC probe");
    let period = Duration::from_secs(probe["periodSeconds"].as_u64().unwrap_or(10));
    let budget = period * u32::try_from(probe["failureThreshold"].as_u64().unwrap_or(3)).unwrap();
    assert_eq!(
        server_container["readinessProbe"]["grpc"]["service"].as_str(),
        Some(""),
        "readiness asks the overall service"
    );

    let (mut cluster, url) = OwnCluster::start().await;
    let health_env = |extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("FRONTIERWATCH_HEALTH_LISTEN", "127.0.0.1:0"),
            ("FRONTIERWATCH_HEALTH_CHECK_SECONDS", "0.2"),
        ];
        pairs.extend_from_slice(extra);
        env(&pairs)
    };
    let mut server = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        env: health_env(&[]),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let health = server.health_addr.expect("health port");
    assert_eq!(
        service_health(health, service).await,
        Ok(ServingStatus::Serving)
    );

    cluster.stop();
    let until = Instant::now() + budget + period;
    let (mut failed, mut not_ready) = (0, false);
    while Instant::now() < until {
        if service_health(health, service).await != Ok(ServingStatus::Serving) {
            failed += 1;
        }
        not_ready |= overall_health(health).await == Ok(ServingStatus::NotServing);
        tokio::time::sleep(period / 5).await;
    }
    assert_eq!(
        failed, 0,
        "the liveness probe failed while the database was down"
    );
    assert!(
        not_ready,
        "readiness reported NOT_SERVING while the database was down"
    );
    assert!(!server.exited(), "the server kept running");

    // A replica that starts now waits instead of exiting.
    let mut waiting = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        env: health_env(&[("FRONTIERWATCH_DATABASE_WAIT_SECONDS", "300")]),
        wait_for: Some("the database does not answer yet".into()),
        ..Default::default()
    })
    .await
    .expect("a replica starting without its database waits for it");
    let waiting_health = waiting
        .health_addr
        .expect("health listens before the database");
    assert_eq!(
        service_health(waiting_health, service).await,
        Ok(ServingStatus::Serving)
    );
    assert_eq!(
        overall_health(waiting_health).await,
        Ok(ServingStatus::NotServing)
    );
    // One whose wait is used up exits, naming the flag that bounds it.
    let gave_up = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        env: health_env(&[("FRONTIERWATCH_DATABASE_WAIT_SECONDS", "1")]),
        ..Default::default()
    })
    .await
    .err()
    .expect("a bounded wait ends");
    assert!(gave_up.contains("--database-wait-seconds"), "{gave_up}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let retries = waiting
        .new_lines()
        .iter()
        .filter(|l| l.contains("the database does not answer yet"))
        .count();
    assert!(retries >= 1, "each retry is logged");
    assert!(!waiting.exited(), "the waiting replica is still running");

    cluster.restart().await;
    for addr in [health, waiting_health] {
        assert!(
            wait_health(addr, ServingStatus::Serving, Duration::from_secs(60))
                .await
                .is_some(),
            "ready once the database is back"
        );
    }
    let mut lines = waiting.new_lines();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l| l.contains("listening on")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        lines.extend(waiting.new_lines());
    }
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "the waiting replica serves once the database is back"
    );
    assert!(!server.exited() && !waiting.exited(), "nothing restarted");
}

/// Migrations that build an index with `CREATE INDEX CONCURRENTLY`, applied
/// by three replicas at once. With a lock that replicas wait for in a
/// statement (sqlx's own, the control), the index build waits for the
/// waiting replicas' transactions and they for its lock: PostgreSQL breaks
/// the deadlock by failing one. With the polled lock
/// (`storage::migrate::apply`) all three succeed and the index is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_with_create_index_concurrently_do_not_deadlock() {
    use sqlx::migrate::Migrator;
    let dir = PathBuf::from(format!("/tmp/fw-cic-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("1_table.sql"),
        "CREATE TABLE cic (x int); INSERT INTO cic SELECT generate_series(1, 10000);",
    )
    .unwrap();
    std::fs::write(
        dir.join("2_index.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS cic_x ON cic (x);\n",
    )
    .unwrap();

    // Three replicas queue for the lock while a fourth session holds it,
    // then it is released: they run as a rollout's replicas would.
    async fn three_at_once(
        dir: &std::path::Path,
        polled: bool,
    ) -> (String, Vec<Result<(), String>>) {
        let url = fresh_database().await;
        let holder = sqlx::PgPool::connect(&url).await.unwrap();
        let mut held = holder.acquire().await.unwrap();
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut *held)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(frontierwatch_server::storage::migrate::lock_id(&database))
            .execute(&mut *held)
            .await
            .unwrap();
        let replica = || {
            let (url, dir) = (url.clone(), dir.to_owned());
            async move {
                let pool = sqlx::PgPool::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                let migrator = Migrator::new(dir.as_path())
                    .await
                    .map_err(|e| e.to_string())?;
                let outcome = if polled {
                    frontierwatch_server::storage::migrate::apply(&pool, migrator)
                        .await
                        .map_err(|e| format!("{e:#}"))
                } else {
                    migrator.run(&pool).await.map_err(|e| e.to_string())
                };
                pool.close().await;
                outcome
            }
        };
        let release = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *held)
                .await
                .unwrap();
        };
        let all = async { tokio::join!(replica(), replica(), replica(), release) };
        let (a, b, c, ()) = tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("no migration hangs");
        drop(held);
        let outcomes = vec![a, b, c];
        holder.close().await;
        (url, outcomes)
    }

    let (_, waited) = three_at_once(&dir, false).await;
    assert!(
        waited.iter().any(Result::is_err),
        "control: replicas waiting in pg_advisory_lock deadlock with CREATE INDEX CONCURRENTLY: {waited:?}"
    );
    let (url, polled) = three_at_once(&dir, true).await;
    assert!(polled.iter().all(Result::is_ok), "{polled:?}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (valid,): (bool,) =
        sqlx::query_as("SELECT indisvalid FROM pg_index WHERE indexrelid = 'cic_x'::regclass")
            .fetch_one(&pool)
            .await
            .expect("the index exists");
    assert!(valid, "the index was built and is valid");
    pool.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
