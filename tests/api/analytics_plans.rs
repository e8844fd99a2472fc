//! A leaderboard (and a record progression) reads every result of its benchmark (20,000 at a million
//! results over 50 benchmarks). With every option, that read must be an
//! index-only scan of `resources_leaderboard_typed` whose rows go to no
//! sort: a
//! sort of the benchmark's results was three quarters of a leaderboard's
//! time. The server plans these statements with their values at each
//! execution (a generic plan guesses an as-of date's selectivity and may
//! sort instead), so that is the plan checked here.

use frontierwatch_server::storage::analytics::{ResultFilter, best_results_query};
use frontierwatch_server::storage::progress::{Records, records_query};
use sqlx::Connection as _;

use crate::harness::TestServer;
use crate::list_plans::plan;

#[tokio::test]
async fn every_leaderboard_option_reads_its_benchmark_through_the_index_unsorted() {
    let s = TestServer::start().await;
    let mut conn = sqlx::PgConnection::connect(&s.database_url)
        .await
        .expect("connects");
    // 40,000 results over two benchmarks, 200 releases and 3 settings each,
    // each stored in 300 bytes (as a real result is): how wide the table
    // is decides whether reading it beats the index.
    sqlx::raw_sql(
        "INSERT INTO resources (name, kind, release, model, benchmark, organizations, status, \
                                relation, event_date, score, settings_key, data, etag, \
                                create_time, update_time) \
         SELECT 'benchmarkResults/x' || i, 'benchmark_result', \
                'models/m' || (i % 20) || '/releases/r' || (i % 200), 'models/m' || (i % 20), \
                'benchmarks/b' || (i % 2), '{}', 'VERIFICATION_STATUS_SELF_REPORTED', \
                'EVALUATOR_RELATION_FIRST_PARTY', date '2024-01-01' + (i % 700), \
                (i % 1000) / 10.0, (ARRAY['default', 'shots=5', 'shots=0'])[i % 3 + 1], \
                decode(repeat('0a', 300), 'hex'), 'e', now(), now() \
           FROM generate_series(1, 40000) i",
    )
    .execute(&mut conn)
    .await
    .expect("results are stored");
    // Their 200 releases, a third with open weights (the access filter's
    // column, migration 17), written as this release writes them (its
    // `typed_etag`, so that the trigger for older replicas leaves them).
    sqlx::raw_sql(
        "INSERT INTO resources (name, kind, model, weights, data, etag, typed_etag, create_time, update_time) \
         SELECT 'models/m' || (i % 20) || '/releases/r' || i, 'release', 'models/m' || (i % 20), \
                CASE WHEN i % 3 = 0 THEN 'open' ELSE 'closed' END, '\\x'::bytea, 'e', 'e', now(), now() \
           FROM generate_series(0, 199) i",
    )
    .execute(&mut conn)
    .await
    .expect("releases are stored");
    for statement in [
        "VACUUM ANALYZE resources",
        "SET plan_cache_mode = force_custom_plan",
    ] {
        sqlx::raw_sql(statement)
            .execute(&mut conn)
            .await
            .expect("prepared");
    }

    let filters = [
        ("no option", ResultFilter::default(), vec![]),
        (
            "as of a date",
            ResultFilter {
                as_of: chrono::NaiveDate::from_ymd_opt(2024, 6, 1),
                ..Default::default()
            },
            vec!["'2024-06-01'"],
        ),
        (
            "disputed included",
            ResultFilter {
                include_disputed: true,
                ..Default::default()
            },
            vec![],
        ),
        (
            "open weights only",
            ResultFilter {
                weights: Some("open"),
                ..Default::default()
            },
            vec!["'open'"],
        ),
        (
            "one evaluator relation",
            ResultFilter {
                relation: Some("EVALUATOR_RELATION_FIRST_PARTY"),
                ..Default::default()
            },
            vec!["'EVALUATOR_RELATION_FIRST_PARTY'"],
        ),
    ];
    for (option, filter, filter_args) in &filters {
        for lower_is_better in [false, true] {
            let mut args = vec!["'benchmarks/b1'"];
            args.extend(filter_args.iter().copied());
            if lower_is_better {
                // The lowest scores are read first, with the same values.
                args = args.repeat(2);
            }
            let best = best_results_query("benchmarks/b1", filter, lower_is_better);
            let plan = plan(&mut conn, best.sql().as_str(), &args).await;
            let context = format!("{option}, lower is better: {lower_is_better}:\n{plan}");
            assert!(
                plan.contains("Index Only Scan using resources_leaderboard_typed"),
                "not an index-only scan of the leaderboard index: {context}"
            );
            assert!(
                !sorts_a_scan(&plan),
                "the benchmark's results are sorted: {context}"
            );

            // A record progression reads them in date order from its own
            // index, and sorts only the days (storage::progress).
            let mut args = vec!["'benchmarks/b1'"];
            args.extend(filter_args.iter().copied());
            let args = args.repeat(2);
            let records = records_query(&Records {
                benchmark: "benchmarks/b1",
                filter,
                lower_is_better,
                settings_key: None,
            });
            let records = self::plan(&mut conn, records.sql().as_str(), &args).await;
            let context =
                format!("records, {option}, lower is better: {lower_is_better}:\n{records}");
            assert!(
                records.contains("Index Only Scan using resources_records"),
                "not an index-only scan of the records index: {context}"
            );
            assert!(
                !sorts_a_scan(&records),
                "the benchmark's results are sorted: {context}"
            );
        }
    }
}

/// Whether a sort in `plan` takes its rows straight from a scan of
/// `resources` (a sort of what the scan kept, not of a few rows derived
/// from it).
fn sorts_a_scan(plan: &str) -> bool {
    let lines: Vec<&str> = plan.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        line.contains("Sort  (")
            && lines[i + 1..]
                .iter()
                .find(|l| l.trim_start().starts_with("->"))
                .is_some_and(|child| child.contains("Scan") && child.contains(" resources"))
    })
}
