//! Reads for the analytics RPCs and writes of derived alerts.

use std::collections::HashMap;

use chrono::NaiveDate;
use frontierwatch_proto::v1::{Alert, AlertKind, Disclosure, Indicator, Release};
use prost::Message as _;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::append::{Actor, ChangeKind, PendingChange, append_changes};
use super::error::{Operation, map_db_error};
use crate::error::ApiError;

fn read_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "analytics")
}

/// One result, with what ranking needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResultRow {
    pub name: String,
    pub release: String,
    pub model: Option<String>,
    pub benchmark: String,
    pub score: f64,
    pub settings_key: String,
    pub data: Vec<u8>,
}

/// Which results count.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub as_of: Option<NaiveDate>,
    pub include_disputed: bool,
    /// `EVALUATOR_RELATION_FIRST_PARTY` or `..._THIRD_PARTY`.
    pub relation: Option<&'static str>,
    /// Only results of releases with these weights (`open` or `closed`,
    /// the release's `weights` column).
    pub weights: Option<&'static str>,
}

impl ResultFilter {
    pub(super) fn push(&self, q: &mut QueryBuilder<Postgres>) {
        if let Some(as_of) = self.as_of {
            q.push(" AND publish_date <= ").push_bind(as_of);
        }
        if !self.include_disputed {
            q.push(" AND verification IS DISTINCT FROM 'VERIFICATION_STATUS_CONTESTED' AND verification IS DISTINCT FROM 'VERIFICATION_STATUS_RETRACTED'");
        }
        if let Some(relation) = self.relation {
            q.push(" AND relation = ").push_bind(relation);
        }
        if let Some(weights) = self.weights {
            q.push(
                // Only releases have weights: no kind is named, so that the
                // planner estimates the releases kept from one column's
                // statistics (migration 17).
                " AND release IN (SELECT name FROM resources WHERE weights = ",
            )
            .push_bind(weights)
            .push(")");
        }
    }
}

pub(super) const RESULT_COLUMNS: &str = "name, release, model, benchmark, score, coalesce(settings_key, 'default') AS settings_key, data";

/// The stored resources of some results, by name.
pub async fn result_data(
    pool: &PgPool,
    names: &[String],
) -> Result<HashMap<String, Vec<u8>>, ApiError> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(super::lookups::RESOURCES.as_str()))
            .bind(names)
            .fetch_all(pool)
            .await
            .map_err(read_error)?;
    Ok(rows.into_iter().collect())
}

/// Starts a query with the CTE `best`: each release's best result per
/// comparability key on a benchmark (the best score, then the earliest
/// event date, undated last, then the name), without the stored resource
/// (`data` is empty). Every result has a settings key; the partial index
/// `resources_leaderboard_typed` holds every column read, in the order
/// DISTINCT ON keeps rows for a higher-is-better benchmark, so that read is
/// an index-only scan with no sort. For lower-is-better, scanning that
/// index backwards would also reverse the tie-breakers: each release's
/// lowest score is found first (grouped in index order), then DISTINCT ON
/// orders only the results that have it (measured at 20,000 results: 13 ms,
/// against 15 to 19 ms for ordering every group in an aggregate).
///
/// The statements are planned at each execution with their values
/// (`persistent(false)`): a kept statement's generic plan guesses how many
/// results an as-of date keeps (a third) and may then prefer reading the
/// table and sorting to this index.
fn with_best(
    benchmark: &str,
    filter: &ResultFilter,
    lower_is_better: bool,
) -> QueryBuilder<Postgres> {
    const RESULTS: &str = "FROM resources WHERE kind = 'benchmark_result' \
                           AND settings_key IS NOT NULL AND benchmark = ";
    let mut q = QueryBuilder::new("WITH ");
    if lower_is_better {
        q.push(format!(
            "lowest AS (SELECT settings_key AS key, release AS of, min(score) AS low {RESULTS}"
        ));
        q.push_bind(benchmark.to_owned());
        filter.push(&mut q);
        q.push(" GROUP BY settings_key, release), ");
    }
    q.push(format!(
        "best AS (SELECT DISTINCT ON (settings_key, release) name, release, model, benchmark, \
                  score, settings_key, ''::bytea AS data {RESULTS}"
    ));
    q.push_bind(benchmark.to_owned());
    filter.push(&mut q);
    q.push(if lower_is_better {
        " AND (settings_key, release, score) IN (SELECT key, of, low FROM lowest) \
          ORDER BY settings_key, release, publish_date ASC NULLS LAST, name)"
    } else {
        " ORDER BY settings_key, release, score DESC, publish_date ASC NULLS LAST, name)"
    });
    q
}

/// Each release's best result per comparability key on a benchmark, by
/// key and release, without the stored resources: read the rows shown
/// with [`result_data`].
pub async fn best_results(
    pool: &PgPool,
    benchmark: &str,
    filter: &ResultFilter,
    lower_is_better: bool,
) -> Result<Vec<ResultRow>, ApiError> {
    best_results_query(benchmark, filter, lower_is_better)
        .build_query_as()
        .persistent(false)
        .fetch_all(pool)
        .await
        .map_err(read_error)
}

/// The statement of [`best_results`] (public for the plan tests).
pub fn best_results_query(
    benchmark: &str,
    filter: &ResultFilter,
    lower_is_better: bool,
) -> QueryBuilder<Postgres> {
    let mut q = with_best(benchmark, filter, lower_is_better);
    q.push(
        " SELECT name, release, model, benchmark, score, settings_key, data FROM best \
          ORDER BY settings_key, release",
    );
    q
}

/// Every result of some releases.
pub async fn results_of(
    pool: &PgPool,
    releases: &[String],
    filter: &ResultFilter,
) -> Result<Vec<ResultRow>, ApiError> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {RESULT_COLUMNS} FROM resources WHERE kind = 'benchmark_result' AND release = ANY("
    ));
    q.push_bind(releases.to_vec()).push(")");
    filter.push(&mut q);
    q.push(" ORDER BY benchmark, name");
    q.build_query_as().fetch_all(pool).await.map_err(read_error)
}

/// The release dates of releases.
pub async fn release_dates(
    pool: &PgPool,
    releases: &[String],
) -> Result<HashMap<String, NaiveDate>, ApiError> {
    let rows: Vec<(String, Option<NaiveDate>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(super::lookups::RELEASE_DATES.as_str()))
            .bind(releases)
            .fetch_all(pool)
            .await
            .map_err(read_error)?;
    Ok(rows
        .into_iter()
        .filter_map(|(n, d)| d.map(|d| (n, d)))
        .collect())
}

fn decode_all<T: prost::Message + Default>(rows: Vec<(Vec<u8>,)>) -> Result<Vec<T>, ApiError> {
    rows.into_iter()
        .map(|(data,)| {
            T::decode(data.as_slice()).map_err(|e| {
                ApiError::Internal(anyhow::Error::new(e).context("stored resource does not decode"))
            })
        })
        .collect()
}

/// The releases of a model line, or of every model line an organization
/// develops.
pub async fn releases_of(pool: &PgPool, subject: &str) -> Result<Vec<Release>, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT data FROM resources WHERE kind = 'release' AND (model = $1 OR model IN \
         (SELECT name FROM resources WHERE kind = 'model' AND developers @> ARRAY[$1]::text[])) \
         ORDER BY name",
    )
    .bind(subject)
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    decode_all(rows)
}

/// An organization's disclosures.
pub async fn disclosures_about(
    pool: &PgPool,
    organization: &str,
) -> Result<Vec<Disclosure>, ApiError> {
    let rows: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM resources WHERE kind = 'disclosure' AND subject = $1")
            .bind(organization)
            .fetch_all(pool)
            .await
            .map_err(read_error)?;
    decode_all(rows)
}

/// Indicators, of one index or all.
pub async fn indicators(pool: &PgPool, index: Option<&str>) -> Result<Vec<Indicator>, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT data FROM resources WHERE kind = 'indicator' AND ($1::text IS NULL OR indicator_index = $1)")
        .bind(index)
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
    decode_all(rows)
}

/// Every edition of every transparency index.
pub async fn transparency_indexes(
    pool: &PgPool,
) -> Result<Vec<frontierwatch_proto::v1::TransparencyIndex>, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT data FROM resources WHERE kind = 'transparency_index' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    decode_all(rows)
}

/// The distinct indexes, as text, of indicators stored without an edition.
pub async fn indicator_index_texts(pool: &PgPool) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT indicator_index FROM resources WHERE kind = 'indicator' \
         AND indicator_index IS NOT NULL AND indicator_index NOT LIKE 'transparencyIndexes/%' \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// Every commitment.
pub async fn commitments(
    pool: &PgPool,
) -> Result<Vec<frontierwatch_proto::v1::Commitment>, ApiError> {
    let rows: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM resources WHERE kind = 'commitment' ORDER BY name")
            .fetch_all(pool)
            .await
            .map_err(read_error)?;
    decode_all(rows)
}

/// Benchmarks that have results.
pub async fn benchmarks_with_results(pool: &PgPool) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT benchmark FROM resources WHERE kind = 'benchmark_result' AND benchmark IS NOT NULL")
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
    Ok(rows.into_iter().map(|(b,)| b).collect())
}

/// Every model line with a result.
pub async fn models_with_results(pool: &PgPool) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT model FROM resources WHERE kind = 'benchmark_result' AND model IS NOT NULL")
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
    Ok(rows.into_iter().map(|(m,)| m).collect())
}

/// Records the leader of a benchmark's comparability key and, when it took
/// over from an earlier leader, raises the alert that announces it, in one
/// transaction: a crash cannot record the leader and lose its alert.
/// `announce` builds the alert's key and alert from the previous leader and
/// the board's change count, so that a lead changing back and forth is
/// announced every time. Returns whether an alert was raised.
pub async fn record_leader(
    pool: &PgPool,
    benchmark: &str,
    settings_key: &str,
    release: &str,
    announce: impl FnOnce(&str, i64) -> (String, Alert),
) -> Result<bool, ApiError> {
    let write_error = |e| map_db_error(e, Operation::Write, "leaders");
    let mut tx = pool.begin().await.map_err(read_error)?;
    let previous: Option<(String,)> = sqlx::query_as(
        "SELECT release FROM leaders WHERE benchmark = $1 AND settings_key = $2 FOR UPDATE",
    )
    .bind(benchmark)
    .bind(settings_key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(read_error)?;
    let previous = previous.map(|(r,)| r);
    if previous.as_deref() == Some(release) {
        return Ok(false);
    }
    let (changes,): (i64,) = sqlx::query_as(
        "INSERT INTO leaders (benchmark, settings_key, release) VALUES ($1, $2, $3) \
         ON CONFLICT (benchmark, settings_key) \
         DO UPDATE SET release = EXCLUDED.release, changes = leaders.changes + 1 \
         RETURNING changes",
    )
    .bind(benchmark)
    .bind(settings_key)
    .bind(release)
    .fetch_one(&mut *tx)
    .await
    .map_err(write_error)?;
    // The first leader of a board is recorded, not announced.
    let raised = match previous {
        Some(previous) => {
            let (key, alert) = announce(&previous, changes);
            raise_in(&mut tx, &key, &alert).await?
        }
        None => false,
    };
    tx.commit().await.map_err(write_error)?;
    Ok(raised)
}

/// Raises an alert once: the first call with a key appends it to the change
/// stream; later calls, from any replica, do nothing. Returns whether it was
/// raised now.
pub async fn raise_alert(pool: &PgPool, key: &str, alert: &Alert) -> Result<bool, ApiError> {
    let mut tx = pool.begin().await.map_err(read_error)?;
    let raised = raise_in(&mut tx, key, alert).await?;
    tx.commit()
        .await
        .map_err(|e| map_db_error(e, Operation::Write, &alert.name))?;
    Ok(raised)
}

/// `raise_alert` inside the caller's transaction, which commits it.
pub(super) async fn raise_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    key: &str,
    alert: &Alert,
) -> Result<bool, ApiError> {
    let inserted =
        sqlx::query("INSERT INTO alerts (alert_key, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(&alert.name)
            .execute(&mut **tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Write, &alert.name))?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    let change = PendingChange::raw(
        alert.name.clone(),
        frontierwatch_proto::kinds::ALERT_FULL_NAME.to_owned(),
        ChangeKind::Created,
        alert.encode_to_vec(),
        (!alert.organization.is_empty())
            .then(|| alert.organization.clone())
            .into_iter()
            .collect(),
        // A regression is about a model line, on a benchmark; a new
        // leader about a benchmark.
        if alert.kind == AlertKind::QualityRegression as i32 {
            Some(alert.subject.clone())
        } else if alert.kind == AlertKind::PriceChange as i32
            || alert.kind == AlertKind::AvailabilityDrop as i32
        {
            // About an offering: of its release's model line.
            crate::domain::names::model_of_release(&alert.release)
        } else {
            None
        },
        if alert.kind == AlertKind::NewLeader as i32 {
            Some(alert.subject.clone())
        } else {
            (!alert.benchmark.is_empty()).then(|| alert.benchmark.clone())
        },
        // Raised by the service itself.
        &Actor::none(),
    );
    append_changes(tx, &[change]).await?;
    Ok(true)
}

/// Fills the `weights` of release rows stored before the column existed or
/// written since by an older replica (migration 17).
pub async fn backfill_release_weights(pool: &PgPool) -> Result<u64, ApiError> {
    let mut filled = 0;
    loop {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, data FROM resources WHERE kind = 'release' AND weights IS NULL LIMIT 1000",
        )
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut names = Vec::with_capacity(rows.len());
        let mut weights = Vec::with_capacity(rows.len());
        for (name, data) in rows {
            let release = Release::decode(data.as_slice()).map_err(|e| {
                ApiError::Internal(anyhow::Error::new(e).context("stored release does not decode"))
            })?;
            names.push(name);
            weights.push(crate::domain::kinds::weights(&release.access));
        }
        let done = sqlx::query(
            "UPDATE resources r SET weights = w.weights FROM unnest($1::text[], $2::text[]) \
             AS w(name, weights) WHERE r.name = w.name AND r.kind = 'release' AND r.weights IS NULL",
        )
        .bind(&names)
        .bind(&weights)
        .execute(pool)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, "releases"))?;
        // A row rewritten meanwhile by this release has its weights, and
        // one deleted is gone: neither is read again.
        filled += done.rows_affected();
    }
}

/// Fills the result columns of rows written before they existed.
pub async fn backfill_result_index(pool: &PgPool) -> Result<u64, ApiError> {
    use crate::domain::Resource as _;
    let mut filled = 0;
    loop {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, data FROM resources WHERE kind = 'benchmark_result' AND settings_key IS NULL LIMIT 1000",
        )
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
        if rows.is_empty() {
            return Ok(filled);
        }
        for (name, data) in rows {
            let result = frontierwatch_proto::v1::BenchmarkResult::decode(data.as_slice())
                .map_err(|e| {
                    ApiError::Internal(
                        anyhow::Error::new(e).context("stored result does not decode"),
                    )
                })?;
            let index = result.index();
            sqlx::query(
                "UPDATE resources SET score = $2, settings_key = $3, relation = $4 WHERE name = $1",
            )
            .bind(&name)
            .bind(index.score)
            .bind(&index.settings_key)
            .bind(&index.relation)
            .execute(pool)
            .await
            .map_err(|e| map_db_error(e, Operation::Write, &name))?;
            filled += 1;
        }
    }
}
