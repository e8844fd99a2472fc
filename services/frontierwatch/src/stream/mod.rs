//! The change stream: Watch over the change log.
//!
//! Guarantees, in the terms of etcd's watch API: events arrive in commit
//! order (ordered), at most once per stream (unique), with no matching event
//! left out (reliable), one message per transaction (atomic), continuing
//! exactly after a given sequence (resumable), with periodic bookmarks
//! carrying the head even when nothing matches (bookmarkable).

pub mod cache;
pub mod evaluator;
pub mod filter;
pub mod frames;
pub mod hub;
pub mod market_alerts;
pub mod pruner;
pub mod watcher;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use frontierwatch_proto::v1::WatchRequest;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::error::ApiError;
use crate::storage::changes;
use filter::WatchFilter;
use hub::Hub;
use watcher::{Start, Watch, WatchSettings, WatchStream};

/// Opens watches on this replica.
#[derive(Debug, Clone)]
pub struct Watches {
    pool: sqlx::PgPool,
    /// Connections reserved for snapshots.
    snapshot_pool: sqlx::PgPool,
    hub: Arc<Hub>,
    settings: WatchSettings,
    shutdown: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    limit: usize,
    /// Open watches per token, each bounded by `per_token_limit`.
    per_token: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    per_token_limit: usize,
}

impl Watches {
    /// Watches served by `hub`, at most `limit` at once and
    /// `per_token_limit` per token.
    pub fn new(
        pool: sqlx::PgPool,
        snapshot_pool: sqlx::PgPool,
        hub: Arc<Hub>,
        settings: WatchSettings,
        (limit, per_token_limit): (usize, usize),
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            pool,
            snapshot_pool,
            hub,
            settings,
            shutdown,
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            per_token: Arc::default(),
            per_token_limit,
        }
    }

    /// A permit of the token's own share of watches.
    fn token_permit(&self, token: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        let share = {
            let mut shares = self
                .per_token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shares
                .entry(token.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_token_limit)))
                .clone()
        };
        share
            .try_acquire_owned()
            .map_err(|_| ApiError::WatchLimitPerToken {
                token: token.to_owned(),
                limit: self.per_token_limit,
            })
    }

    /// Validates a request and starts its watch; `token` is the caller's
    /// token, when the call carried one.
    pub async fn open(
        &self,
        request: &WatchRequest,
        token: Option<&str>,
    ) -> Result<WatchStream, ApiError> {
        let opened = self.try_open(request, token).await;
        if let Err(error) = &opened
            && !matches!(error, ApiError::InvalidArgument(_))
        {
            crate::metrics::watch_ended(watcher::end_reason(error));
        }
        opened
    }

    async fn try_open(
        &self,
        request: &WatchRequest,
        token: Option<&str>,
    ) -> Result<WatchStream, ApiError> {
        let filter = WatchFilter::from_request(request)?;
        if request.snapshot && request.start_after_sequence.is_some() {
            return Err(ApiError::invalid(
                "start_after_sequence",
                "cannot be combined with snapshot: a snapshot starts at its own bookmark",
            ));
        }
        if request.start_after_sequence.is_some_and(|s| s < 0) {
            return Err(ApiError::invalid(
                "start_after_sequence",
                "must not be negative",
            ));
        }
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::WatchLimit { limit: self.limit })?;
        let token_permit = token.map(|t| self.token_permit(t)).transpose()?;
        // Subscribe before reading where to start, so nothing committed in
        // between is missed (what is seen twice is skipped by sequence).
        let live = self.hub.subscribe(filter.route());
        let start = if request.snapshot {
            Start::Snapshot
        } else {
            let (pruned_through, oldest, head) = changes::window(&self.pool).await?;
            match request.start_after_sequence {
                Some(cursor) if cursor < pruned_through => {
                    return Err(ApiError::CursorExpired {
                        cursor,
                        oldest,
                        head,
                    });
                }
                // Accepting it would drop every event up to the cursor;
                // after a restore or a failover it names sequences that
                // will be reused.
                Some(cursor) if cursor > head => {
                    return Err(ApiError::CursorAhead { cursor, head });
                }
                Some(cursor) => Start::After(cursor),
                None => Start::After(head),
            }
        };
        Ok(Watch {
            pool: self.pool.clone(),
            snapshot_pool: self.snapshot_pool.clone(),
            filter,
            start,
            live,
            settings: self.settings.clone(),
            shutdown: self.shutdown.clone(),
            permit: (permit, token_permit),
            hub: self.hub.clone(),
        }
        .spawn())
    }
}
