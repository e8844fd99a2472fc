//! Reads for progress over time: a benchmark's records and a model line's
//! results (`analytics::progression`, `analytics::quality`).

use chrono::NaiveDate;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::analytics::{RESULT_COLUMNS, ResultFilter, ResultRow};
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

/// A question for [`records`].
pub struct Records<'a> {
    pub benchmark: &'a str,
    pub filter: &'a ResultFilter,
    pub lower_is_better: bool,
    /// Only this section.
    pub settings_key: Option<&'a str>,
}

/// The records of a benchmark per comparability key, oldest first: each a dated result strictly better than every result dated
/// before it (on one day, the day's best; then by name, so a day sets one
/// record).
///
/// Found in the database in three steps over the index
/// `resources_records` (benchmark, key, date, score, name; migration 18):
/// each day's best score per key, read in index order; the running best
/// over those days (a few hundred rows, not the results); and, for each
/// day that beats it, the result that scored it, one index lookup each.
/// At 20,000 results a benchmark that is 12 ms, against 40 for a running
/// best over every result sorted by date (benches/report/analytics.md).
pub async fn records(pool: &PgPool, question: &Records<'_>) -> Result<Vec<RecordRow>, ApiError> {
    records_query(question)
        .build_query_as()
        // Planned with its values, as the leaderboard's (storage::analytics).
        .persistent(false)
        .fetch_all(pool)
        .await
        .map_err(read_error)
}

/// The statement of [`records`] (public for the plan tests).
pub fn records_query(question: &Records<'_>) -> QueryBuilder<Postgres> {
    let Records {
        benchmark,
        filter,
        lower_is_better,
        settings_key,
    } = *question;
    let (best, beats) = if lower_is_better {
        ("min", "<")
    } else {
        ("max", ">")
    };
    let results = |q: &mut QueryBuilder<Postgres>| {
        q.push(
            "FROM resources WHERE kind = 'benchmark_result' AND settings_key IS NOT NULL \
             AND benchmark = ",
        );
        q.push_bind(benchmark.to_owned());
        if let Some(key) = settings_key {
            q.push(" AND settings_key = ").push_bind(key.to_owned());
        }
        filter.push(q);
    };
    let mut q = QueryBuilder::new(format!(
        "WITH days AS (SELECT settings_key, publish_date, {best}(score) AS best, count(*) AS n "
    ));
    results(&mut q);
    q.push(format!(
        " GROUP BY settings_key, publish_date), \
         running AS (SELECT settings_key, publish_date, best, \
         {best}(best) OVER (PARTITION BY settings_key ORDER BY publish_date ASC NULLS LAST \
         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before, \
         sum(n) OVER (PARTITION BY settings_key) AS size, \
         sum(n) FILTER (WHERE publish_date IS NULL) OVER (PARTITION BY settings_key) AS undated \
         FROM days) \
         SELECT r.name, r.release, r.model, running.best AS score, running.settings_key, \
         running.publish_date, running.size::int8 AS size, \
         coalesce(running.undated, 0)::int8 AS undated \
         FROM running CROSS JOIN LATERAL (SELECT name, release, model "
    ));
    results(&mut q);
    q.push(format!(
        " AND settings_key = running.settings_key AND publish_date = running.publish_date \
         AND score = running.best ORDER BY name LIMIT 1) r \
         WHERE running.publish_date IS NOT NULL \
         AND (running.before IS NULL OR running.best {beats} running.before) \
         ORDER BY running.settings_key, running.publish_date"
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
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {RESULT_COLUMNS} FROM resources WHERE kind = 'benchmark_result' AND model = "
    ));
    q.push_bind(model.to_owned());
    filter.push(&mut q);
    q.push(" ORDER BY release, benchmark, name");
    q.build_query_as()
        .persistent(false)
        .fetch_all(pool)
        .await
        .map_err(read_error)
}
