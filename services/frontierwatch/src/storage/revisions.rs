//! Revisions: the durable history of every resource (migration 16),
//! read through the view `revision_log` (each revision with its sequence
//! and commit time).
//! `append::append_changes` writes one beside each change record, in the
//! same statement; this module reads them: one resource's history, the
//! audit across resources, a resource as the record held it at a time, and
//! the whole record as it stood then (for analytics as known on a date).

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Postgres, QueryBuilder};

use super::error::{Operation, map_db_error};
use crate::error::ApiError;

fn read_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "revisions")
}

/// One stored revision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub name: String,
    pub revision: i64,
    /// The change record's sequence; None for a baseline.
    pub seq: Option<i64>,
    pub commit_time: DateTime<Utc>,
    /// Full protobuf type name.
    pub resource_type: String,
    /// `baseline`, `created`, `updated`, `merged`, `settled` or `deleted`.
    pub reason: String,
    pub actor: Option<String>,
    pub claimant: Option<String>,
    pub resource: Vec<u8>,
}

const COLUMNS: &str =
    "name, revision, seq, commit_time, resource_type, reason, actor, claimant, resource";

/// Which revisions a list returns.
#[derive(Debug, Clone, Default)]
pub struct RevisionFilter {
    pub name: Option<String>,
    pub actor: Option<String>,
    /// Committed at or after.
    pub start: Option<DateTime<Utc>>,
    /// Committed before.
    pub end: Option<DateTime<Utc>>,
}

/// Where a page ends, in the list's order (newest first): the last row's
/// commit time, name and revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub commit_time: DateTime<Utc>,
    pub name: String,
    pub revision: i64,
}

impl RevisionRow {
    pub fn position(&self) -> Position {
        Position {
            commit_time: self.commit_time,
            name: self.name.clone(),
            revision: self.revision,
        }
    }
}

/// Up to `limit` revisions matching `filter`, newest first (by commit
/// time, then name and revision, descending), after `after`.
pub async fn list(
    pool: &PgPool,
    filter: &RevisionFilter,
    after: Option<&Position>,
    limit: i64,
) -> Result<Vec<RevisionRow>, ApiError> {
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM revision_log WHERE true"));
    if let Some(name) = &filter.name {
        q.push(" AND name = ").push_bind(name.clone());
    }
    if let Some(actor) = &filter.actor {
        q.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(start) = filter.start {
        q.push(" AND commit_time >= ").push_bind(start);
    }
    if let Some(end) = filter.end {
        q.push(" AND commit_time < ").push_bind(end);
    }
    if let Some(p) = after {
        q.push(" AND (commit_time, name, revision) < (")
            .push_bind(p.commit_time)
            .push(", ")
            .push_bind(p.name.clone())
            .push(", ")
            .push_bind(p.revision)
            .push(")");
    }
    q.push(" ORDER BY commit_time DESC, name DESC, revision DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await.map_err(read_error)
}

/// Whether the service has ever held `name` (as far as its history goes).
pub async fn known(pool: &PgPool, name: &str) -> Result<bool, ApiError> {
    let (known,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM revisions WHERE name = $1)")
            .bind(name)
            .fetch_one(pool)
            .await
            .map_err(read_error)?;
    Ok(known)
}

/// Revision `revision` of `name`.
pub async fn get(
    pool: &PgPool,
    name: &str,
    revision: i64,
) -> Result<Option<RevisionRow>, ApiError> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM revision_log WHERE name = $1 AND revision = $2"
    )))
    .bind(name)
    .bind(revision)
    .fetch_optional(pool)
    .await
    .map_err(read_error)
}

/// The revision of `name` in force at `at`: its last committed at or
/// before it (a `deleted` one when the resource was deleted by then).
pub async fn at(
    pool: &PgPool,
    name: &str,
    at: DateTime<Utc>,
) -> Result<Option<RevisionRow>, ApiError> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM revision_log WHERE name = $1 AND commit_time <= $2 \
         ORDER BY revision DESC LIMIT 1"
    )))
    .bind(name)
    .bind(at)
    .fetch_optional(pool)
    .await
    .map_err(read_error)
}

/// When the history begins: nothing is known of the record before.
pub async fn history_begins(pool: &PgPool) -> Result<DateTime<Utc>, ApiError> {
    let (begins,): (DateTime<Utc>,) =
        sqlx::query_as("SELECT history_begins FROM revision_log_state")
            .fetch_one(pool)
            .await
            .map_err(read_error)?;
    Ok(begins)
}

/// Which results a question as known then reads, beside every other
/// kind: results are most of a store, and a question reads few of them.
#[derive(Debug, Clone)]
pub enum Results {
    None,
    /// The results on one benchmark.
    OfBenchmark(String),
    /// The results of releases of these model lines.
    OfModels(Vec<String>),
}

/// Every resource as the record held it at `at`, with the results
/// `results` asks for: name, type and encoding of each one's last revision
/// committed at or before `at`, the resources deleted by then left out.
/// A result is chosen by its last revision's benchmark or model line, so
/// a result moved since is read as it was then.
pub async fn record_at(
    pool: &PgPool,
    at: DateTime<Utc>,
    results: &Results,
) -> Result<Vec<(String, String, Vec<u8>)>, ApiError> {
    let result_type = crate::domain::Kind::BenchmarkResult
        .kind()
        .map_or("", |k| k.full_name);
    let types: Vec<&str> = crate::domain::names::KINDS
        .iter()
        .map(|k| k.full_name)
        .filter(|t| *t != result_type || !matches!(results, Results::None))
        .collect();
    let (benchmark, models) = match results {
        Results::None => (None, Vec::new()),
        Results::OfBenchmark(b) => (Some(b.as_str()), Vec::new()),
        Results::OfModels(m) => (None, m.iter().map(String::as_str).collect()),
    };
    sqlx::query_as(
        "SELECT name, resource_type, resource FROM ( \
             SELECT DISTINCT ON (name) name, resource_type, reason, model, benchmark, resource \
               FROM revision_log WHERE commit_time <= $1 AND resource_type = ANY($2) \
              ORDER BY name, revision DESC) last \
          WHERE reason <> 'deleted' \
            AND (resource_type <> $3 OR benchmark = $4 OR model = ANY($5)) \
          ORDER BY name",
    )
    .bind(at)
    .bind(types)
    .bind(result_type)
    .bind(benchmark)
    .bind(models)
    .fetch_all(pool)
    .await
    .map_err(read_error)
}
