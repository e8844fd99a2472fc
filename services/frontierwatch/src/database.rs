//! The database the server runs on: the configured one, reached with
//! bounded, logged retries while it does not answer yet, or the embedded
//! one; migrated before anything else uses it.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;

use crate::config::{Config, redact_url, seconds};
use crate::embedded::{self, EmbeddedPostgres};

/// The name of the database the embedded cluster serves.
const EMBEDDED_DATABASE: &str = "frontierwatch";

/// The database, connected and migrated.
pub struct Database {
    pub url: String,
    pub pool: sqlx::PgPool,
    /// The private cluster, when no URL was given; stop it when done.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to the database at the configured URL, or starts the
    /// embedded one, and applies migrations. An external database that
    /// does not answer yet is retried for `--database-wait-seconds`.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let (url, embedded) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let data_dir = config.data_dir.clone();
                let bin_hint = config.postgres_bin_dir.clone();
                let pg = tokio::task::spawn_blocking(move || {
                    let bin_dir = embedded::find_bin_dir(bin_hint.as_deref())?;
                    tracing::info!(bin_dir = %bin_dir.display(), data_dir = %data_dir.display(), "starting embedded postgresql");
                    EmbeddedPostgres::start(&data_dir, &bin_dir)
                })
                .await??;
                embedded::ensure_database(&pg.url("postgres"), EMBEDDED_DATABASE).await?;
                (pg.url(EMBEDDED_DATABASE), Some(pg))
            }
        };
        tracing::info!(database = %redact_url(&url), "connecting to database");
        let pool = connect_waiting(&url, config).await?;
        // The migrations' advisory lock is polled (storage::migrate), so
        // replicas starting together apply them once, and a migration with
        // CREATE INDEX CONCURRENTLY does not deadlock with a replica
        // waiting for the lock. A database migrated by a newer release
        // is accepted: during a rolling upgrade (or a rollback) the older
        // replicas keep running against the expanded schema, which is why
        // every migration must be additive for the release before it
        // (deploy/README.md, "Migrations").
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        crate::storage::migrate::apply(&pool, migrator)
            .await
            .context("cannot apply database migrations")?;
        Ok(Database {
            url,
            pool,
            embedded,
        })
    }
}

/// The first connection, retried with backoff (0.5 s doubling to 10 s,
/// each failure logged) while the error is one that time can mend, for at
/// most `--database-wait-seconds`.
async fn connect_waiting(url: &str, config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let budget = seconds(config.database_wait_seconds);
    let started = tokio::time::Instant::now();
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut attempt = 1u32;
    loop {
        let error = match pool_options(config.pool_size).connect(url).await {
            Ok(pool) => {
                if attempt > 1 {
                    tracing::info!(attempt, "the database answers; starting");
                }
                return Ok(pool);
            }
            Err(error) => error,
        };
        let waited = started.elapsed();
        let delay = backoff.next_delay();
        if !crate::storage::error::is_transient_connect_error(&error) {
            return Err(anyhow::Error::new(error)
                .context("cannot connect to the database (--database-url)"));
        }
        if waited + delay > budget {
            return Err(anyhow::Error::new(error).context(format!(
                "cannot connect to the database (--database-url): no answer within {:.0} s (--database-wait-seconds)",
                budget.as_secs_f64()
            )));
        }
        tracing::warn!(
            %error,
            attempt,
            retry_in_seconds = delay.as_secs_f64(),
            waited_seconds = waited.as_secs(),
            "the database does not answer yet; waiting for it"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// The options of both pools. sqlx checks a connection with a round trip
/// when it is handed out (`test_before_acquire`, its default) and when it
/// goes back. The check on hand-out stays: without it, a connection that
/// the database dropped while it sat idle for a moment (a restart that
/// takes less than a second) was handed to a call, which failed
/// (`deployment::readiness_goes_not_serving_…` caught it).
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
}
