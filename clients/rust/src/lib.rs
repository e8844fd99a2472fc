//! The Rust client of Frontier Watch.
//!
//! It re-exports the generated messages and client ([`proto`]) and adds a
//! small layer other tools should use instead of the raw client:
//!
//! - [`Client::connect`] with [`ConnectOptions`] (endpoint, timeouts,
//!   keepalive, and an optional bearer token for when the server wants one);
//! - typed resource names ([`names`]);
//! - create calls that set `request_id` themselves, so that retries are safe;
//! - retries with backoff for idempotent calls and for `UNAVAILABLE`;
//! - [`Client::watch`]: a [`Stream`](tokio_stream::Stream) of change events
//!   that reconnects by itself and resumes after the last delivered
//!   sequence, without loss or duplicates, exposes bookmarks, and reports an
//!   expired cursor as [`WatchError::CursorExpired`] so that the caller can
//!   re-snapshot.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use frontierwatch_client::{Client, ConnectOptions, WatchEvent, proto::WatchRequest};
//! use tokio_stream::StreamExt as _;
//!
//! let client = Client::connect(ConnectOptions::new("http://localhost:50051")).await?;
//! let mut events = client.watch(WatchRequest { snapshot: true, ..Default::default() });
//! while let Some(event) = events.next().await {
//!     match event? {
//!         WatchEvent::Transaction(t) => println!("{} changes", t.events.len()),
//!         WatchEvent::Bookmark(b) => println!("at {}", b.sequence),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod discovery;
mod generic;
pub mod names;
mod retry;
mod watch;

pub use client::{
    Auth, Client, ConnectOptions, Error, RawClient, Resource, TlsOptions, new_trace_id,
};
pub use discovery::{Discovery, Resolve, SystemResolver};
pub use retry::RetryPolicy;
pub use watch::{WatchError, WatchEvent, WatchEvents};

/// The generated `frontierwatch.v1` messages and gRPC client.
pub mod proto {
    pub use frontierwatch_proto::kinds;
    pub use frontierwatch_proto::v1::*;
}
