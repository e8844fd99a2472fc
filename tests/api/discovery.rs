//! DNS-based discovery in the client crate: one name that resolves to
//! several addresses on this machine (servers on 127.0.0.2, .3, .4 with one
//! port, as a headless Service's pods share theirs), servers added and
//! removed while calls and a watch run. New servers receive calls after
//! the next resolution, a removed one leaves as soon as a call finds it
//! gone, and the watch resumes across its server's removal without losing
//! or repeating an event.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontierwatch_client::{Client as FwClient, ConnectOptions, Discovery, Resolve, WatchEvent};
use frontierwatch_proto::v1::*;
use tokio_stream::StreamExt as _;

use crate::harness::{ServerOptions, TestServer, fresh_database};
use crate::metrics::{scrape, value};
use crate::watch_support::truth;

/// The name the test's servers go by.
const NAME: &str = "frontierwatch-headless.test";

/// A resolver whose answer for [`NAME`] the test changes, counting lookups.
#[derive(Debug, Default)]
struct Names {
    addresses: Mutex<Vec<SocketAddr>>,
    lookups: AtomicUsize,
}

impl Names {
    fn set(&self, addresses: &[SocketAddr]) {
        *self.addresses.lock().unwrap() = addresses.to_vec();
    }
}

impl Resolve for Names {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = if host == NAME {
            Ok(self
                .addresses
                .lock()
                .unwrap()
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "unknown name",
            ))
        };
        Box::pin(async move { answer })
    }
}

/// A port free on each of `ips`.
fn common_port(ips: &[&str]) -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port();
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
}

async fn server_on(database_url: &str, addr: SocketAddr) -> TestServer {
    TestServer::start_with(ServerOptions {
        database_url: Some(database_url.to_owned()),
        listen: Some(addr.to_string()),
        ..Default::default()
    })
    .await
    .expect("the server starts")
}

/// GetOrganization calls a server has answered.
fn gets_served(server: &TestServer) -> f64 {
    value(
        &scrape(server).1,
        "grpc_server_handled_total",
        &[("grpc_method", "GetOrganization")],
    )
}

fn client_options(token: &str, names: &Arc<Names>, refresh: Duration, port: u16) -> ConnectOptions {
    let mut options = ConnectOptions::new(format!("http://{NAME}:{port}"));
    options.auth_token = Some(token.to_owned());
    options.connect_timeout = Duration::from_secs(1);
    options.retry.max_attempts = 50;
    options.discovery = Some(Discovery {
        refresh,
        resolver: names.clone(),
    });
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dns_discovery_follows_servers_added_and_removed_and_watches_resume() {
    let url = fresh_database().await;
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let port = common_port(&ips);
    let addrs: Vec<SocketAddr> = ips
        .iter()
        .map(|ip| SocketAddr::new(ip.parse().unwrap(), port))
        .collect();
    let a = server_on(&url, addrs[0]).await;
    let b = server_on(&url, addrs[1]).await;
    let names = Arc::new(Names::default());
    names.set(&addrs[..2]);
    let client = FwClient::connect(client_options(
        &a.token,
        &names,
        Duration::from_millis(500),
        port,
    ))
    .await
    .expect("a client");
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
        .expect("a write through the name");

    // Calls spread over both addresses the name has.
    for _ in 0..40 {
        client
            .get_organization("organizations/lab")
            .await
            .expect("get");
    }
    assert!(
        gets_served(&a) > 0.0 && gets_served(&b) > 0.0,
        "both servers answered"
    );

    // A watch and a writer run through the rest.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let start = truth(&pool).await.last().map_or(0, |t| t.seq);
    let events = Arc::new(Mutex::new(Vec::<i64>::new()));
    let mut stream = client.watch(WatchRequest {
        start_after_sequence: Some(start),
        ..Default::default()
    });
    let seen = events.clone();
    let watcher = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            match item {
                Ok(WatchEvent::Transaction(t)) => seen
                    .lock()
                    .unwrap()
                    .extend(t.events.iter().map(|e| e.sequence)),
                Ok(_) => {}
                Err(error) => panic!("the watch ended: {error}"),
            }
        }
    });
    let writer_client = client.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        let mut i = 0;
        while !*stopped.borrow() {
            writer_client
                .create(
                    None,
                    &format!("org-{i}"),
                    Organization {
                        display_name: format!("Org {i}"),
                        ..Default::default()
                    },
                )
                .await
                .expect("every write succeeds, retried across the changes");
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        i
    });

    // A server is added: after the next resolution it answers calls too.
    let c = server_on(&url, addrs[2]).await;
    names.set(&addrs);
    let deadline = Instant::now() + Duration::from_secs(20);
    while gets_served(&c) == 0.0 {
        assert!(
            Instant::now() < deadline,
            "the added server never got a call"
        );
        client
            .get_organization("organizations/lab")
            .await
            .expect("get");
    }

    // The server that holds the watch is removed (its pod leaves the
    // Service, then gets SIGTERM): calls go on through the others and the
    // watch resumes on one of them.
    let watches = |server: &TestServer| value(&scrape(server).1, "frontierwatch_watches_open", &[]);
    let mut servers = vec![(addrs[0], a), (addrs[1], b), (addrs[2], c)];
    let holder = servers
        .iter()
        .position(|(_, s)| watches(s) > 0.0)
        .expect("a server holds the watch");
    let (_, mut removed) = servers.remove(holder);
    let remaining: Vec<SocketAddr> = servers.iter().map(|(a, _)| *a).collect();
    names.set(&remaining);
    let (clean, _) = removed.terminate().await;
    assert!(clean, "the removed server shut down cleanly");
    for _ in 0..40 {
        client
            .get_organization("organizations/lab")
            .await
            .expect("gets go on without the removed server");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while servers.iter().all(|(_, s)| watches(s) == 0.0) {
        assert!(
            Instant::now() < deadline,
            "the watch did not resume on another server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A client that would not resolve again for an hour still drops a
    // server it finds gone at once: the failed call asks for a resolution.
    let patient_names = Arc::new(Names::default());
    patient_names.set(&remaining);
    let token = servers[0].1.token.clone();
    let patient = FwClient::connect(client_options(
        &token,
        &patient_names,
        Duration::from_secs(3600),
        port,
    ))
    .await
    .expect("a client");
    patient
        .get_organization("organizations/lab")
        .await
        .expect("get");
    let lookups = patient_names.lookups.load(Ordering::SeqCst);
    // The one without the watch goes, without a word to anyone.
    let quiet = servers
        .iter()
        .position(|(_, s)| watches(s) == 0.0)
        .expect("one remaining server has no watch");
    let (_, gone) = servers.remove(quiet);
    patient_names.set(&[servers[0].0]);
    names.set(&[servers[0].0]);
    drop(gone);
    for _ in 0..20 {
        patient
            .get_organization("organizations/lab")
            .await
            .expect("gets go on once the gone server is dropped");
    }
    assert!(
        patient_names.lookups.load(Ordering::SeqCst) > lookups,
        "losing a server made the client resolve again before its refresh interval"
    );

    stop.send(true).unwrap();
    let written = writer.await.expect("the writer kept going");
    assert!(written > 0, "writes went through");
    let truth: Vec<i64> = truth(&pool)
        .await
        .into_iter()
        .filter(|t| t.seq > start)
        .map(|t| t.seq)
        .collect();
    let head = *truth.last().expect("changes");
    let deadline = Instant::now() + Duration::from_secs(30);
    while events.lock().unwrap().last().copied().unwrap_or(0) < head {
        assert!(Instant::now() < deadline, "the watch did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *events.lock().unwrap(),
        truth,
        "the watch saw every change once, in order, across the removals"
    );
    watcher.abort();
    pool.close().await;
}
