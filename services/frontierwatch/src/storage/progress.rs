//! Reads for progress over time: a benchmark's records and a model line's
//! results (`analytics::progression`, `analytics::quality`).

use chrono::NaiveDate;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::analytics::{ResultFilter, ResultRow};
use super::error::{Operation, map_db_error};
use crate::error::ApiError;

fn read_error(e: sqlx::Error) -> ApiError {
    map_db_error(e, Operation::Read, "analytics")
}

/// A result that set a record, with its section's counts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub name: String,
    pub release: String,
    pub model: Option<String>,
    pub score: f64,
    pub settings_key: String,
    pub publish_date: NaiveDate,
    /// Results counted in the section.
    pub size: i64,
    /// Of those, the ones with no publish date.
    pub undated: i64,
}

/// The records of a benchmark per comparability key, oldest first: each
/// a dated result strictly better than every result dated before it (on
/// one day, the best first, then by name, so a day sets one record). The
/// running best is a window over the section's results in that order, so
/// only the records leave the database.
pub async fn records(
    pool: &PgPool,
    benchmark: &str,
    filter: &ResultFilter,
    lower_is_better: bool,
    settings_key: Option<&str>,
) -> Result<Vec<RecordRow>, ApiError> {
    records_query(benchmark, filter, lower_is_better, settings_key)
        .build_query_as()
        // Planned with its values, as the leaderboard's (storage::analytics).
        .persistent(false)
        .fetch_all(pool)
        .await
        .map_err(read_error)
}

/// The statement of [`records`].
pub fn records_query(
    benchmark: &str,
    filter: &ResultFilter,
    lower_is_better: bool,
    settings_key: Option<&str>,
) -> QueryBuilder<Postgres> {
    let (running, order, beats) = if lower_is_better {
        ("min", "ASC", "<")
    } else {
        ("max", "DESC", ">")
    };
    let mut q = QueryBuilder::new(format!(
        "SELECT name, release, model, score, settings_key, publish_date, size, undated FROM \
         (SELECT name, release, model, score, settings_key, publish_date, \
         {running}(score) OVER (PARTITION BY settings_key \
         ORDER BY publish_date ASC NULLS LAST, score {order}, name \
         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before, \
         count(*) OVER (PARTITION BY settings_key) AS size, \
         count(*) FILTER (WHERE publish_date IS NULL) OVER (PARTITION BY settings_key) AS undated \
         FROM resources WHERE kind = 'benchmark_result' AND settings_key IS NOT NULL \
         AND benchmark = "
    ));
    q.push_bind(benchmark.to_owned());
    if let Some(key) = settings_key {
        q.push(" AND settings_key = ").push_bind(key.to_owned());
    }
    filter.push(&mut q);
    q.push(format!(
        ") counted WHERE publish_date IS NOT NULL AND (before IS NULL OR score {beats} before) \
         ORDER BY settings_key, publish_date, score {order}, name"
    ));
    q
}

/// Every counted result of a model line's releases, with its stored
/// resource.
pub async fn results_of_model(
    pool: &PgPool,
    model: &str,
    filter: &ResultFilter,
) -> Result<Vec<ResultRow>, ApiError> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT name, release, model, benchmark, score, \
         coalesce(settings_key, 'default') AS settings_key, data FROM resources \
         WHERE kind = 'benchmark_result' AND model = ",
    );
    q.push_bind(model.to_owned());
    filter.push(&mut q);
    q.push(" ORDER BY release, benchmark, name");
    q.build_query_as()
        .persistent(false)
        .fetch_all(pool)
        .await
        .map_err(read_error)
}
