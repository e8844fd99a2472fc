//! Generic standard methods over the `resources` table. Every write runs in
//! one transaction that also appends its change record, as its last
//! statement (see the migration for why it must be last).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use frontierwatch_proto::v1::Benchmark;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use tracing::instrument;
use uuid::Uuid;

use super::cache::ReadCache;
use super::claims as stored_claims;
use super::error::{Operation, map_db_error};
use super::filter::ListQuery;
use super::filter::PageTokenKey;
use super::group::{GroupCommit, Written};
use super::timestamp;
use crate::domain::claims::{self, Authority, Claim};
use crate::domain::{Kind, Meta, Resource, Scale, reflect};
use crate::error::ApiError;
use crate::metrics::Timer;

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

/// The kinds of change the log records.
#[derive(Debug, Clone, Copy)]
pub(super) enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
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
        Ok(ImportBatch {
            tx: self.begin("an import").await?,
            pending: Vec::new(),
        })
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

/// What an import did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Created,
    Unchanged,
    Updated,
    /// Not imported, and why; the rest of the batch goes on.
    Rejected(String),
}

/// An import batch in progress.
pub struct ImportBatch {
    tx: Transaction<'static, Postgres>,
    pending: Vec<PendingChange>,
}

impl ImportBatch {
    /// Creates, keeps or replaces one resource keyed by its name, under a
    /// savepoint so that a refused item leaves the batch intact. Fails only
    /// when the batch itself cannot go on (the database is gone).
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %resource.name()))]
    pub async fn import<T: Resource>(
        &mut self,
        resource: T,
        claimant: (String, Authority),
    ) -> Result<Imported, ApiError> {
        let mut savepoint = sqlx::Connection::begin(&mut *self.tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Write, resource.name()))?;
        match import_one(&mut savepoint, resource, claimant).await {
            Ok((outcome, change)) => {
                savepoint
                    .commit()
                    .await
                    .map_err(|e| map_db_error(e, Operation::Write, "an import"))?;
                self.pending.extend(change);
                Ok(outcome)
            }
            Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error),
            Err(refused) => {
                savepoint
                    .rollback()
                    .await
                    .map_err(|e| map_db_error(e, Operation::Write, "an import"))?;
                Ok(Imported::Rejected(refused.reason_text()))
            }
        }
    }

    /// Appends the batch's change records and commits.
    pub async fn commit(mut self) -> Result<(), ApiError> {
        let written = append_changes(&mut self.tx, &self.pending).await?;
        commit(self.tx, "an import", written).await
    }
}

async fn import_one<T: Resource>(
    conn: &mut PgConnection,
    mut resource: T,
    (claimant, authority): (String, Authority),
) -> Result<(Imported, Option<PendingChange>), ApiError> {
    let name = resource.name().to_owned();
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kind, data FROM resources WHERE name = $1 FOR UPDATE")
            .bind(&name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_db_error(e, Operation::Read, &name))?;
    let incoming = Claim {
        claimant,
        authority,
        fields: None,
        resource: claims::content(&resource),
    };
    let Some((kind, data)) = row else {
        stamp_new(&mut resource);
        resource.set_conflicts(Vec::new());
        if !insert_new(conn, &resource).await? {
            return Err(ApiError::AlreadyExists { name });
        }
        stored_claims::save(conn, &name, &[&incoming]).await?;
        let change = PendingChange::of(&resource, ChangeKind::Created);
        return Ok((Imported::Created, Some(change)));
    };
    if kind != T::KIND.field() {
        return Err(ApiError::AlreadyExists { name });
    }
    let current: T = decode(&name, &data)?;
    let known = stored_claims::load::<T>(conn, &name).await?;
    let Some(merge) = merge_claim(&current, known, incoming)? else {
        return Ok((Imported::Unchanged, None));
    };
    stored_claims::save(conn, &name, &merge.to_save.iter().collect::<Vec<_>>()).await?;
    let Some(merged) = merge.merged else {
        return Ok((Imported::Unchanged, None));
    };
    write_update(conn, &merged).await?;
    let change = PendingChange::of(&merged, ChangeKind::Updated);
    Ok((Imported::Updated, Some(change)))
}

/// What a claim imported into a stored resource changes.
pub(super) struct Merge<T> {
    /// The claims to store: the incoming one, and the stored resource's own
    /// content when it becomes the first claim of a second source.
    pub to_save: Vec<Claim<T>>,
    /// The resource's new state, stamped, when its visible state changes.
    pub merged: Option<T>,
}

/// Merges an incoming claim with the claims known about `current`; `None`
/// when the claimant states exactly what it stated before. Refuses a merge
/// that is invalid or changes an immutable field. Decides in memory: both
/// the item-by-item import and the set-based one (`storage::bulk`) use it.
pub(super) fn merge_claim<T: Resource>(
    current: &T,
    mut known: Vec<Claim<T>>,
    incoming: Claim<T>,
) -> Result<Option<Merge<T>>, ApiError> {
    let name = current.name().to_owned();
    let mut to_save = Vec::new();
    if known.is_empty() {
        // Written by one writer so far: its content is the first claim.
        let (who, weight) = claims::claimant(current, None)?;
        if who != incoming.claimant {
            let recorded = Claim {
                claimant: who,
                authority: weight,
                fields: None,
                resource: claims::content(current),
            };
            to_save.push(recorded.clone());
            known.push(recorded);
        }
    }
    match known.iter_mut().find(|c| c.claimant == incoming.claimant) {
        Some(same) if *same == incoming => return Ok(None),
        Some(same) => *same = incoming.clone(),
        None => known.push(incoming.clone()),
    }
    to_save.push(incoming);
    let mut merged = claims::merge(&name, &known)?;
    crate::domain::check(&merged)?;
    if let Some(field) = reflect::changed_immutable(current, &merged)?.first() {
        return Err(ApiError::invalid(
            format!("{}.{field}", T::FIELD),
            format!(
                "is immutable once created, and {name} holds another value: \
                 an item with another {field} needs a name of its own"
            ),
        ));
    }
    if state_of(&merged) == state_of(current) {
        return Ok(Some(Merge {
            to_save,
            merged: None,
        }));
    }
    merged.set_meta(Meta {
        name: name.clone(),
        create_time: current.create_time(),
        update_time: Some(timestamp(Utc::now())),
        etag: new_etag(),
    });
    Ok(Some(Merge {
        to_save,
        merged: Some(merged),
    }))
}

/// A resource's visible state, without the metadata every write renews.
fn state_of<T: Resource>(resource: &T) -> T {
    let mut state = resource.clone();
    state.set_meta(Meta {
        name: resource.name().to_owned(),
        ..Meta::default()
    });
    state
}

/// A person's update of a resource that sources describe: the fields it
/// writes become (or join) the settlement, and the resource is merged again.
async fn settle<T: Resource>(
    conn: &mut PgConnection,
    updated: T,
    decided: &[String],
) -> Result<T, ApiError> {
    if decided.is_empty() {
        return Ok(updated);
    }
    let name = updated.name().to_owned();
    let mut known = stored_claims::load::<T>(conn, &name).await?;
    if known.is_empty() {
        return Ok(updated);
    }
    let mut fields: Vec<String> = known
        .iter()
        .find(|c| c.claimant == claims::SETTLED)
        .and_then(|c| c.fields.clone())
        .unwrap_or_default();
    for field in decided {
        if !fields.contains(field) {
            fields.push(field.clone());
        }
    }
    fields.sort();
    let settlement = Claim {
        claimant: claims::SETTLED.to_owned(),
        authority: claims::SETTLEMENT,
        fields: Some(fields),
        resource: claims::content(&updated),
    };
    known.retain(|c| c.claimant != claims::SETTLED);
    known.push(settlement.clone());
    stored_claims::save(conn, &name, &[&settlement]).await?;
    claims::merge(&name, &known)
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

/// Inserts a new resource with its references; false when the name is taken.
pub(super) async fn insert_new<T: Resource>(
    conn: &mut PgConnection,
    resource: &T,
) -> Result<bool, ApiError> {
    let name = resource.name();
    check_score(conn, resource).await?;
    check_refs(conn, resource).await?;
    let index = resource.index();
    let query = sqlx::query(
        "INSERT INTO resources (name, kind, data, etag, create_time, update_time, \
         model, release, benchmark, organizations, category, status, kind_detail, country, \
         event_date, score, settings_key, relation) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(T::KIND.field())
    .bind(resource.encode_to_vec())
    .bind(resource.etag())
    .bind(now_of(resource));
    let inserted = bind_index(query, &index)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    insert_refs(conn, resource).await?;
    Ok(true)
}

/// The creation time stamped on a new resource.
pub(super) fn now_of<T: Resource>(resource: &T) -> DateTime<Utc> {
    resource
        .create_time()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

/// Binds the index columns, in the order both writes list them.
fn bind_index<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    index: &'q crate::domain::Index,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&index.model)
        .bind(&index.release)
        .bind(&index.benchmark)
        .bind(&index.organizations)
        .bind(&index.category)
        .bind(&index.status)
        .bind(&index.kind_detail)
        .bind(&index.country)
        .bind(index.event_date)
        .bind(index.score)
        .bind(&index.settings_key)
        .bind(&index.relation)
}

/// Stores the new state of an existing resource and its references.
pub(super) async fn write_update<T: Resource>(
    conn: &mut PgConnection,
    updated: &T,
) -> Result<(), ApiError> {
    check_score(conn, updated).await?;
    check_scale_change(conn, updated).await?;
    check_refs(conn, updated).await?;
    let index = updated.index();
    let query = sqlx::query(
        "UPDATE resources SET data = $2, etag = $3, update_time = $4, \
         model = $5, release = $6, benchmark = $7, organizations = $8, category = $9, \
         status = $10, kind_detail = $11, country = $12, event_date = $13, score = $14, \
         settings_key = $15, relation = $16 WHERE name = $1",
    )
    .bind(updated.name())
    .bind(updated.encode_to_vec())
    .bind(updated.etag())
    .bind(Utc::now());
    bind_index(query, &index)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, updated.name()))?;
    sqlx::query("DELETE FROM resource_refs WHERE from_name = $1")
        .bind(updated.name())
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, updated.name()))?;
    insert_refs(conn, updated).await
}

pub(super) async fn lock_current<T: Resource>(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
) -> Result<T, ApiError> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM resources WHERE name = $1 AND kind = $2 FOR UPDATE")
            .bind(name)
            .bind(T::KIND.field())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_db_error(e, Operation::Read, name))?;
    let Some((data,)) = row else {
        return Err(ApiError::NotFound {
            name: name.to_owned(),
        });
    };
    let current: T = decode(name, &data)?;
    if !etag.is_empty() && etag != current.etag() {
        return Err(ApiError::EtagMismatch {
            name: name.to_owned(),
        });
    }
    Ok(current)
}

/// Every referenced resource must exist; they are locked against deletion
/// until commit (the foreign keys would refuse anyway, but this names the
/// offending field).
async fn check_refs<T: Resource>(conn: &mut PgConnection, resource: &T) -> Result<(), ApiError> {
    let refs = resource.refs();
    if refs.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = refs.iter().map(|r| r.name.clone()).collect();
    let found: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(
        super::lookups::EXISTING_FOR_KEY_SHARE.as_str(),
    ))
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, resource.name()))?;
    let found: HashSet<String> = found.into_iter().map(|(name,)| name).collect();
    match refs.into_iter().find(|r| !found.contains(&r.name)) {
        None => Ok(()),
        // AIP-133: creating under a parent that does not exist is NOT_FOUND.
        Some(missing) if missing.field == "parent" => {
            Err(ApiError::NotFound { name: missing.name })
        }
        Some(missing) => Err(ApiError::ReferenceNotFound {
            field: format!("{}.{}", T::FIELD, missing.field),
            name: missing.name,
        }),
    }
}

async fn insert_refs<T: Resource>(conn: &mut PgConnection, resource: &T) -> Result<(), ApiError> {
    let mut refs = resource.refs();
    refs.dedup_by(|a, b| a.field == b.field && a.name == b.name);
    if refs.is_empty() {
        return Ok(());
    }
    let to: Vec<String> = refs.iter().map(|r| r.name.clone()).collect();
    let fields: Vec<String> = refs.iter().map(|r| r.field.to_owned()).collect();
    sqlx::query(
        "INSERT INTO resource_refs (from_name, to_name, field) \
         SELECT $1, t, f FROM unnest($2::text[], $3::text[]) AS u(t, f) ON CONFLICT DO NOTHING",
    )
    .bind(resource.name())
    .bind(&to)
    .bind(&fields)
    .execute(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, resource.name()))?;
    Ok(())
}

/// A score must lie on its benchmark's scale. The benchmark is locked
/// against change until commit.
async fn check_score<T: Resource>(conn: &mut PgConnection, resource: &T) -> Result<(), ApiError> {
    let Some(claim) = resource.score_claim() else {
        return Ok(());
    };
    let row: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT data FROM resources WHERE name = $1 AND kind = 'benchmark' FOR KEY SHARE",
    )
    .bind(&claim.benchmark)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, &claim.benchmark))?;
    let Some((data,)) = row else {
        return Err(ApiError::ReferenceNotFound {
            field: format!("{}.benchmark", T::FIELD),
            name: claim.benchmark,
        });
    };
    let benchmark: Benchmark = decode(&claim.benchmark, &data)?;
    claim.check(T::FIELD, &Scale::of(benchmark.scale))
}

/// A benchmark's new scale must hold the scores of its existing results
/// (the benchmark row is locked for update, so none is added meanwhile).
async fn check_scale_change<T: Resource>(
    conn: &mut PgConnection,
    updated: &T,
) -> Result<(), ApiError> {
    let Some(scale) = updated.scale() else {
        return Ok(());
    };
    let (off, example): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), min(name) FROM resources \
          WHERE kind = 'benchmark_result' AND benchmark = $1 AND (score < $2 OR score > $3)",
    )
    .bind(updated.name())
    .bind(scale.low)
    .bind(scale.high)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, updated.name()))?;
    match example {
        Some(example) if off > 0 => Err(ApiError::ResultsOffScale {
            name: updated.name().to_owned(),
            scale: scale.description,
            count: off,
            example,
        }),
        _ => Ok(()),
    }
}

/// A change record waiting to be appended.
pub(super) struct PendingChange {
    name: String,
    type_name: String,
    kind: ChangeKind,
    resource: Vec<u8>,
    organizations: Vec<String>,
    model: Option<String>,
    benchmark: Option<String>,
    /// The token whose call made the change.
    actor: Option<String>,
}

/// The kinds of change, for other storage modules.
pub(super) use ChangeKind as ChangeKindPublic;

impl PendingChange {
    /// A change of something that is not a stored resource (an alert).
    pub(super) fn raw(
        name: String,
        type_name: String,
        kind: ChangeKind,
        resource: Vec<u8>,
        organizations: Vec<String>,
        model: Option<String>,
        benchmark: Option<String>,
    ) -> Self {
        Self {
            name,
            type_name,
            kind,
            resource,
            organizations,
            model,
            benchmark,
            actor: super::changes::current_actor(),
        }
    }

    pub(super) fn of<T: Resource>(resource: &T, kind: ChangeKind) -> Self {
        let name = resource.name().to_owned();
        let index = resource.index();
        // What watchers filter on: the resource's organizations (including
        // the developers of its model line), its model line and its benchmark.
        let mut organizations = index.organizations;
        let mut model = index.model;
        let mut benchmark = index.benchmark;
        match T::KIND {
            Kind::Organization => organizations.push(name.clone()),
            Kind::Model => model = Some(name.clone()),
            Kind::Benchmark => benchmark = Some(name.clone()),
            // The watch filters' dimensions are the three kinds above.
            _ => {}
        }
        Self {
            name,
            type_name: T::full_name(),
            kind,
            resource: resource.encode_to_vec(),
            organizations,
            model,
            benchmark,
            actor: super::changes::current_actor(),
        }
    }
}

async fn append_change<T: Resource>(
    conn: &mut PgConnection,
    resource: &T,
    kind: ChangeKind,
) -> Result<i64, ApiError> {
    append_changes(conn, &[PendingChange::of(resource, kind)]).await
}

/// Appends change records in one statement, whatever their number; the
/// caller makes this the last statement of its transaction (the sequence
/// lock is held from here to commit, so for one statement's time).
///
/// A record's organizations include the developers of its model line.
/// They travel as one comma-joined text per record (resource names never
/// contain commas), since PostgreSQL arrays cannot be ragged.
pub(super) async fn append_changes(
    conn: &mut PgConnection,
    changes: &[PendingChange],
) -> Result<i64, ApiError> {
    let Some(first) = changes.first() else {
        return Ok(0);
    };
    let column = |f: fn(&PendingChange) -> Option<String>| -> Vec<Option<String>> {
        changes.iter().map(f).collect()
    };
    let (last,): (Option<i64>,) = sqlx::query_as(
        "WITH appended AS (\
         INSERT INTO changes (resource_name, resource_type, change_kind, resource, organizations, \
                              model, benchmark, actor) \
         SELECT c.name, c.type_name, c.kind, c.resource, \
                COALESCE(string_to_array(NULLIF(c.organizations, ''), ','), '{}') \
                  || COALESCE((SELECT r.organizations FROM resources r \
                                WHERE r.name = c.model AND r.kind = 'model'), '{}'), \
                c.model, c.benchmark, c.actor \
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], \
                       $6::text[], $7::text[], $8::text[]) \
                WITH ORDINALITY AS c(name, type_name, kind, resource, organizations, \
                                     model, benchmark, actor, ord) \
          ORDER BY c.ord \
         RETURNING seq) SELECT max(seq) FROM appended",
    )
    .bind(column(|c| Some(c.name.clone())))
    .bind(column(|c| Some(c.type_name.clone())))
    .bind(column(|c| Some(c.kind.as_str().to_owned())))
    .bind(
        changes
            .iter()
            .map(|c| c.resource.clone())
            .collect::<Vec<Vec<u8>>>(),
    )
    .bind(column(|c| Some(c.organizations.join(","))))
    .bind(column(|c| c.model.clone()))
    .bind(column(|c| c.benchmark.clone()))
    .bind(column(|c| c.actor.clone()))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, &first.name))?;
    Ok(last.unwrap_or(0))
}

/// Commits a write whose last change record is `written` (0 for none),
/// and notes that sequence as written by this replica.
pub(super) async fn commit(
    tx: Transaction<'static, Postgres>,
    name: &str,
    written: i64,
) -> Result<(), ApiError> {
    tx.commit()
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))?;
    WRITTEN.fetch_max(written, Ordering::Release);
    Ok(())
}

/// The highest change sequence this process has committed (writes of this
/// replica); a Get served from the read cache waits until the cache has
/// applied it, so every caller reads the writes acknowledged here.
static WRITTEN: AtomicI64 = AtomicI64::new(0);

/// See [`WRITTEN`].
pub fn last_written() -> i64 {
    WRITTEN.load(Ordering::Acquire)
}
