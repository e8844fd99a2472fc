//! Reading the change log: following it in sequence order, its head and
//! retained window, pruning, and consistent snapshots of current state.
//!
//! Sequence numbers are assigned under a transaction-scoped advisory lock
//! held until commit (see the first migration, and the eleventh, which takes
//! it once per statement), so a record with sequence N
//! is visible only after every record below N is: following `seq > cursor`
//! never skips a record.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use super::error::{Operation, map_db_error};
use crate::error::ApiError;

/// One record of the change log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRecord {
    pub seq: i64,
    pub tx_id: i64,
    pub resource_name: String,
    /// Full protobuf type name, e.g. `frontierwatch.v1.Release`.
    pub resource_type: String,
    /// `created`, `updated` or `deleted`.
    pub change_kind: String,
    /// The encoded resource after the change.
    pub resource: Vec<u8>,
    pub commit_time: DateTime<Utc>,
    pub organizations: Vec<String>,
    pub model: Option<String>,
    pub benchmark: Option<String>,
    /// The token whose call made the change.
    pub actor: Option<String>,
}

const COLUMNS: &str = "seq, tx_id::text::bigint AS tx_id, resource_name, resource_type, \
                       change_kind, resource, commit_time, organizations, model, benchmark, actor";

fn read_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "the change log")
}

/// A record read with the retention state seen by the same statement.
#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    record: ChangeRecord,
    pruned_through: i64,
}

/// Up to about `limit` records after `cursor`, in sequence order, always
/// ending at a transaction boundary (the last transaction is completed).
///
/// Fails with `CursorExpired` when records after the cursor have been
/// pruned: a reader that pages through the log while the pruner runs (a
/// long catch-up, a catch-up after a long snapshot) learns it on the page
/// where it happens instead of skipping them. The check reads the pruning
/// state in the same statement, hence the same snapshot, as the records.
/// (An empty page needs no check: pruning always keeps the newest record,
/// so records after the cursor were pruned only if a newer one is there.)
pub async fn read_after(
    pool: &PgPool,
    cursor: i64,
    limit: i64,
) -> Result<Vec<ChangeRecord>, ApiError> {
    let sql = format!(
        "WITH page AS (SELECT {COLUMNS} FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2), \
         last AS (SELECT seq, tx_id FROM changes WHERE seq = (SELECT max(seq) FROM page)), \
         rows AS ( \
             SELECT * FROM page \
             UNION ALL \
             SELECT {COLUMNS} FROM changes \
              WHERE tx_id = (SELECT tx_id FROM last) AND seq > (SELECT seq FROM last)) \
         SELECT rows.*, (SELECT pruned_through FROM change_log_state) AS pruned_through \
           FROM rows ORDER BY seq"
    );
    let rows: Vec<PageRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(cursor)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(read_error)?;
    if rows.first().is_some_and(|row| row.pruned_through > cursor) {
        let (_, oldest, head) = window(pool).await?;
        return Err(ApiError::CursorExpired {
            cursor,
            oldest,
            head,
        });
    }
    Ok(rows.into_iter().map(|row| row.record).collect())
}

/// The highest committed sequence, 0 when the log is empty.
pub async fn head(pool: &PgPool) -> Result<i64, ApiError> {
    let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM changes")
        .fetch_one(pool)
        .await
        .map_err(read_error)?;
    Ok(head.unwrap_or(0))
}

/// The retained window: (highest pruned sequence, oldest retained, head).
pub async fn window(pool: &PgPool) -> Result<(i64, i64, i64), ApiError> {
    let row: (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT pruned_through FROM change_log_state), \
                (SELECT min(seq) FROM changes), (SELECT max(seq) FROM changes)",
    )
    .fetch_one(pool)
    .await
    .map_err(read_error)?;
    Ok((row.0, row.1.unwrap_or(row.0 + 1), row.2.unwrap_or(row.0)))
}

/// Deletes records committed longer than `retention` ago, always keeping
/// the newest record (it carries the head), and remembers the highest
/// sequence deleted. Returns how many were deleted.
pub async fn prune(pool: &PgPool, retention: std::time::Duration) -> Result<u64, ApiError> {
    let seconds = retention.as_secs_f64();
    let (deleted,): (i64,) = sqlx::query_as(
        "WITH deleted AS ( \
             DELETE FROM changes \
              WHERE commit_time < now() - make_interval(secs => $1) \
                AND seq < (SELECT max(seq) FROM changes) \
             RETURNING seq), \
         state AS ( \
             UPDATE change_log_state \
                SET pruned_through = GREATEST(pruned_through, (SELECT max(seq) FROM deleted)) \
              WHERE EXISTS (SELECT 1 FROM deleted)) \
         SELECT count(*) FROM deleted",
    )
    .bind(seconds)
    .fetch_one(pool)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, "the change log"))?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}

/// Which resources a snapshot includes.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// `resources.kind` values; `None` means all.
    pub kinds: Option<Vec<String>>,
    pub organization: Option<String>,
    pub model: Option<String>,
    pub benchmark: Option<String>,
}

/// One resource of a snapshot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub name: String,
    pub kind: String,
    pub data: Vec<u8>,
}

/// A consistent view of current state and the change-log head it
/// corresponds to, read page by page.
pub struct Snapshot {
    tx: Transaction<'static, Postgres>,
    /// Every change up to this sequence is reflected in the snapshot, and
    /// none after it.
    pub head: i64,
}

impl Snapshot {
    /// Opens a repeatable-read transaction and reads its head. Because
    /// sequences are committed in order, the snapshot holds exactly the
    /// changes up to the highest sequence it can see.
    pub async fn begin(pool: &PgPool) -> Result<Self, ApiError> {
        let acquire = crate::metrics::Timer::acquire("snapshot");
        let mut tx = pool.begin().await.map_err(read_error)?;
        drop(acquire);
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(read_error)?;
        let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM changes")
            .fetch_one(&mut *tx)
            .await
            .map_err(read_error)?;
        let (pruned,): (i64,) = sqlx::query_as("SELECT pruned_through FROM change_log_state")
            .fetch_one(&mut *tx)
            .await
            .map_err(read_error)?;
        Ok(Self {
            tx,
            head: head.unwrap_or(pruned),
        })
    }

    /// The next page of matching resources after `after`, in name order.
    pub async fn page(
        &mut self,
        filter: &SnapshotFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SnapshotRow>, ApiError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT name, kind, data FROM resources WHERE true");
        if let Some(after) = after {
            q.push(" AND name > ").push_bind(after.to_owned());
        }
        if let Some(kinds) = &filter.kinds {
            q.push(" AND kind = ANY(")
                .push_bind(kinds.clone())
                .push(")");
        }
        if let Some(org) = &filter.organization {
            q.push(" AND (name = ").push_bind(org.clone());
            // The organizations a change record names (`Index::organizations`).
            for column in [
                "parent_organization",
                "evaluator",
                "subject",
                "committed_by",
            ] {
                q.push(format!(" OR {column} = ")).push_bind(org.clone());
            }
            q.push(" OR developers @> ARRAY[")
                .push_bind(org.clone())
                .push("]::text[]");
            q.push(" OR model IN (SELECT name FROM resources WHERE kind = 'model' AND developers @> ARRAY[")
                .push_bind(org.clone())
                .push("]::text[]))");
        }
        if let Some(model) = &filter.model {
            q.push(" AND (name = ").push_bind(model.clone());
            q.push(" OR model = ").push_bind(model.clone()).push(")");
        }
        if let Some(benchmark) = &filter.benchmark {
            q.push(" AND (name = ").push_bind(benchmark.clone());
            q.push(" OR benchmark = ")
                .push_bind(benchmark.clone())
                .push(")");
        }
        q.push(" ORDER BY name LIMIT ").push_bind(limit);
        q.build_query_as()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(read_error)
    }

    /// Ends the read-only transaction.
    pub async fn finish(self) {
        let _ = self.tx.rollback().await;
    }
}
