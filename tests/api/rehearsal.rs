//! A local rehearsal of the production topology: three server processes
//! over one PostgreSQL, each configured only from what the production
//! overlay's ConfigMap and Secrets give its container (read from the
//! rendered manifests; no flags), behind a client that balances over the
//! three. Each pod's own IP becomes its own loopback ports.
//! Under load (8 writers retrying with `request_id`, 2 resuming watchers)
//! the servers are restarted one at a time the way a rolling update does,
//! then PostgreSQL is restarted; nothing may be lost or duplicated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontierwatch_client::{Client as FwClient, ConnectOptions, TlsOptions, WatchEvent};
use frontierwatch_proto::v1::*;
use serde_yaml_ng::Value;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::deployment::{OwnCluster, overall_health, wait_health};
use crate::fixtures::*;
use crate::harness::{ServerOptions, TestServer};
use crate::watch_support::truth;

/// The production overlay, rendered by kustomize as an operator would.
pub fn render_production() -> Vec<Value> {
    let overlay =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/overlays/production");
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .expect("kubectl runs (it renders the manifests)");
    assert!(
        output.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 manifests");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("valid YAML"))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("the rendered manifests have no {kind} {name}"))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// What the cluster would hold that the manifests only refer to: the
/// Secrets made by the database operator, cert-manager (or whoever issues
/// the certificate) and the operator installing the service.
type Secrets = HashMap<String, BTreeMap<String, String>>;

fn secret<'a>(secrets: &'a Secrets, name: &str, key: &str) -> &'a str {
    secrets
        .get(name)
        .and_then(|s| s.get(key))
        .unwrap_or_else(|| {
            panic!("the production overlay uses secret {name} key {key}; the rehearsal provides no such thing")
        })
}

/// The environment of the server container, resolved the way the kubelet
/// does (envFrom first, then env, later entries winning), with mounted
/// Secrets written under `root` and paths into them rewritten there.
fn container_environment(docs: &[Value], secrets: &Secrets, root: &Path) -> Vec<(String, String)> {
    let deployment = find(docs, "Deployment", "frontierwatch");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_sequence()
        .and_then(|c| c.iter().find(|c| c["name"].as_str() == Some("server")))
        .expect("a container named server");

    // Volumes: Secrets become files, emptyDirs empty directories.
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for mount in container["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let volume_name = text(&mount["name"]);
        let volume = pod["volumes"]
            .as_sequence()
            .and_then(|v| v.iter().find(|v| v["name"].as_str() == Some(&volume_name)))
            .unwrap_or_else(|| panic!("volume {volume_name} is defined"));
        let dir = root.join(&volume_name);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(name) = volume["secret"]["secretName"].as_str() {
            let optional = volume["secret"]["optional"].as_bool() == Some(true);
            match secrets.get(name) {
                // Only the keys `items` projects, when it is given.
                Some(data) => match volume["secret"]["items"].as_sequence() {
                    Some(items) => {
                        for item in items {
                            let key = text(&item["key"]);
                            let value = data
                                .get(&key)
                                .unwrap_or_else(|| panic!("secret {name} has no key {key}"));
                            std::fs::write(dir.join(text(&item["path"])), value).unwrap();
                        }
                    }
                    None => {
                        for (key, value) in data {
                            std::fs::write(dir.join(key), value).unwrap();
                        }
                    }
                },
                None if optional => {}
                None => panic!("the rehearsal provides secret {name}"),
            }
        }
        mounts.push((text(&mount["mountPath"]), dir));
    }

    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, key: String, value: String| {
        env.retain(|(k, _)| *k != key);
        env.push((key, value));
    };
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            let map = find(docs, "ConfigMap", name);
            for (key, value) in map["data"].as_mapping().into_iter().flatten() {
                set(&mut env, text(key), text(value));
            }
        } else if let Some(name) = source["secretRef"]["name"].as_str() {
            for (key, value) in secrets.get(name).into_iter().flatten() {
                set(&mut env, key.clone(), value.clone());
            }
        } else {
            panic!("an envFrom source the rehearsal does not know: {source:?}");
        }
    }
    for entry in container["env"].as_sequence().into_iter().flatten() {
        let key = text(&entry["name"]);
        let value = if let Some(value) = entry.get("value") {
            text(value)
        } else if let Some(reference) = entry["valueFrom"].get("secretKeyRef") {
            secret(
                secrets,
                reference["name"].as_str().unwrap(),
                reference["key"].as_str().unwrap(),
            )
            .to_owned()
        } else if let Some(reference) = entry["valueFrom"].get("configMapKeyRef") {
            let map = find(docs, "ConfigMap", reference["name"].as_str().unwrap());
            text(&map["data"][reference["key"].as_str().unwrap()])
        } else {
            panic!("an env entry the rehearsal does not know: {entry:?}");
        };
        // $(NAME) of a variable defined before this one is expanded, as
        // the kubelet does; other text is left as it is.
        let value = expand(&value, &env);
        set(&mut env, key, value);
    }
    // Paths into mounted volumes (alone, or inside a URL) point into their
    // local copies.
    env.into_iter()
        .map(|(key, mut value)| {
            // Two passes, so that a local copy's path (under /tmp) is not
            // taken for a mount path (the emptyDir at /tmp) again.
            for (i, (path, _)) in mounts.iter().enumerate() {
                value = value.replace(&format!("{path}/"), &format!("\u{0}{i}\u{0}"));
            }
            for (i, (_, dir)) in mounts.iter().enumerate() {
                value = value.replace(&format!("\u{0}{i}\u{0}"), &format!("{}/", dir.display()));
            }
            (key, value)
        })
        .collect()
}

/// `$(NAME)` replaced by NAME's value among `defined`, as the kubelet
/// expands env values.
fn expand(value: &str, defined: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match defined.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One replica: its environment, and the addresses its pod would have.
struct Replica {
    env: Vec<(String, String)>,
    listen: SocketAddr,
    health: SocketAddr,
    server: Option<TestServer>,
}

impl Replica {
    /// Starts (or restarts) the process on the replica's addresses and
    /// waits until it is ready, as the readiness probe would.
    async fn start(&mut self) {
        let mut env = self.env.clone();
        // Each pod has its own IP: here, its own ports on loopback.
        for (key, value) in &mut env {
            match key.as_str() {
                "FRONTIERWATCH_LISTEN" => *value = self.listen.to_string(),
                "FRONTIERWATCH_HEALTH_LISTEN" => *value = self.health.to_string(),
                "FRONTIERWATCH_METRICS_LISTEN" => *value = "127.0.0.1:0".to_owned(),
                _ => {}
            }
        }
        let server = TestServer::start_with(ServerOptions {
            database_url: None,
            listen: None,
            env,
            ..Default::default()
        })
        .await
        .expect("the replica starts");
        self.listen = server.addr;
        self.health = server
            .health_addr
            .expect("the production overlay serves health for the probes");
        assert!(
            wait_health(self.health, ServingStatus::Serving, Duration::from_secs(30))
                .await
                .is_some(),
            "the replica became ready"
        );
        self.server = Some(server);
    }

    /// SIGTERM, as the kubelet sends it; returns how long the exit took.
    async fn terminate(&mut self) -> Duration {
        let mut server = self.server.take().expect("running");
        let started = Instant::now();
        let (clean, lines) = server.terminate().await;
        assert!(clean, "the replica exited cleanly: {lines:#?}");
        assert!(
            lines.iter().any(|l| l.starts_with('{')),
            "the replica logs JSON, as the ConfigMap says"
        );
        started.elapsed()
    }
}

fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
    )
}

/// Writes until stopped: each create carries a request id and is retried
/// with the same one until it is acknowledged. Returns the acknowledged
/// names, and the number of retries.
async fn writer(
    client: FwClient,
    writer: usize,
    stop: watch::Receiver<bool>,
) -> Result<(Vec<String>, u64), String> {
    let mut acknowledged = Vec::new();
    let mut retries = 0;
    let mut raw = client.raw();
    let mut i = 0u32;
    while !*stop.borrow() {
        let request = CreateBenchmarkResultRequest {
            benchmark_result_id: String::new(),
            benchmark_result: Some(result(
                "models/line/releases/v1",
                "benchmarks/bench",
                f64::from(i % 100),
            )),
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        let started = Instant::now();
        let mut first = true;
        loop {
            // Every fifth write gives up on its first try after a few
            // milliseconds, as a client whose deadline passed would: the
            // server may have committed it, and the retry must not make
            // a second one.
            let patience = if first && i.is_multiple_of(5) {
                Duration::from_millis(1 + u64::from(i % 4))
            } else {
                Duration::from_secs(30)
            };
            first = false;
            let outcome =
                tokio::time::timeout(patience, raw.create_benchmark_result(request.clone()))
                    .await
                    .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("gave up")));
            match outcome {
                Ok(response) => {
                    acknowledged.push(response.into_inner().name);
                    break;
                }
                Err(status) if transient(status.code()) => {
                    if started.elapsed() > Duration::from_secs(60) {
                        return Err(format!("writer {writer}: still failing: {status:?}"));
                    }
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => return Err(format!("writer {writer}: {status:?}")),
            }
        }
        i += 1;
    }
    Ok((acknowledged, retries))
}

/// A resuming watch recording every event's sequence and resource.
struct Watcher {
    events: Arc<Mutex<Vec<(i64, String)>>>,
    error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn start(client: &FwClient, after: i64) -> Watcher {
        let events = Arc::new(Mutex::new(Vec::new()));
        let error = Arc::new(Mutex::new(None));
        let mut stream = client.watch(WatchRequest {
            start_after_sequence: Some(after),
            ..Default::default()
        });
        let (e, err) = (events.clone(), error.clone());
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(WatchEvent::Transaction(t)) => e
                        .lock()
                        .unwrap()
                        .extend(t.events.into_iter().map(|e| (e.sequence, e.resource_name))),
                    Ok(_) => {}
                    Err(error) => {
                        *err.lock().unwrap() = Some(format!("{error:?}"));
                        return;
                    }
                }
            }
        });
        Watcher {
            events,
            error,
            task,
        }
    }

    fn last(&self) -> i64 {
        self.events.lock().unwrap().last().map_or(0, |e| e.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_update_and_a_database_restart_lose_and_duplicate_nothing() {
    let (db_ca, db_cert, db_key) = crate::tls::authority("database operator");
    let (mut cluster, db_address) = OwnCluster::start_tls(&db_cert, &db_key).await;
    let database_url = cluster.url("fw");
    let root = PathBuf::from(format!(
        "/tmp/fw-rehearsal-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let (ca, cert, key) = crate::tls::authority("rehearsal");
    let admin_secret = format!("rehearsal-{}", uuid::Uuid::new_v4().simple());
    let secrets: Secrets = HashMap::from([
        (
            "frontierwatch-db-app".to_owned(),
            operator_app_secret(&db_address),
        ),
        ("frontierwatch-db-ca".to_owned(), operator_ca_secret(&db_ca)),
        (
            "frontierwatch-admin-token".to_owned(),
            BTreeMap::from([("token".to_owned(), admin_secret.clone())]),
        ),
        (
            "frontierwatch-tls".to_owned(),
            BTreeMap::from([
                ("tls.crt".to_owned(), cert),
                ("tls.key".to_owned(), key),
                ("ca.crt".to_owned(), ca.clone()),
            ]),
        ),
    ]);
    let docs = render_production();
    assert!(
        find(&docs, "Deployment", "frontierwatch")["spec"]
            .get("replicas")
            .is_none(),
        "the HorizontalPodAutoscaler owns the replica count"
    );
    let replicas_wanted =
        find(&docs, "HorizontalPodAutoscaler", "frontierwatch")["spec"]["minReplicas"]
            .as_u64()
            .expect("minReplicas");
    assert!(
        replicas_wanted >= 3,
        "production runs three or more replicas"
    );

    let mut replicas = Vec::new();
    for i in 0..3 {
        let env = container_environment(&docs, &secrets, &root.join(format!("pod-{i}")));
        assert!(
            env.iter().any(|(k, _)| k == "DATABASE_URL"),
            "the database URL comes from the manifests"
        );
        let mut replica = Replica {
            env,
            listen: "127.0.0.1:0".parse().unwrap(),
            health: "127.0.0.1:0".parse().unwrap(),
            server: None,
        };
        replica.start().await;
        replicas.push(replica);
    }
    assert!(
        replicas[0]
            .env
            .iter()
            .any(|(k, _)| k == "FRONTIERWATCH_TLS_CERT_FILE"),
        "production serves TLS"
    );

    // A client balancing over the three, as over a headless Service.
    let mut options =
        ConnectOptions::new(format!("https://localhost:{}", replicas[0].listen.port()));
    options.additional_endpoints = replicas[1..]
        .iter()
        .map(|r| format!("https://localhost:{}", r.listen.port()))
        .collect();
    options.auth_token = Some(admin_secret.clone());
    options.tls = Some(TlsOptions {
        ca_pem: Some(ca.into_bytes()),
        ..Default::default()
    });
    options.connect_timeout = Duration::from_secs(2);
    options.retry.max_attempts = 100;
    let client = FwClient::connect(options).await.expect("a client");

    // What the writers write against.
    client
        .create(
            None,
            "lab",
            Organization {
                display_name: "Lab".into(),
                ..Default::default()
            },
        )
        .await
        .expect("organization");
    client
        .create(
            None,
            "line",
            Model {
                display_name: "Line".into(),
                developers: vec!["organizations/lab".into()],
                ..Default::default()
            },
        )
        .await
        .expect("model");
    client
        .create(Some("models/line"), "v1", release("Line v1"))
        .await
        .expect("release");
    let bench = Benchmark {
        display_name: "Bench".into(),
        scale: ScoreScale::Percent as i32,
        direction: ScoreDirection::HigherIsBetter as i32,
        category: "coding".into(),
        ..Default::default()
    };
    client
        .create(None, "bench", bench)
        .await
        .expect("benchmark");

    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let (start,): (i64,) = sqlx::query_as("SELECT coalesce(max(seq), 0) FROM changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    let watchers = [
        Watcher::start(&client, start),
        Watcher::start(&client, start),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let writers: Vec<_> = (0..8)
        .map(|w| tokio::spawn(writer(client.clone(), w, stop_rx.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The rolling update: one replica at a time, SIGTERM, back and ready,
    // then the next.
    let mut shutdowns = Vec::new();
    for replica in &mut replicas {
        shutdowns.push(replica.terminate().await);
        replica.start().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("rolling update done; shutdowns took {shutdowns:?}");

    // PostgreSQL restarts under the same load: every replica's readiness
    // goes down, and comes back up once it answers again.
    cluster.stop();
    for replica in &replicas {
        assert!(
            wait_health(
                replica.health,
                ServingStatus::NotServing,
                Duration::from_secs(20)
            )
            .await
            .is_some(),
            "a replica reported NOT_SERVING while PostgreSQL was down"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.restart().await;
    for replica in &replicas {
        assert!(
            wait_health(
                replica.health,
                ServingStatus::Serving,
                Duration::from_secs(30)
            )
            .await
            .is_some(),
            "a replica became ready again"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop_tx.send(true).unwrap();
    let mut acknowledged = Vec::new();
    let mut retries = 0;
    for handle in writers {
        let (names, r) = handle
            .await
            .expect("no panic")
            .expect("the writer kept going");
        acknowledged.extend(names);
        retries += r;
    }

    // Writes: every acknowledged one is stored, once.
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM resources WHERE kind = 'benchmark_result'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let stored: HashSet<String> = stored.into_iter().map(|(n,)| n).collect();
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        unique.len(),
        acknowledged.len(),
        "no write acknowledged twice"
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !stored.contains(*n))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "no acknowledged write was stored twice (a retry made a second result)"
    );

    // Streams: each saw every change after `start` once, in order.
    let truth: Vec<(i64, String)> = truth(&pool)
        .await
        .into_iter()
        .filter(|t| t.seq > start)
        .map(|t| (t.seq, t.resource_name))
        .collect();
    let head = truth.last().map_or(start, |t| t.0);
    for (i, watcher) in watchers.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while watcher.last() < head && Instant::now() < deadline {
            if let Some(error) = watcher.error.lock().unwrap().clone() {
                panic!("watcher {i} ended: {error}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = watcher.events.lock().unwrap().clone();
        let duplicated = got.windows(2).filter(|w| w[0].0 >= w[1].0).count();
        assert_eq!(
            duplicated, 0,
            "watcher {i}: events repeated or out of order"
        );
        let seen: HashSet<i64> = got.iter().map(|e| e.0).collect();
        let missed: Vec<_> = truth
            .iter()
            .filter(|t| !seen.contains(&t.0))
            .take(5)
            .collect();
        assert!(
            missed.is_empty(),
            "watcher {i} lost events, first: {missed:?}"
        );
        assert_eq!(got, truth, "watcher {i}: exactly the change log");
        watcher.task.abort();
    }
    eprintln!(
        "rehearsal: {} writes acknowledged ({retries} retries), {} events to each of 2 watchers",
        acknowledged.len(),
        truth.len()
    );
    // For sizing the pods (deploy/README.md): memory and CPU of the
    // replicas that served the whole PostgreSQL phase.
    for (i, replica) in replicas.iter().enumerate() {
        if let Some(server) = &replica.server {
            eprintln!(
                "rehearsal: replica {i}: peak RSS {} kB, RSS {} kB, CPU {:.2} s",
                server.memory_kib("VmHWM"),
                server.memory_kib("VmRSS"),
                cpu_seconds(server.pid())
            );
        }
    }
    // The readiness of every replica is SERVING at the end.
    for replica in &replicas {
        assert_eq!(
            overall_health(replica.health).await,
            Ok(ServingStatus::Serving)
        );
    }
    pool.close().await;
    drop(replicas);
    let _ = std::fs::remove_dir_all(root);
}

/// CPU time (user and system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // utime and stime are fields 14 and 15, after the parenthesized name.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

/// What the CloudNativePG operator puts in `<cluster>-app`: `uri` is the
/// read-write Service's URL with the application user's password and no
/// parameters (here the test's TLS PostgreSQL, which trusts the password).
fn operator_app_secret(address: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "uri".to_owned(),
        format!("postgresql://postgres:operator-made-password@{address}/fw"),
    )])
}

/// A marker standing for the CA's private key: it must never reach a pod.
const CA_KEY: &str = "-----BEGIN PRIVATE KEY----- the operator's CA key -----END PRIVATE KEY-----";

/// What the operator puts in `<cluster>-ca`: the CA's certificate and key.
fn operator_ca_secret(ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ca.crt".to_owned(), ca.to_owned()),
        ("ca.key".to_owned(), CA_KEY.to_owned()),
    ])
}

fn org(name: &str) -> Organization {
    Organization {
        display_name: name.into(),
        ..Default::default()
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The server started from the production overlay's rendered environment
/// verifies the database: `verify-full` against the operator's CA, mounted
/// alone (never the CA's key); the operator rotating the CA and the
/// certificate takes effect for new connections without a restart; and a
/// server given another CA refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_environment_verifies_the_database() {
    let (db_ca, db_cert, db_key) = crate::tls::authority("database operator");
    let (cluster, db_address) = OwnCluster::start_tls(&db_cert, &db_key).await;
    let root = PathBuf::from(format!("/tmp/fw-dbtls-{}", uuid::Uuid::new_v4().simple()));
    let (ca, cert, key) = crate::tls::authority("server");
    let admin_secret = format!("dbtls-{}", uuid::Uuid::new_v4().simple());
    let secrets_with = |database_ca: &str| -> Secrets {
        HashMap::from([
            (
                "frontierwatch-db-app".to_owned(),
                operator_app_secret(&db_address),
            ),
            (
                "frontierwatch-db-ca".to_owned(),
                operator_ca_secret(database_ca),
            ),
            (
                "frontierwatch-admin-token".to_owned(),
                BTreeMap::from([("token".to_owned(), admin_secret.clone())]),
            ),
            (
                "frontierwatch-tls".to_owned(),
                BTreeMap::from([
                    ("tls.crt".to_owned(), cert.clone()),
                    ("tls.key".to_owned(), key.clone()),
                ]),
            ),
        ])
    };
    let docs = render_production();
    let pod = root.join("pod");
    let env = container_environment(&docs, &secrets_with(&db_ca), &pod);
    let url = &env
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .expect("DATABASE_URL")
        .1;
    assert!(
        url.starts_with("postgresql://postgres:operator-made-password@")
            && url.contains("sslmode=verify-full")
            && url.contains("sslrootcert="),
        "the URL is the operator's with verification appended: {url}"
    );
    for file in files_under(&pod) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains(CA_KEY),
            "the CA's key was mounted: {}",
            file.display()
        );
    }
    let mut replica = Replica {
        env: env.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        health: "127.0.0.1:0".parse().unwrap(),
        server: None,
    };
    replica.start().await;
    let pool = sqlx::PgPool::connect(&cluster.url("fw")).await.unwrap();
    let (verified,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
          WHERE s.ssl AND a.datname = 'fw' AND a.client_addr IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(verified >= 1, "the server's connections use TLS");
    let mut options = ConnectOptions::new(format!("https://localhost:{}", replica.listen.port()));
    options.auth_token = Some(admin_secret.clone());
    options.tls = Some(TlsOptions {
        ca_pem: Some(ca.clone().into_bytes()),
        ..Default::default()
    });
    let client = FwClient::connect(options).await.expect("a client");
    client
        .create(None, "before-rotation", org("Before"))
        .await
        .expect("a write over the verified connection");

    // The operator rotates: a new CA, a certificate it signed, the Secret's
    // ca.crt updated in the mounted volume; PostgreSQL reloads and every
    // session ends. The server reconnects, verifying against the new file.
    let (new_ca, new_cert, new_key) = crate::tls::authority("database operator, renewed");
    cluster.install_certificate(&new_cert, &new_key);
    cluster.reload().await;
    let _ = container_environment(&docs, &secrets_with(&new_ca), &pod);
    cluster.disconnect_all("fw").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.create(None, "after-rotation", org("After")).await {
            Ok(_) => break,
            Err(status) if Instant::now() < deadline => {
                eprintln!("not yet: {status:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("no write after the rotation: {status:?}"),
        }
    }
    // Health reports what its last check saw (every 2 s here): a check
    // that ran while the sessions were ended says NOT_SERVING until the
    // next one.
    let ready = wait_health(
        replica.health,
        ServingStatus::Serving,
        Duration::from_secs(10),
    );
    assert!(
        ready.await.is_some(),
        "ready after the rotation, without a restart"
    );
    let pid = replica.server.as_ref().map(|s| s.pid());
    assert!(pid.is_some_and(|p| p > 0), "the same process still serves");

    // A server given another CA refuses the database and does not start.
    let (other_ca, _, _) = crate::tls::authority("someone else");
    let mut env = container_environment(&docs, &secrets_with(&other_ca), &root.join("other"));
    for (key, value) in &mut env {
        match key.as_str() {
            "FRONTIERWATCH_LISTEN"
            | "FRONTIERWATCH_HEALTH_LISTEN"
            | "FRONTIERWATCH_METRICS_LISTEN" => *value = "127.0.0.1:0".to_owned(),
            _ => {}
        }
    }
    let refused = TestServer::start_with(ServerOptions {
        env,
        ..Default::default()
    })
    .await;
    let output = refused
        .err()
        .expect("a database whose certificate another CA signed is refused");
    assert!(
        output.contains("cannot connect to the database"),
        "{output}"
    );
    pool.close().await;
    drop(replica);
    drop(cluster);
    let _ = std::fs::remove_dir_all(root);
}
