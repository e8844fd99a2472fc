//! The record as it stood at a past time, for questions asked "as known
//! on" it (`known_as_of`): a [`Store`] over one private connection on
//! which `resources` is a temporary table holding each resource as its
//! revisions say it was then. A temporary table comes first in
//! PostgreSQL's search path, so every read of the analytics layer and of
//! the store runs unchanged against it: one implementation of each
//! question, whichever time it is asked at.
//!
//! The cost grows with the store: every resource but the results, and the
//! results the question reads (one benchmark's, or a few model lines'),
//! is decoded and indexed again (docs/history.md).

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

use super::error::{Operation, map_db_error};
use super::resources::Store;
pub use super::revisions::Results;
use super::revisions::{history_begins, record_at};
use super::rows::{Plan, decode};
use crate::domain::names::KindInfo;
use crate::error::ApiError;

/// A [`Store`] of the record as it stood at a past time. Close it when done
/// ([`Known::close`]); its connection is its own.
pub struct Known {
    store: Store,
}

impl Known {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Ends the private connection (and its temporary table).
    pub async fn close(self) {
        self.store.pool().close().await;
    }
}

/// Refuses a `known_as_of` (the request field `field`) in the future or
/// before the history begins.
pub async fn check(store: &Store, field: &'static str, at: DateTime<Utc>) -> Result<(), ApiError> {
    // A little clock skew between replicas and clients is no future.
    if at > Utc::now() + chrono::Duration::seconds(5) {
        return Err(ApiError::invalid(
            field,
            "is in the future; the record is known up to now",
        ));
    }
    let begins = history_begins(store.pool()).await?;
    if at < begins {
        return Err(ApiError::BeforeHistory {
            field,
            at: at.to_rfc3339(),
            begins: begins.to_rfc3339(),
        });
    }
    Ok(())
}

impl Store {
    /// The resources, with the results `results` asks for, as the record
    /// held them at `at` (already
    /// [`check`]ed), in a store of their own.
    pub async fn known_as_of(
        &self,
        at: DateTime<Utc>,
        results: &Results,
    ) -> Result<Known, ApiError> {
        let rows = record_at(self.pool(), at, results).await?;
        let mut plan = Plan::default();
        for (name, resource_type, data) in &rows {
            let Some(kind) = KindInfo::of_message(resource_type) else {
                continue;
            };
            with_kind!(kind.resource_type, T => {
                plan.restore(&decode::<T>(name, data)?);
            }, otherwise => {});
        }
        // One connection for the pool's life: its temporary table is the
        // record, and a fresh connection would read today's `resources`.
        // So the pool never replaces it on its own (no check on hand-out,
        // no idle or age limit): a connection that breaks fails the
        // question's next statement rather than answering from the present.
        let pool = crate::database::pool_options(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with((*self.pool().connect_options()).clone())
            .await
            .map_err(known_error)?;
        let mut conn = pool.acquire().await.map_err(known_error)?;
        let filled = fill(&mut conn, &plan).await;
        drop(conn);
        if let Err(e) = filled {
            pool.close().await;
            return Err(e);
        }
        Ok(Known {
            store: self.over(pool),
        })
    }
}

/// Makes this connection's `resources` a temporary table holding the
/// plan's rows.
async fn fill(conn: &mut PgConnection, plan: &Plan) -> Result<(), ApiError> {
    let mut tx = conn.begin().await.map_err(known_error)?;
    sqlx::query(
        "CREATE TEMPORARY TABLE resources \
         (LIKE public.resources INCLUDING DEFAULTS INCLUDING INDEXES)",
    )
    .execute(&mut *tx)
    .await
    .map_err(known_error)?;
    plan.write(&mut tx).await?;
    tx.commit().await.map_err(known_error)?;
    Ok(())
}

fn known_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "the record as known then")
}
