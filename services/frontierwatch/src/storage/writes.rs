//! One resource's row, as every write path stores it: inserted or
//! updated with its index columns and references (checked, and the score
//! against its benchmark's scale), locked for update, and the change
//! records appended last, before the commit.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use frontierwatch_proto::v1::Benchmark;
use sqlx::{PgConnection, Postgres, Transaction};

use super::error::{Operation, map_db_error};
use super::resources::decode;
use crate::domain::{Kind, Resource, Scale};
use crate::error::ApiError;

/// The kinds of change the log records.
#[derive(Debug, Clone, Copy)]
pub(super) enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
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

pub(super) async fn append_change<T: Resource>(
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
