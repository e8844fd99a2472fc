//! Statements about the cluster rather than the schema: creating the
//! service's database in an embedded (or test) cluster, and the advisory
//! locks that elect one replica for a background task.

use anyhow::Context as _;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::ApiError;

/// Creates `database` in the cluster at `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("cannot connect to the embedded PostgreSQL")?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        let create = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
        {
            // A replica starting at the same moment may have created it.
            let code = e
                .as_database_error()
                .and_then(|d| d.code().map(|c| c.into_owned()));
            if code.as_deref() != Some("42P04") {
                return Err(e.into());
            }
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// A transaction holding the transaction-scoped advisory lock `key`, or
/// `None` when another session holds it: the lock is released when the
/// transaction ends (committed, rolled back or dropped).
pub async fn try_lock(
    pool: &PgPool,
    key: i64,
) -> Result<Option<Transaction<'static, Postgres>>, ApiError> {
    let mut tx = pool.begin().await.map_err(ApiError::Unavailable)?;
    let (acquired,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(acquired.then_some(tx))
}
