//! Subscribes to Frontier Watch and prints every change as it is committed.
//!
//! ```sh
//! cargo run -p frontierwatch-client --example subscribe -- http://localhost:50051
//! ```
//!
//! It starts with a snapshot of current state, then follows live changes,
//! reconnecting and resuming by itself if the server restarts.

use frontierwatch_client::proto::{ChangeKind, WatchRequest};
use frontierwatch_client::{Client, ConnectOptions, WatchError, WatchEvent};
use tokio_stream::StreamExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:50051".to_owned());
    let client = Client::connect(ConnectOptions::new(endpoint)).await?;
    let mut request = WatchRequest {
        snapshot: true,
        ..Default::default()
    };
    loop {
        let mut events = client.watch(request.clone());
        while let Some(event) = events.next().await {
            match event {
                Ok(WatchEvent::Snapshot(chunk)) => {
                    for r in chunk.resources {
                        println!("snapshot  {}", r.resource_name);
                    }
                }
                Ok(WatchEvent::SnapshotRestarted) => println!("snapshot restarted"),
                Ok(WatchEvent::Bookmark(b)) => println!(
                    "bookmark  {}{}",
                    b.sequence,
                    if b.end_of_snapshot {
                        " (end of snapshot)"
                    } else {
                        ""
                    }
                ),
                Ok(WatchEvent::Transaction(t)) => {
                    for e in t.events {
                        let kind = ChangeKind::try_from(e.kind).map_or("?", |k| k.as_str_name());
                        println!("{:>8}  {kind:<20} {}", e.sequence, e.resource_name);
                    }
                }
                Err(WatchError::CursorExpired { .. }) => {
                    println!("cursor expired: re-snapshotting");
                    request = WatchRequest {
                        snapshot: true,
                        ..Default::default()
                    };
                    break;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}
