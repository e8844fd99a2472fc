//! The bulk load the analytics and market benches share: organizations,
//! model lines, releases, benchmarks and results written straight into
//! the tables (the write path is measured elsewhere).

use frontierwatch_proto::v1::*;
use prost::Message as _;

/// Loads `results` results across `releases` releases (in model lines of
/// ten) and `benchmarks` benchmarks (every tenth lower-is-better), a third
/// of the releases with open weights; then VACUUM ANALYZE.
pub async fn load(pool: &sqlx::PgPool, results: i64, releases: i64, benchmarks: i64) {
    // Bulk load straight into the tables (the write path is measured
    // elsewhere): organizations, model lines, releases, benchmarks, results.
    // Result rows share one encoded template; the score, settings and
    // dates that queries use are in the indexed columns.
    let template = BenchmarkResult {
        score: 50.0,
        raw_value: "50%".into(),
        verification: VerificationStatus::SelfReported as i32,
        provenance: Some(Provenance {
            sources: vec![Source {
                uri: "https://example.com/result".into(),
                publisher: "Bench".into(),
                kind: SourceKind::Paper as i32,
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let benchmark = |i: i64| {
        Benchmark {
            name: format!("benchmarks/b{i}"),
            display_name: format!("Benchmark {i}"),
            scale: ScoreScale::Percent as i32,
            // Every tenth benchmark ranks lower scores first (an error
            // rate, a cost): its leaderboard is read another way.
            direction: if i % 10 == 0 {
                ScoreDirection::LowerIsBetter
            } else {
                ScoreDirection::HigherIsBetter
            } as i32,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let statements: Vec<String> = vec![
            "INSERT INTO resources (name, kind, organizations, data, etag, create_time, update_time) \
                  SELECT 'organizations/o' || i, 'organization', '{}', '\\x'::bytea, 'e', now(), now() FROM generate_series(1, 100) i".to_string(),
            format!(
                "INSERT INTO resources (name, kind, organizations, data, etag, create_time, update_time) \
                  SELECT 'models/m' || i, 'model', ARRAY['organizations/o' || (i % 100 + 1)], '\\x'::bytea, 'e', now(), now() FROM generate_series(1, {})  i",
                releases / 10
            ),
            // A release's stored resource holds its name (field 1: tag
            // 0x0a, a one-byte length, the bytes), which model line
            // quality reads.
            format!(
                "INSERT INTO resources (name, kind, model, event_date, data, etag, create_time, update_time) \
                  SELECT n, 'release', 'models/m' || (i % {} + 1), date '2024-01-01' + (i % 700), \
                         '\\x0a'::bytea || set_byte('\\x00'::bytea, 0, length(n)) || convert_to(n, 'UTF8'), \
                         'e', now(), now() \
                  FROM (SELECT i, 'models/m' || (i % {} + 1) || '/releases/r' || i AS n \
                        FROM generate_series(1, {releases}) i) s",
                releases / 10,
                releases / 10
            ),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .expect("bulk load");
    }
    for i in 1..=benchmarks {
        sqlx::query("INSERT INTO resources (name, kind, data, etag, create_time, update_time) VALUES ($1, 'benchmark', $2, 'e', now(), now())")
            .bind(format!("benchmarks/b{i}"))
            .bind(benchmark(i))
            .execute(pool)
            .await
            .expect("benchmark");
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO resources (name, kind, release, model, benchmark, organizations, status, relation, event_date, \
                                score, settings_key, data, etag, create_time, update_time) \
         SELECT 'benchmarkResults/x' || i, 'benchmark_result', \
                'models/m' || ((i % {releases} + 1) % {m} + 1) || '/releases/r' || (i % {releases} + 1), \
                'models/m' || ((i % {releases} + 1) % {m} + 1), \
                'benchmarks/b' || (i % {benchmarks} + 1), '{{}}', 'VERIFICATION_STATUS_SELF_REPORTED', \
                'EVALUATOR_RELATION_FIRST_PARTY', date '2024-01-01' + ((i / {benchmarks}) % 700), \
                round((random() * 100)::numeric, 1)::float8, \
                (ARRAY['default', 'shots=5;cot=-;tools=-;pass@k=-;harness=-;judge=-', 'shots=0;cot=true;tools=-;pass@k=-;harness=-;judge=-'])[i % 3 + 1], \
                $1, 'e', now(), now() \
         FROM generate_series(1, {results}) i",
        m = releases / 10
    )))
    .bind(&template)
    .execute(pool)
    .await
    .expect("results");
    // A third of the releases have open weights, the rest are
    // proprietary (the column the access filters read, migration 17).
    sqlx::query(
        "UPDATE resources SET weights = CASE WHEN abs(hashtext(name)) % 3 = 0 \
         THEN 'open' ELSE 'closed' END WHERE kind = 'release'",
    )
    .execute(pool)
    .await
    .expect("weights");
    sqlx::query("VACUUM ANALYZE resources")
        .execute(pool)
        .await
        .expect("analyze");
}
