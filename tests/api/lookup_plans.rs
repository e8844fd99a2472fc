//! Every statement that reads rows by a set of keys probes an index per
//! key under a prepared statement's generic plan, whether that plan was
//! built while the tables were empty (a fresh database) or full.
//! `key = ANY($1)`, which it replaces, scans the whole table under a
//! generic plan built on an empty table; the control below shows that this
//! test sees it.

use frontierwatch_server::storage::lookups;

use crate::harness::TestServer;
use crate::list_plans::plan;

/// The statements whose plan scans a table, with that plan.
async fn scanning(conn: &mut sqlx::PgConnection) -> Vec<String> {
    let mut scanning = Vec::new();
    for (name, sql, args) in lookups::all() {
        let plan = plan(conn, sql, &args).await;
        if plan.contains("Seq Scan") {
            scanning.push(format!("{name}:\n{plan}"));
        }
    }
    scanning
}

#[tokio::test]
async fn lookups_by_key_probe_an_index_under_generic_plans_on_empty_and_full_tables() {
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();

    // The control: on the empty table, `= ANY` scans.
    let naive = plan(
        &mut conn,
        "SELECT name, kind, data FROM resources WHERE name = ANY($1) FOR UPDATE",
        &["'{organizations/a}'"],
    )
    .await;
    assert!(naive.contains("Seq Scan"), "{naive}");

    let empty = scanning(&mut conn).await;
    assert!(empty.is_empty(), "on empty tables:\n{}", empty.join("\n"));

    sqlx::raw_sql(
        "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
         SELECT 'organizations/o' || i, 'organization', '\\x', 'e', now(), now() \
           FROM generate_series(1, 20000) i; \
         INSERT INTO resource_refs (from_name, to_name, field) \
         SELECT 'organizations/o' || i, 'organizations/o' || (i + 1), 'parent' \
           FROM generate_series(1, 19999) i; \
         INSERT INTO resource_claims (name, claimant, authority, data) \
         SELECT 'organizations/o' || i, 'sources/s', 2, '\\x' \
           FROM generate_series(1, 20000) i; \
         INSERT INTO request_ids (request_id, method, resource_name, response) \
         SELECT gen_random_uuid(), 'organization', 'organizations/o' || i, '\\x' \
           FROM generate_series(1, 20000) i",
    )
    .execute(&mut *conn)
    .await
    .expect("rows are stored");
    let full = scanning(&mut conn).await;
    assert!(full.is_empty(), "on full tables:\n{}", full.join("\n"));
}
