//! Bearer tokens: made, listed, revoked, and checked on every call. Only a
//! SHA-256 hash of each secret is stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// The NOTIFY channel a revocation signals, in its own transaction: every
/// replica forgets the principals it remembered.
pub const REVOCATIONS: &str = "frontierwatch_token_revocations";

/// Revokes a token (a second revocation keeps the first time). Every
/// replica's [`Checker`] forgets what it remembered: this one before
/// answering, the others when the notification reaches them.
pub async fn revoke(checker: &Checker, name: &str) -> Result<TokenRow, ApiError> {
    let mut tx = checker.pool.begin().await.map_err(write_error(name))?;
    let row: Option<TokenRow> = sqlx::query_as(
        "UPDATE tokens SET revoke_time = COALESCE(revoke_time, now()) WHERE name = $1 \
         RETURNING name, role, create_time, expire_time, revoke_time",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(write_error(name))?;
    let Some(row) = row else {
        return Err(ApiError::NotFound {
            name: name.to_owned(),
        });
    };
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(REVOCATIONS)
        .execute(&mut *tx)
        .await
        .map_err(write_error(name))?;
    tx.commit().await.map_err(write_error(name))?;
    checker.forget_all();
    Ok(row)
}

/// How long a replica trusts a principal it read, at most: the bound on a
/// revocation whose notification was lost without the listener noticing.
const REMEMBERED: Duration = Duration::from_secs(5);
/// Principals remembered at most; past it, all are forgotten.
const REMEMBERED_MAX: usize = 10_000;

/// The principals a replica remembers, and how many times it forgot them
/// all: a read that began before a revocation was heard is not remembered.
#[derive(Debug, Default)]
struct Memory {
    generation: u64,
    principals: HashMap<Vec<u8>, (Principal, Instant)>,
}

/// Checks secrets against the stored tokens, remembering the principals of
/// valid ones for a few seconds while this replica hears revocations
/// (the check is otherwise a database round trip on every call, the same
/// as the call's own work for a Get).
#[derive(Debug, Clone)]
pub struct Checker {
    pool: PgPool,
    remembered: Arc<Mutex<Memory>>,
    /// Revocations are heard: remembering is safe.
    listening: Arc<AtomicBool>,
}

impl Checker {
    /// A checker that remembers nothing until told it is listening
    /// ([`Checker::set_listening`]).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            remembered: Arc::default(),
            listening: Arc::default(),
        }
    }

    fn remembered(&self) -> MutexGuard<'_, Memory> {
        self.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget_all(&self) {
        let mut memory = self.remembered();
        memory.principals.clear();
        memory.generation += 1;
    }

    /// The principal of a secret, if it names a live token.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        let hash = hash(secret);
        let now = Instant::now();
        let generation = {
            let memory = self.remembered();
            if let Some((principal, until)) = memory.principals.get(&hash)
                && *until > now
            {
                return Ok(Some(principal.clone()));
            }
            memory.generation
        };
        let row: Option<(String, String, Option<f64>)> = sqlx::query_as(
            "SELECT name, role, extract(epoch FROM expire_time - now())::float8 FROM tokens \
              WHERE secret_hash = $1 \
                AND revoke_time IS NULL AND (expire_time IS NULL OR expire_time > now())",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_db_error(e, Operation::Read, "tokens"))?;
        let Some((name, role, expires_in)) = row else {
            return Ok(None);
        };
        let Some(role) = Role::parse(&role) else {
            return Ok(None);
        };
        let principal = Principal { name, role };
        if self.listening.load(Ordering::Acquire) {
            // Never past the token's own expiry.
            let left = expires_in.map_or(REMEMBERED, |s| {
                Duration::try_from_secs_f64(s).map_or(Duration::ZERO, |d| d.min(REMEMBERED))
            });
            let mut memory = self.remembered();
            // A revocation heard since the read may concern this token.
            if memory.generation == generation {
                if memory.principals.len() >= REMEMBERED_MAX {
                    memory.principals.clear();
                }
                memory
                    .principals
                    .insert(hash, (principal.clone(), now + left));
            }
        }
        Ok(Some(principal))
    }

    /// Told by the replica's one LISTEN connection (`stream::hub`), which
    /// also listens for revocations: every principal is forgotten at each
    /// call, on a revocation, a (re)connect or a lost connection; while
    /// not `listening`, nothing is remembered.
    pub fn set_listening(&self, listening: bool) {
        self.forget_all();
        self.listening.store(listening, Ordering::Release);
    }
}
