//! Statements that read the rows of a set of keys (an array parameter).
//!
//! `WHERE key = ANY($1)` says it shortest, but a prepared statement's
//! generic plan for it is costed for a guessed ten keys: while the table is
//! small (a fresh database), a sequential scan is cheaper, and PostgreSQL
//! keeps that plan for the connection until the table is next analyzed. In
//! the meantime every call reads the whole table, and a table that is filled
//! fast (an import, a burst of creates) grows much faster than autovacuum
//! analyzes it. Here each key is looked up by its own index probe, the
//! cheapest plan at every table size, and in key order, so that row locks
//! are taken in one order by every writer. `tests/api/lookup_plans.rs`
//! checks every statement here under a generic plan built on empty tables
//! and on full ones.

use std::sync::LazyLock;

/// `SELECT {columns}` (of `t`) from the rows of `table` whose `key` is
/// among `keys` (an array expression), locked by `lock` (a locking clause,
/// or empty), in key order, each key once.
fn by_keys(columns: &str, table: &str, key: &str, keys: &str, lock: &str) -> String {
    // OFFSET 0 keeps the lookup a subquery of its own, probed once per key,
    // instead of a join the planner may turn into a scan and a hash.
    format!(
        "SELECT {columns} \
           FROM (SELECT DISTINCT unnest({keys}) AS k ORDER BY k) AS keys, \
                LATERAL (SELECT * FROM {table} WHERE {key} = keys.k OFFSET 0 {lock}) AS t"
    )
}

/// What a batch of writes holds, in one round trip: its resources by name
/// ($1), locked for update, as (name, kind, data, NULL); then the calls
/// recorded under its request ids ($2), as (resource name, method,
/// response, request id). The rows locked are the first branch's, which
/// runs first.
pub static RESOURCES_FOR_UPDATE_AND_REQUEST_IDS: LazyLock<String> = LazyLock::new(|| {
    let resources = by_keys(
        "t.name, t.kind, t.data, NULL::uuid",
        "resources",
        "name",
        "$1::text[]",
        "FOR UPDATE",
    );
    let recorded = by_keys(
        "t.resource_name, t.method, t.response, t.request_id",
        "request_ids",
        "request_id",
        "$2::uuid[]",
        "",
    );
    format!("{resources} UNION ALL {recorded}")
});

/// Resources that exist among the names $1, locked against deletion: name.
pub static EXISTING_FOR_KEY_SHARE: LazyLock<String> =
    LazyLock::new(|| by_keys("t.name", "resources", "name", "$1::text[]", "FOR KEY SHARE"));

/// Resources that exist among the names $1 and the names that the
/// resources $2 reference, locked against deletion: name, and the data
/// of the benchmarks among them.
pub static REFERENCED_FOR_KEY_SHARE: LazyLock<String> = LazyLock::new(|| {
    let references = by_keys("t.to_name", "resource_refs", "from_name", "$2::text[]", "");
    by_keys(
        "t.name, CASE WHEN t.kind = 'benchmark' THEN t.data END",
        "resources",
        "name",
        &format!("$1::text[] || ARRAY({references})"),
        "FOR KEY SHARE",
    )
});

/// The claims of the resources $1: name, claimant, authority, fields, data.
pub static CLAIMS: LazyLock<String> = LazyLock::new(|| {
    by_keys(
        "t.name, t.claimant, t.authority, t.fields, t.data",
        "resource_claims",
        "name",
        "$1::text[]",
        "",
    )
});

/// Resources by name ($1): name, data.
pub static RESOURCES: LazyLock<String> =
    LazyLock::new(|| by_keys("t.name, t.data", "resources", "name", "$1::text[]", ""));

/// Releases by name ($1): name, release date.
pub static RELEASE_DATES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE t.kind = 'release'",
        by_keys(
            "t.name, t.release_date",
            "resources",
            "name",
            "$1::text[]",
            ""
        )
    )
});

/// Every statement here, with example arguments (SQL literals), for the
/// plan test.
pub fn all() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let names = "'{organizations/a,organizations/b}'";
    let ids = "'{00000000-0000-4000-8000-000000000001}'";
    vec![
        (
            "RESOURCES_FOR_UPDATE_AND_REQUEST_IDS",
            &RESOURCES_FOR_UPDATE_AND_REQUEST_IDS,
            vec![names, ids],
        ),
        (
            "EXISTING_FOR_KEY_SHARE",
            &EXISTING_FOR_KEY_SHARE,
            vec![names],
        ),
        (
            "REFERENCED_FOR_KEY_SHARE",
            &REFERENCED_FOR_KEY_SHARE,
            vec![names, names],
        ),
        ("CLAIMS", &CLAIMS, vec![names]),
        ("RESOURCES", &RESOURCES, vec![names]),
        ("RELEASE_DATES", &RELEASE_DATES, vec![names]),
    ]
    .into_iter()
    .map(|(name, sql, args)| (name, sql.as_str(), args))
    .collect()
}
