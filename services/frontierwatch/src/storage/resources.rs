//! Generic standard methods over the `resources` table. Every write runs in
//! one transaction that also appends its change record, as its last
//! statement (see the migration for why it must be last).

use std::sync::Arc;

use chrono::Utc;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use tracing::instrument;
use uuid::Uuid;

use super::cache::ReadCache;
use super::error::{Operation, map_db_error};
use super::filter::ListQuery;
use super::filter::PageTokenKey;
use super::group::{GroupCommit, Written};
use super::timestamp;
use crate::domain::{Meta, Resource};
use crate::error::ApiError;
use crate::metrics::Timer;

pub use super::import::{ImportBatch, Imported};
pub(super) use super::import::{merge_claim, settle};
pub(super) use super::writes::{
    ChangeKind, ChangeKindPublic, PendingChange, append_change, append_changes, commit, insert_new,
    last_written, lock_current, now_of, write_update,
};

/// The persistent store of every resource and the change log.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    page_token_key: PageTokenKey,
    /// The group committer of single-resource creates.
    writes: GroupCommit,
    tokens: super::tokens::Checker,
    /// Serves Gets from memory when the replica keeps one (`--read-cache`).
    cache: Option<Arc<ReadCache>>,
}

pub(super) fn new_etag() -> String {
    format!("{:016x}", Uuid::new_v4().as_u64_pair().0)
}

pub(super) fn decode<T: Resource>(name: &str, bytes: &[u8]) -> Result<T, ApiError> {
    T::decode(bytes).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!("stored {name} does not decode")))
    })
}

impl Store {
    /// A store over a connected, migrated pool; reads (or, on the first
    /// start of a database, makes) the key every replica signs page tokens
    /// with.
    pub async fn new(pool: PgPool) -> Result<Self, ApiError> {
        let candidate: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
            .iter()
            .flat_map(|u| u.into_bytes())
            .collect();
        let error = |e| map_db_error(e, Operation::Write, "the page token key");
        // Two statements: a replica that loses the race to make the key
        // reads the winner's once it has committed.
        sqlx::query(
            "INSERT INTO server_keys (name, key) VALUES ('page_token', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(candidate)
        .execute(&pool)
        .await
        .map_err(error)?;
        let (key,): (Vec<u8>,) =
            sqlx::query_as("SELECT key FROM server_keys WHERE name = 'page_token'")
                .fetch_one(&pool)
                .await
                .map_err(error)?;
        // Two committers, one preparing its batch while the other commits
        // (`storage::group`), leaving most of the pool to reads and to the
        // writes that run alone. More would only split the batches: at 16
        // and 32 clients, 2 wrote the most (load bench, 1 to 4 tried).
        let committers = (pool.options().get_max_connections() / 3).clamp(1, 2);
        Ok(Self {
            writes: GroupCommit::start(pool.clone(), committers as usize),
            tokens: super::tokens::Checker::new(pool.clone()),
            pool,
            page_token_key: PageTokenKey(key),
            cache: None,
        })
    }

    /// This store with Gets served by `cache` (see `storage::cache`).
    pub fn with_read_cache(mut self, cache: Arc<ReadCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The key page tokens are authenticated with.
    pub fn page_token_key(&self) -> &PageTokenKey {
        &self.page_token_key
    }

    /// The check of bearer tokens, shared by every service of the replica.
    pub fn tokens(&self) -> &super::tokens::Checker {
        &self.tokens
    }

    /// The pool, for health checks and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads one resource.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %name))]
    pub async fn get<T: Resource>(&self, name: &str) -> Result<T, ApiError> {
        if let Some(cache) = &self.cache {
            let found = cache.get::<T>(name).await;
            crate::metrics::read_cache_get(found.is_some());
            if let Some(found) = found {
                return found;
            }
        }
        let _timer = Timer::query("get");
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM resources WHERE name = $1 AND kind = $2")
                .bind(name)
                .bind(T::KIND.field())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| map_db_error(e, Operation::Read, name))?;
        match row {
            Some((data,)) => decode(name, &data),
            None => Err(ApiError::NotFound {
                name: name.to_owned(),
            }),
        }
    }

    /// Lists one page of resources in name order after `after`. Returns the
    /// page and whether more follow.
    #[instrument(skip_all, fields(kind = T::KIND.field(), page_size))]
    pub async fn list<T: Resource>(
        &self,
        query: &ListQuery,
        page_size: i64,
        after: Option<&str>,
    ) -> Result<(Vec<T>, bool), ApiError> {
        let _timer = Timer::query("list");
        let mut builder = query.statement(T::KIND, after, page_size + 1);
        let rows: Vec<(String, Vec<u8>)> = builder
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_db_error(e, Operation::Read, T::KIND.field()))?;
        let more = rows.len() as i64 > page_size;
        let items = rows
            .iter()
            .take(usize::try_from(page_size).unwrap_or(usize::MAX))
            .map(|(name, data)| decode(name, data))
            .collect::<Result<Vec<T>, _>>()?;
        Ok((items, more))
    }

    /// Creates a resource whose name is already set. With a request id, a
    /// retry returns the first call's response and writes nothing.
    ///
    /// The create is group-committed (`storage::group`): it may share its
    /// transaction with concurrent creates, each in a savepoint of its own.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %resource.name()))]
    pub async fn create<T: Resource>(
        &self,
        mut resource: T,
        request_id: Option<Uuid>,
    ) -> Result<T, ApiError> {
        let _timer = Timer::query("create");
        let name = resource.name().to_owned();
        // A retry is recognised inside the write (`create_in`), by the
        // request id it records first: no read before every first attempt.
        stamp_new(&mut resource);
        let set_based = super::bulk::NewResource {
            resource: resource.clone(),
            request_id,
        };
        self.writes
            .write(name, Some(Box::new(set_based)), move |conn| {
                Box::pin(create_in(conn, resource, request_id))
            })
            .await
    }

    /// Creates several resources, whose names are set, in one transaction:
    /// all or none. Items with a request id seen before answer as before.
    #[instrument(skip_all, fields(kind = T::KIND.field(), count = items.len()))]
    pub async fn create_batch<T: Resource>(
        &self,
        items: Vec<(T, Option<Uuid>)>,
    ) -> Result<Vec<T>, ApiError> {
        let _timer = Timer::query("create_batch");
        let tx = self.begin(T::KIND.field()).await?;
        super::bulk::create_all(tx, items).await
    }

    /// Reads a resource for update, lets `change` compute its new state from
    /// the current one, and stores it, all in one transaction.
    ///
    /// `change` also names the top-level fields it writes: on a resource
    /// that sources describe, they settle those fields (see
    /// `domain::claims`).
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %name))]
    pub async fn update<T, F>(&self, name: &str, etag: &str, change: F) -> Result<T, ApiError>
    where
        T: Resource,
        F: FnOnce(&T) -> Result<(T, Vec<String>), ApiError> + Send,
    {
        let _timer = Timer::query("update");
        let mut tx = self.begin(name).await?;
        let current: T = lock_current(&mut tx, name, etag).await?;
        let (updated, decided) = change(&current)?;
        let mut updated = settle(&mut tx, updated, &decided).await?;
        let now = Utc::now();
        updated.set_meta(Meta {
            name: name.to_owned(),
            create_time: current.create_time(),
            update_time: Some(timestamp(now)),
            etag: new_etag(),
        });
        write_update(&mut tx, &updated).await?;
        let written = append_change(&mut tx, &updated, ChangeKind::Updated).await?;
        commit(tx, name, written).await?;
        Ok(updated)
    }

    /// Deletes a resource unless something references it.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %name))]
    pub async fn delete<T: Resource>(&self, name: &str, etag: &str) -> Result<(), ApiError> {
        let _timer = Timer::query("delete");
        let mut tx = self.begin(name).await?;
        let current: T = lock_current(&mut tx, name, etag).await?;
        sqlx::query("DELETE FROM resources WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Delete, name))?;
        let written = append_change(&mut tx, &current, ChangeKind::Deleted).await?;
        commit(tx, name, written).await
    }

    /// Starts a set-based import of the batch `keys` describes: one
    /// transaction, what the database holds for the batch read up front
    /// (`storage::bulk`).
    pub async fn begin_bulk_import(
        &self,
        keys: &super::bulk::Keys,
    ) -> Result<super::bulk::BulkImport, ApiError> {
        super::bulk::BulkImport::begin(self.begin("an import").await?, keys).await
    }

    /// Starts an import batch: one transaction, a savepoint per item.
    pub async fn begin_import(&self) -> Result<ImportBatch, ApiError> {
        Ok(ImportBatch::new(self.begin("an import").await?))
    }

    pub(super) async fn begin(
        &self,
        name: &str,
    ) -> Result<Transaction<'static, Postgres>, ApiError> {
        begin_write(&self.pool, name).await
    }
}

/// Begins a writing transaction, timing the wait for its connection.
pub(super) async fn begin_write(
    pool: &PgPool,
    name: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let _timer = Timer::acquire("main");
    pool.begin()
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))
}

/// Begins a writing transaction whose prepared statements run their
/// generic plans, timing the wait for its connection.
///
/// For a statement that binds arrays, PostgreSQL's plan cache finds a
/// custom plan (costed for the arrays' actual lengths) cheaper than the
/// generic one (costed for guessed lengths), and so plans every execution
/// anew: under load, a tenth of its CPU. Only for transactions whose every
/// statement is served by an index under its generic plan, whatever the
/// table's size when that plan was built (primary keys, `lookups`).
pub(super) async fn begin_generic_write(
    pool: &PgPool,
    name: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let _timer = Timer::acquire("main");
    pool.begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))
}

/// One create, within a transaction it may share. The request id is
/// recorded first: a concurrent call with the same id that committed (or
/// wrote earlier in this transaction) makes this one its replay, and
/// nothing is written.
async fn create_in<T: Resource>(
    conn: &mut PgConnection,
    resource: T,
    request_id: Option<Uuid>,
) -> Result<Written<T>, ApiError> {
    let name = resource.name().to_owned();
    if let Some(request_id) = request_id
        && !record_request_id(conn, request_id, &resource).await?
    {
        let previous = replay::<T>(&mut *conn, request_id, &name)
            .await?
            .ok_or(ApiError::AlreadyExists { name })?;
        return Ok(Written {
            changes: Vec::new(),
            answer: previous,
        });
    }
    if !insert_new(conn, &resource).await? {
        return Err(ApiError::AlreadyExists { name });
    }
    Ok(Written {
        changes: vec![PendingChange::of(&resource, ChangeKind::Created)],
        answer: resource,
    })
}

/// Stamps a new resource's output-only metadata; its name is already set.
pub(super) fn stamp_new<T: Resource>(resource: &mut T) {
    let now = timestamp(Utc::now());
    resource.set_meta(Meta {
        name: resource.name().to_owned(),
        create_time: Some(now),
        update_time: Some(now),
        etag: new_etag(),
    });
}

/// Records the response of a create under its request id; false when the id
/// was recorded meanwhile by a concurrent call.
async fn record_request_id<T: Resource>(
    conn: &mut PgConnection,
    request_id: Uuid,
    resource: &T,
) -> Result<bool, ApiError> {
    let recorded = sqlx::query(
        "INSERT INTO request_ids (request_id, method, resource_name, response) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(T::KIND.field())
    .bind(resource.name())
    .bind(resource.encode_to_vec())
    .execute(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, resource.name()))?;
    Ok(recorded.rows_affected() == 1)
}

/// The stored response of an earlier call with this request id.
async fn replay<'e, T: Resource>(
    executor: impl PgExecutor<'e>,
    request_id: Uuid,
    name: &str,
) -> Result<Option<T>, ApiError> {
    let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT method, resource_name, response FROM request_ids WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(executor)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, name))?;
    match row {
        None => Ok(None),
        Some((method, resource_name, response)) => {
            if method != T::KIND.field() || resource_name != name {
                return Err(ApiError::RequestIdReused {
                    request_id: request_id.to_string(),
                });
            }
            decode(&resource_name, &response).map(Some)
        }
    }
}
