//! The statements that write resource rows, built from the list of
//! their columns (`domain::index::COLUMNS` and the row's own), and the
//! binding of a plan's rows to their arrays (`storage::rows`).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Postgres;

use crate::domain::index::{COLUMNS, Legacy, Value};
use crate::domain::{Index, Resource};

/// The columns of `resources` a write sets from its rows' arrays, in the
/// order [`bind_rows`] binds them: the row's own, the index columns
/// (`domain::index::COLUMNS`), then the previous release's (see
/// `Index::legacy`). Name, SQL type, and whether it is a `text[]` (which
/// travels comma-joined, since PostgreSQL arrays cannot be ragged; resource
/// names hold no commas).
pub(super) static ROW_COLUMNS: LazyLock<Vec<(&'static str, &'static str, bool)>> =
    LazyLock::new(|| {
        let own = [
            ("name", "text", false),
            ("kind", "text", false),
            ("data", "bytea", false),
            ("etag", "text", false),
            ("time", "timestamptz", false),
        ];
        let index = COLUMNS.iter().map(|c| {
            (
                c.name,
                c.value.sql_type(),
                matches!(c.value, Value::Texts(_)),
            )
        });
        let legacy = [
            ("organizations", "text", true),
            ("category", "text", false),
            ("status", "text", false),
            ("kind_detail", "text", false),
            ("event_date", "date", false),
        ];
        own.into_iter().chain(index).chain(legacy).collect()
    });

/// The columns set from the arrays, but the row's own.
fn set_columns() -> impl Iterator<Item = &'static (&'static str, &'static str, bool)> {
    ROW_COLUMNS.iter().skip(5)
}

/// The value stored in a column, from the unnested row `u`.
fn column_value(&(name, _, array): &(&str, &str, bool)) -> String {
    match array {
        true => format!("COALESCE(string_to_array(NULLIF(u.{name}, ''), ','), '{{}}')"),
        false => format!("u.{name}"),
    }
}

/// `UNNEST(...) AS u(...)` over the row arrays, `$1` on.
fn unnest_rows(ordinality: bool) -> String {
    let arrays: Vec<String> = ROW_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, ty, _))| format!("${}::{ty}[]", i + 1))
        .collect();
    let mut names: Vec<&str> = ROW_COLUMNS.iter().map(|(name, _, _)| *name).collect();
    if ordinality {
        names.push("ord");
    }
    format!(
        "UNNEST({}){} AS u({})",
        arrays.join(", "),
        if ordinality { " WITH ORDINALITY" } else { "" },
        names.join(", ")
    )
}

/// Updates the rows the arrays describe. `typed_etag` tells the trigger
/// of migration 15 that this writer set the typed columns itself.
pub(super) static UPDATE_ROWS: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = set_columns()
        .map(|c| format!("{} = {}", c.0, column_value(c)))
        .collect();
    format!(
        "UPDATE resources r SET data = u.data, etag = u.etag, typed_etag = u.etag,                 update_time = u.time, {}            FROM {} WHERE r.name = u.name RETURNING r.name",
        set.join(", "),
        unnest_rows(false)
    )
});

/// Inserts the rows the arrays describe, and the references, claims and
/// recorded calls the parameters after them: one statement, one round
/// trip (an empty array inserts nothing). Returns the names inserted and
/// the request ids recorded: what is missing was taken meanwhile by a
/// concurrent writer.
pub(super) static INSERT_ALL: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = set_columns().map(|c| c.0).collect();
    let values: Vec<String> = set_columns().map(column_value).collect();
    let n = ROW_COLUMNS.len();
    let p = |i: usize| format!("${}", n + i);
    format!(
        "WITH inserted AS (\
           INSERT INTO resources (name, kind, data, etag, typed_etag, create_time, update_time, {}) \
           SELECT u.name, u.kind, u.data, u.etag, u.etag, u.time, u.time, {} \
             FROM {} ORDER BY u.ord \
           ON CONFLICT (name) DO NOTHING RETURNING name), \
         refs AS (\
           INSERT INTO resource_refs (from_name, to_name, field) \
           SELECT * FROM UNNEST({}::text[], {}::text[], {}::text[]) \
           ON CONFLICT DO NOTHING), \
         claims AS (\
           INSERT INTO resource_claims (name, claimant, authority, fields, data) \
           SELECT n, c, a, string_to_array(f, ','), d \
             FROM UNNEST({}::text[], {}::text[], {}::int2[], {}::text[], {}::bytea[]) \
                  AS u(n, c, a, f, d) \
           ON CONFLICT (name, claimant) DO UPDATE \
           SET authority = EXCLUDED.authority, fields = EXCLUDED.fields, data = EXCLUDED.data), \
         recorded AS (\
           INSERT INTO request_ids (request_id, method, resource_name, response) \
           SELECT * FROM UNNEST({}::uuid[], {}::text[], {}::text[], {}::bytea[]) \
           ON CONFLICT (request_id) DO NOTHING RETURNING request_id) \
         SELECT ARRAY(SELECT name FROM inserted), ARRAY(SELECT request_id FROM recorded)",
        columns.join(", "),
        values.join(", "),
        unnest_rows(true),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        p(11),
        p(12),
    )
});

/// A row of `resources` to insert or update, with its references.
pub(super) struct Row {
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) data: Vec<u8>,
    pub(super) etag: String,
    pub(super) time: DateTime<Utc>,
    pub(super) index: Index,
    pub(super) legacy: Legacy,
    /// To, field.
    pub(super) refs: Vec<(String, &'static str)>,
}

impl Row {
    pub(super) fn of<T: Resource>(resource: &T, time: DateTime<Utc>) -> Self {
        let mut refs = resource.refs();
        refs.dedup_by(|a, b| a.field == b.field && a.name == b.name);
        let index = resource.index();
        Self {
            name: resource.name().to_owned(),
            kind: T::KIND.field(),
            data: resource.encode_to_vec(),
            etag: resource.etag().to_owned(),
            time,
            legacy: index.legacy(),
            index,
            refs: refs.into_iter().map(|r| (r.name, r.field)).collect(),
        }
    }
}

/// Binds rows as the arrays of [`ROW_COLUMNS`], in its order.
pub(super) fn bind_rows<'q, O>(
    query: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    rows: &'q [Row],
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    macro_rules! column {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    let mut query = query
        .bind(column!(|r| r.name.as_str()))
        .bind(column!(|r| r.kind))
        .bind(column!(|r| r.data.as_slice()))
        .bind(column!(|r| r.etag.as_str()))
        .bind(column!(|r| r.time));
    for c in COLUMNS {
        query = match c.value {
            Value::Text(get) => query.bind(column!(|r| get(&r.index))),
            Value::Texts(get) => query.bind(column!(|r| get(&r.index).join(","))),
            Value::Date(get) => query.bind(column!(|r| get(&r.index))),
            Value::Float(get) => query.bind(column!(|r| get(&r.index))),
            Value::Time(get) => query.bind(column!(|r| get(&r.index))),
        };
    }
    query
        .bind(column!(|r| r.legacy.organizations.join(",")))
        .bind(column!(|r| r.legacy.category.as_deref()))
        .bind(column!(|r| r.legacy.status.as_deref()))
        .bind(column!(|r| r.legacy.kind_detail.as_deref()))
        .bind(column!(|r| r.legacy.event_date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_set_every_column_from_its_array() {
        for statement in [UPDATE_ROWS.as_str(), INSERT_ALL.as_str()] {
            for (column, _, _) in set_columns() {
                assert!(
                    statement.contains(&format!("u.{column}")),
                    "{column} in {statement}"
                );
            }
        }
        let n = ROW_COLUMNS.len();
        assert!(INSERT_ALL.contains(&format!("${n}::date[]) WITH ORDINALITY")));
        assert!(INSERT_ALL.contains(&format!("${}::bytea[])", n + 12)));
    }
}
