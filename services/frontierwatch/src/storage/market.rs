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
