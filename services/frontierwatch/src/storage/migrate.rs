//! Migrations under an advisory lock that is polled, not waited on.
//!
//! sqlx's own lock waits in `SELECT pg_advisory_lock(...)`: a replica
//! waiting there holds a transaction open, and a migration that another
//! replica runs with `CREATE INDEX CONCURRENTLY` waits for every open
//! transaction to end, including that one, which waits for the migration's
//! lock: a deadlock PostgreSQL breaks by failing one of them (the test
//! `deployment::concurrent_migrations_with_create_index_concurrently_…`
//! shows it). Here a replica asks `pg_try_advisory_lock` every half second
//! between statements, so no transaction of its own is open while it
//! waits. The lock id is sqlx's, so replicas of older releases, which take
//! sqlx's lock, still exclude these.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::{Connection as _, PgPool};

/// How often a replica asks for the lock while another holds it.
const POLL: Duration = Duration::from_millis(500);

/// sqlx's migration lock id for a database (`generate_lock_id` in
/// sqlx-postgres).
pub fn lock_id(database: &str) -> i64 {
    const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32_ad9e * i64::from(CRC_IEEE.checksum(database.as_bytes()))
}

/// Applies `migrator`'s pending migrations once the lock is held; the
/// migrator's own (waiting) lock is switched off, since this takes it.
pub async fn apply(pool: &PgPool, mut migrator: Migrator) -> anyhow::Result<()> {
    migrator.set_locking(false);
    let mut connection = pool.acquire().await?.detach();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut connection)
        .await?;
    let id = lock_id(&database);
    let mut announced = false;
    while !sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(id)
        .fetch_one(&mut connection)
        .await?
    {
        if !announced {
            tracing::info!("another replica is applying migrations; waiting for it to finish");
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    }
    let outcome = migrator.run(&mut connection).await;
    // Closing the session releases the lock whatever happened; unlock
    // first so that the next replica need not wait for the close.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(id)
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
    Ok(outcome?)
}
