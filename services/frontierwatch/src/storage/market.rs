//! The reads of offerings and measurements behind the price frontier, the
//! leaderboard's prices and the offering report.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::{Operation, map_db_error};
use crate::error::ApiError;

fn read_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "offerings")
}

/// Every offering of these releases, name and stored message (through
/// the index of `release`).
pub async fn offerings_of(
    pool: &PgPool,
    releases: &[String],
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    sqlx::query_as(
        "SELECT name, data FROM resources WHERE kind = 'offering' AND release = ANY($1) \
         ORDER BY name",
    )
    .bind(releases)
    .fetch_all(pool)
    .await
    .map_err(read_error)
}

/// The stored measurements of these offerings whose window ends in
/// `[from, to)`, through the index on (offering, window_end).
pub async fn measurements_in(
    pool: &PgPool,
    offerings: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT data FROM resources WHERE kind = 'measurement' AND offering = ANY($1) \
         AND window_end >= $2 AND window_end < $3",
    )
    .bind(offerings)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    Ok(rows.into_iter().map(|(data,)| data).collect())
}

/// Every offering, name and stored message.
pub async fn all_offerings(pool: &PgPool) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    sqlx::query_as("SELECT name, data FROM resources WHERE kind = 'offering' ORDER BY name")
        .fetch_all(pool)
        .await
        .map_err(read_error)
}

/// These offerings, name and stored message (those that exist).
pub async fn offerings_named(
    pool: &PgPool,
    names: &[String],
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    sqlx::query_as(
        "SELECT name, data FROM resources WHERE kind = 'offering' AND name = ANY($1) ORDER BY name",
    )
    .bind(names)
    .fetch_all(pool)
    .await
    .map_err(read_error)
}

/// The offerings these measurements measure (those still stored).
pub async fn offerings_measured(
    pool: &PgPool,
    measurements: &[String],
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT offering FROM resources WHERE kind = 'measurement' AND name = ANY($1) \
         AND offering IS NOT NULL",
    )
    .bind(measurements)
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    Ok(rows.into_iter().map(|(o,)| o).collect())
}

/// The offerings with a measurement whose window ends after `since`.
pub async fn offerings_measured_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT offering FROM resources WHERE kind = 'measurement' AND window_end >= $1",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(read_error)?;
    Ok(rows.into_iter().map(|(o,)| o).collect())
}

/// Records whether an offering's availability is below the threshold;
/// raises the alert `announce` builds (from the count of drops so far)
/// when it has just gone below. True when it raised one.
pub async fn record_availability(
    pool: &PgPool,
    offering: &str,
    below: bool,
    announce: impl FnOnce(i64) -> (String, frontierwatch_proto::v1::Alert),
) -> Result<bool, ApiError> {
    let write_error = |e| map_db_error(e, Operation::Write, "offering availability");
    let mut tx = pool.begin().await.map_err(read_error)?;
    let previous: Option<(bool,)> =
        sqlx::query_as("SELECT below FROM offering_availability WHERE offering = $1 FOR UPDATE")
            .bind(offering)
            .fetch_optional(&mut *tx)
            .await
            .map_err(read_error)?;
    if previous.map(|(b,)| b) == Some(below) {
        return Ok(false);
    }
    let (drops,): (i64,) = sqlx::query_as(
        "INSERT INTO offering_availability (offering, below, drops) VALUES ($1, $2, $3::int) \
         ON CONFLICT (offering) DO UPDATE SET below = EXCLUDED.below, \
         drops = offering_availability.drops + EXCLUDED.drops RETURNING drops",
    )
    .bind(offering)
    .bind(below)
    .bind(i32::from(below))
    .fetch_one(&mut *tx)
    .await
    .map_err(write_error)?;
    let raised = if below {
        let (key, alert) = announce(drops);
        super::analytics::raise_in(&mut tx, &key, &alert).await?
    } else {
        false
    };
    tx.commit().await.map_err(write_error)?;
    Ok(raised)
}
