//! Bearer tokens: made, listed, revoked, and checked on every call. Only a
//! SHA-256 hash of each secret is stored.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{Operation, map_db_error};
use crate::error::ApiError;

/// What a token may do, in increasing order of power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who a valid token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, `tokens/{token}`: the actor of its writes.
    pub name: String,
    pub role: Role,
}

/// A stored token, without its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub create_time: DateTime<Utc>,
    pub expire_time: Option<DateTime<Utc>>,
    pub revoke_time: Option<DateTime<Utc>>,
}

/// A new secret: 256 random bits (two v4 UUIDs' worth and more), hex.
fn new_secret() -> String {
    let bytes: Vec<u8> = (0..3).flat_map(|_| Uuid::new_v4().into_bytes()).collect();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("fw_{hex}")
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn write_error(name: &str) -> impl Fn(sqlx::Error) -> ApiError + '_ {
    move |e| map_db_error(e, Operation::Write, name)
}

/// Makes a token; returns it and its secret (never stored).
pub async fn create(
    pool: &PgPool,
    name: &str,
    role: Role,
    expire_time: Option<DateTime<Utc>>,
) -> Result<(TokenRow, String), ApiError> {
    let secret = new_secret();
    let row: Option<TokenRow> = sqlx::query_as(
        "INSERT INTO tokens (name, role, secret_hash, expire_time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING \
         RETURNING name, role, create_time, expire_time, revoke_time",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(hash(&secret))
    .bind(expire_time)
    .fetch_optional(pool)
    .await
    .map_err(write_error(name))?;
    match row {
        Some(row) => Ok((row, secret)),
        None => Err(ApiError::AlreadyExists {
            name: name.to_owned(),
        }),
    }
}

/// Makes the first admin token if there is no token at all, with the
/// `given` secret or a new one; returns its secret when it made one.
/// Replicas starting together make one at most.
pub async fn bootstrap(
    pool: &PgPool,
    name: &str,
    given: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let secret = given.map_or_else(new_secret, str::to_owned);
    let made = sqlx::query(
        "INSERT INTO tokens (name, role, secret_hash) \
         SELECT $1, 'admin', $2 WHERE pg_try_advisory_xact_lock(1180106755) \
            AND NOT EXISTS (SELECT 1 FROM tokens)",
    )
    .bind(name)
    .bind(hash(&secret))
    .execute(pool)
    .await
    .map_err(write_error(name))?;
    Ok((made.rows_affected() == 1).then_some(secret))
}

/// Tokens in name order after `after`, at most `limit`.
pub async fn list(pool: &PgPool, after: &str, limit: i64) -> Result<Vec<TokenRow>, ApiError> {
    sqlx::query_as(
        "SELECT name, role, create_time, expire_time, revoke_time FROM tokens \
          WHERE name > $1 ORDER BY name LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, "tokens"))
}

/// Revokes a token (a second revocation keeps the first time).
pub async fn revoke(pool: &PgPool, name: &str) -> Result<TokenRow, ApiError> {
    let row: Option<TokenRow> = sqlx::query_as(
        "UPDATE tokens SET revoke_time = COALESCE(revoke_time, now()) WHERE name = $1 \
         RETURNING name, role, create_time, expire_time, revoke_time",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(write_error(name))?;
    row.ok_or_else(|| ApiError::NotFound {
        name: name.to_owned(),
    })
}

/// The principal of a secret, if it names a live token.
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<Principal>, ApiError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT name, role FROM tokens WHERE secret_hash = $1 \
            AND revoke_time IS NULL AND (expire_time IS NULL OR expire_time > now())",
    )
    .bind(hash(secret))
    .fetch_optional(pool)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, "tokens"))?;
    Ok(row.and_then(|(name, role)| Role::parse(&role).map(|role| Principal { name, role })))
}
