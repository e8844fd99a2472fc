//! The typed client's self-resuming watch: it survives a server restart and
//! a dropped connection, delivering every event once, in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use frontierwatch_client::proto::{Organization, WatchRequest};
use frontierwatch_client::{Client, ConnectOptions, WatchEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt as _;

use crate::harness::{ServerOptions, TestServer, fresh_database};
use crate::watch::head;

/// Collects the sequences of a subscription until it reaches `until`.
async fn collect(
    events: &mut frontierwatch_client::WatchEvents,
    until: i64,
    timeout: Duration,
) -> Vec<i64> {
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while events.last_sequence().unwrap_or(0) < until {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        match next {
            Ok(Some(Ok(WatchEvent::Transaction(t)))) => {
                seqs.extend(t.events.iter().map(|e| e.sequence))
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("subscription failed: {e}"),
            Ok(None) => panic!("subscription ended"),
            Err(_) => panic!(
                "timed out at {:?} waiting for {until}",
                events.last_sequence()
            ),
        }
    }
    seqs
}

fn assert_exactly(seqs: &[i64], expected: &[i64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "out of order or repeated: {seqs:?}"
    );
    assert_eq!(seqs, expected, "every event exactly once");
}

async fn write_orgs(client: &Client, prefix: &str, n: usize) {
    for i in 0..n {
        client
            .create_organization(
                &format!("{prefix}-{i}"),
                Organization {
                    display_name: format!("{prefix} {i}"),
                    ..Default::default()
                },
            )
            .await
            .expect("create succeeds");
    }
}

async fn all_seqs(server: &TestServer, after: i64) -> Vec<i64> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT seq FROM changes WHERE seq > $1 ORDER BY seq")
        .bind(after)
        .fetch_all(&server.pool().await)
        .await
        .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_watch_resumes_across_a_server_restart() {
    let database = fresh_database().await;
    let writer = TestServer::start_with(ServerOptions {
        database_url: Some(database.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let start = |listen: String, database: String| async move {
        TestServer::start_with(ServerOptions {
            database_url: Some(database),
            listen: Some(listen),
            ..Default::default()
        })
        .await
        .unwrap()
    };
    let watched = start(listen.clone(), database.clone()).await;
    let writes = Client::connect(writer.connect_options()).await.unwrap();
    let mut options = ConnectOptions::new(format!("http://{listen}"));
    options.auth_token = Some(writer.token.clone());
    let client = Client::connect(options).await.unwrap();
    let from = head(&writer).await;
    let mut events = client.watch(WatchRequest {
        start_after_sequence: Some(from),
        ..Default::default()
    });

    write_orgs(&writes, "before", 20).await;
    let mid = head(&writer).await;
    let mut seqs = collect(&mut events, mid, Duration::from_secs(20)).await;
    drop(watched); // SIGKILL, mid-stream
    write_orgs(&writes, "during", 20).await;
    let _restarted = start(listen, database).await;
    write_orgs(&writes, "after", 20).await;
    let end = head(&writer).await;
    seqs.extend(collect(&mut events, end, Duration::from_secs(30)).await);
    assert_exactly(&seqs, &all_seqs(&writer, from).await);
}

/// A TCP proxy whose connections can be cut.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let conns = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().await.push(task);
            }
        });
        Proxy {
            addr,
            cut,
            connections,
        }
    }

    /// Drops every open connection, as a failing network would.
    async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_watch_resumes_after_a_dropped_connection() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let writes = Client::connect(server.connect_options()).await.unwrap();
    let mut options = ConnectOptions::new(format!("http://{}", proxy.addr));
    options.auth_token = Some(server.token.clone());
    let client = Client::connect(options).await.unwrap();
    let from = head(&server).await;
    let mut events = client.watch(WatchRequest {
        start_after_sequence: Some(from),
        ..Default::default()
    });
    write_orgs(&writes, "one", 15).await;
    let mut seqs = collect(&mut events, head(&server).await, Duration::from_secs(20)).await;
    proxy.cut().await;
    write_orgs(&writes, "two", 15).await;
    seqs.extend(collect(&mut events, head(&server).await, Duration::from_secs(30)).await);
    assert!(proxy.cut.load(Ordering::SeqCst));
    assert_exactly(&seqs, &all_seqs(&server, from).await);
}
