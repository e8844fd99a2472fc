//! Generic standard methods over the `resources` table. Every write runs in
//! one transaction that also appends its change record, as its last
//! statement (see the migration for why it must be last).

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tracing::instrument;
use uuid::Uuid;

use super::append::{Actor, ChangeKind, PendingChange, append_changes, begin_write, commit};
use super::batch;
use super::cache::ReadCache;
use super::decide::Imported;
use super::error::{Operation, map_db_error};
use super::filter::ListQuery;
use super::filter::PageTokenKey;
use super::group::GroupCommit;
use super::items::{Create, ImportItem, Update};
use super::rows::{decode, lock_current, stamp_new};
use crate::domain::Resource;
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

    /// A store over `pool` that shares this one's page token key and token
    /// check, without a read cache (`storage::known`).
    pub(super) fn over(&self, pool: PgPool) -> Self {
        Self {
            writes: GroupCommit::start(pool.clone(), 1),
            tokens: self.tokens.clone(),
            pool,
            page_token_key: self.page_token_key.clone(),
            cache: None,
        }
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
    /// transaction with concurrent creates.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %resource.name()))]
    pub async fn create<T: Resource>(
        &self,
        mut resource: T,
        request_id: Option<Uuid>,
        actor: Actor,
    ) -> Result<T, ApiError> {
        let _timer = Timer::query("create");
        let name = resource.name().to_owned();
        // A retry is recognised by its request id, read with the batch or,
        // when the read is skipped, found taken by the write.
        stamp_new(&mut resource);
        let create = Create {
            resource,
            request_id,
            actor,
        };
        self.writes.write(name, Box::new(create)).await
    }

    /// Creates several resources, whose names are set, in one transaction:
    /// all or none. Items with a request id seen before answer as before.
    #[instrument(skip_all, fields(kind = T::KIND.field(), count = items.len()))]
    pub async fn create_batch<T: Resource>(
        &self,
        items: Vec<(T, Option<Uuid>)>,
        actor: Actor,
    ) -> Result<Vec<T>, ApiError> {
        let _timer = Timer::query("create_batch");
        let creates: Vec<Create<T>> = items
            .into_iter()
            .map(|(mut resource, request_id)| {
                stamp_new(&mut resource);
                Create {
                    resource,
                    request_id,
                    actor: actor.clone(),
                }
            })
            .collect();
        let items: Vec<&dyn batch::Item<T>> = creates.iter().map(|c| c as _).collect();
        batch::all(&self.pool, false, &items, T::KIND.field(), true).await
    }

    /// Reads a resource for update, lets `change` compute its new state from
    /// the current one, and stores it, all in one transaction.
    ///
    /// `change` also names the top-level fields it writes: on a resource
    /// that sources describe, they settle those fields (see
    /// `domain::claims`). It may be called more than once.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %name))]
    pub async fn update<T, F>(
        &self,
        name: &str,
        etag: &str,
        change: F,
        actor: Actor,
    ) -> Result<T, ApiError>
    where
        T: Resource,
        F: Fn(&T) -> Result<(T, Vec<String>), ApiError> + Send + Sync,
    {
        let _timer = Timer::query("update");
        let update = Update {
            name,
            etag,
            change,
            actor,
        };
        let mut updated = batch::all(
            &self.pool,
            false,
            &[&update as &dyn batch::Item<T>],
            name,
            false,
        )
        .await?;
        updated
            .pop()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an update answered nothing")))
    }

    /// Deletes a resource unless something references it.
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %name))]
    pub async fn delete<T: Resource>(
        &self,
        name: &str,
        etag: &str,
        actor: Actor,
    ) -> Result<(), ApiError> {
        let _timer = Timer::query("delete");
        let mut tx = self.begin(name).await?;
        let current: T = lock_current(&mut tx, name, etag).await?;
        sqlx::query("DELETE FROM resources WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Delete, name))?;
        let change = PendingChange::of(&current, ChangeKind::Deleted, &actor);
        let written = append_changes(&mut tx, &[change]).await?;
        commit(tx, name, written).await
    }

    /// Imports a batch in one transaction: each item created, kept, merged
    /// with what other sources state, or rejected with its reason. Fails
    /// only when the batch itself cannot be written (the database is gone).
    pub async fn import(&self, items: &[ImportItem]) -> Result<Vec<Imported>, ApiError> {
        let tx = self.begin("an import").await?;
        let items: Vec<&dyn batch::Item<Imported>> = items.iter().map(|i| &*i.0).collect();
        let (answers, route) = batch::each(&self.pool, false, tx, &items, ()).await?;
        crate::metrics::import_batch(route.as_str());
        answers
            .into_iter()
            .map(|answer| match answer {
                Ok(imported) => Ok(imported),
                Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error),
                Err(refused) => Ok(Imported::Rejected(refused.reason_text())),
            })
            .collect()
    }

    pub(super) async fn begin(
        &self,
        name: &str,
    ) -> Result<Transaction<'static, Postgres>, ApiError> {
        begin_write(&self.pool, name).await
    }
}
