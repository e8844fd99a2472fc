//! The one writer of resource rows: a [`Plan`] (rows inserted and updated
//! with their index columns and references, claims, recorded calls) written
//! in at most three statements whatever its size, the change records
//! appended last, and the commit. What to write is decided elsewhere
//! (`storage::decide`); nothing here checks a rule.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection, Postgres};
use uuid::Uuid;

use super::append::{Actor, ChangeKind, PendingChange};
use super::claims::ClaimRow;
use super::error::{Operation, map_db_error};
use super::timestamp;
use crate::domain::index::{COLUMNS, Legacy, Value};
use crate::domain::{Index, Meta, Resource};
use crate::error::ApiError;

pub(super) fn new_etag() -> String {
    format!("{:016x}", Uuid::new_v4().as_u64_pair().0)
}

pub(super) fn decode<T: Resource>(name: &str, bytes: &[u8]) -> Result<T, ApiError> {
    T::decode(bytes).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!("stored {name} does not decode")))
    })
}

/// Stamps a new resource's output-only metadata; its name is already set.
pub(super) fn stamp_new<T: Resource>(resource: &mut T) {
    let now = timestamp(Utc::now());
    resource.set_meta(Meta {
        name: resource.name().to_owned(),
        create_time: Some(now),
        update_time: Some(now),
        etag: new_etag(),
    });
}

/// The creation time stamped on a new resource.
pub(super) fn now_of<T: Resource>(resource: &T) -> DateTime<Utc> {
    resource
        .create_time()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

/// The stored resource `name` of kind `T`, locked for update, whose etag
/// is `etag` (any, when empty).
pub(super) async fn lock_current<T: Resource>(
    conn: &mut PgConnection,
    name: &str,
    etag: &str,
) -> Result<T, ApiError> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM resources WHERE name = $1 AND kind = $2 FOR UPDATE")
            .bind(name)
            .bind(T::KIND.field())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_db_error(e, Operation::Read, name))?;
    let Some((data,)) = row else {
        return Err(ApiError::NotFound {
            name: name.to_owned(),
        });
    };
    let current: T = decode(name, &data)?;
    if !etag.is_empty() && etag != current.etag() {
        return Err(ApiError::EtagMismatch {
            name: name.to_owned(),
        });
    }
    Ok(current)
}

/// The columns of `resources` a write sets from its rows' arrays, in the
/// order [`bind_rows`] binds them: the row's own, the index columns
/// (`domain::index::COLUMNS`), then the previous release's (see
/// `Index::legacy`). Name, SQL type, and whether it is a `text[]` (which
/// travels comma-joined, since PostgreSQL arrays cannot be ragged; resource
/// names hold no commas).
static ROW_COLUMNS: LazyLock<Vec<(&'static str, &'static str, bool)>> = LazyLock::new(|| {
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
static UPDATE_ROWS: LazyLock<String> = LazyLock::new(|| {
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
static INSERT_ALL: LazyLock<String> = LazyLock::new(|| {
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
struct Row {
    name: String,
    kind: &'static str,
    data: Vec<u8>,
    etag: String,
    time: DateTime<Utc>,
    index: Index,
    legacy: Legacy,
    /// To, field.
    refs: Vec<(String, &'static str)>,
}

impl Row {
    fn of<T: Resource>(resource: &T, time: DateTime<Utc>) -> Self {
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

/// What a batch's later writes see of a resource an earlier one wrote.
pub(super) struct Held {
    /// Its encoding.
    pub data: Vec<u8>,
    /// A result's benchmark and score.
    pub score: Option<(String, f64)>,
}

/// Everything a batch of decided writes stores. A name written twice keeps
/// one row, its last state, and both change records; a claimant's claim
/// stated twice keeps the last.
#[derive(Default)]
pub(super) struct Plan {
    inserts: Vec<Row>,
    updates: Vec<Row>,
    /// Where each name's row is: inserted (true) or updated, and at which
    /// position.
    rows: HashMap<String, (bool, usize)>,
    /// Claims: (resource, claimant) → position in `claims`.
    claim_keys: HashMap<(String, String), usize>,
    claims: Vec<(String, ClaimRow)>,
    /// Request ids: id, method, resource, response.
    request_ids: Vec<(Uuid, &'static str, String, Vec<u8>)>,
    changes: Vec<PendingChange>,
}

impl Plan {
    /// A new resource (stamped): its row, references and change record.
    /// Returns what the writes decided after it see of it.
    pub(super) fn insert<T: Resource>(&mut self, resource: &T, actor: &Actor) -> Held {
        self.add::<T>(
            Row::of(resource, now_of(resource)),
            true,
            ChangeKind::Created,
            actor,
        )
    }

    /// The new state of a stored resource (or of one this plan inserts).
    /// Returns what the writes decided after it see of it.
    pub(super) fn update<T: Resource>(&mut self, resource: &T, actor: &Actor) -> Held {
        self.add::<T>(
            Row::of(resource, Utc::now()),
            false,
            ChangeKind::Updated,
            actor,
        )
    }

    /// A row and its change record, from one encoding and one index.
    fn add<T: Resource>(
        &mut self,
        row: Row,
        insert: bool,
        kind: ChangeKind,
        actor: &Actor,
    ) -> Held {
        let held = Held {
            data: row.data.clone(),
            score: row.index.benchmark.clone().zip(row.index.score),
        };
        self.changes.push(PendingChange::indexed::<T>(
            &row.name,
            kind,
            row.data.clone(),
            row.index.clone(),
            actor,
        ));
        self.row(row, insert);
        held
    }

    fn row(&mut self, row: Row, insert: bool) {
        match self.rows.get(&row.name) {
            Some(&(true, at)) => {
                // Inserted by this plan: the insert carries the last state.
                let time = self.inserts[at].time;
                self.inserts[at] = Row { time, ..row };
            }
            Some(&(false, at)) => self.updates[at] = row,
            None => {
                let rows = if insert {
                    &mut self.inserts
                } else {
                    &mut self.updates
                };
                self.rows.insert(row.name.clone(), (insert, rows.len()));
                rows.push(row);
            }
        }
    }

    /// A claim about `name`, replacing its claimant's earlier one.
    pub(super) fn claim(&mut self, name: &str, row: ClaimRow) {
        let key = (name.to_owned(), row.0.clone());
        match self.claim_keys.get(&key) {
            Some(&at) => self.claims[at].1 = row,
            None => {
                self.claim_keys.insert(key, self.claims.len());
                self.claims.push((name.to_owned(), row));
            }
        }
    }

    /// A create's response, recorded under its request id.
    pub(super) fn request_id(
        &mut self,
        id: Uuid,
        method: &'static str,
        name: &str,
        response: Vec<u8>,
    ) {
        self.request_ids
            .push((id, method, name.to_owned(), response));
    }

    /// The change records, in the order the writes were decided.
    pub(super) fn take_changes(&mut self) -> Vec<PendingChange> {
        std::mem::take(&mut self.changes)
    }

    /// Writes every row, reference, claim and recorded call; the change
    /// records are left for the caller to append last. Returns the names
    /// whose rows or request ids a concurrent writer took meanwhile, if any:
    /// then what was written is not what was decided, and the transaction
    /// (or savepoint) must be dropped.
    pub(super) async fn write(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let first = self
            .inserts
            .first()
            .or(self.updates.first())
            .map_or("a batch", |r| r.name.as_str());
        let write = |e| map_db_error(e, Operation::Write, first);
        if !self.updates.is_empty() {
            let _: Vec<(String,)> = bind_rows(
                sqlx::query_as(AssertSqlSafe(UPDATE_ROWS.as_str())),
                &self.updates,
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(write)?;
            let replaced: Vec<&str> = self.updates.iter().map(|r| r.name.as_str()).collect();
            sqlx::query("DELETE FROM resource_refs WHERE from_name = ANY($1)")
                .bind(replaced)
                .execute(&mut *conn)
                .await
                .map_err(write)?;
        }
        let refs: Vec<(&str, &str, &str)> = self
            .inserts
            .iter()
            .chain(&self.updates)
            .flat_map(|r| {
                r.refs
                    .iter()
                    .map(|(to, f)| (r.name.as_str(), to.as_str(), *f))
            })
            .collect();
        if self.inserts.is_empty()
            && refs.is_empty()
            && self.claims.is_empty()
            && self.request_ids.is_empty()
        {
            return Ok(None);
        }
        let (from, to, field): (Vec<&str>, Vec<&str>, Vec<&str>) = refs.into_iter().collect();
        let claim_names: Vec<&str> = self.claims.iter().map(|c| c.0.as_str()).collect();
        let claimants: Vec<&str> = self.claims.iter().map(|c| c.1.0.as_str()).collect();
        let authorities: Vec<i16> = self.claims.iter().map(|c| c.1.1).collect();
        // Fields travel comma-joined (field names hold no commas).
        let fields: Vec<Option<String>> = self
            .claims
            .iter()
            .map(|c| c.1.2.as_ref().map(|f| f.join(",")))
            .collect();
        let data: Vec<&[u8]> = self.claims.iter().map(|c| c.1.3.as_slice()).collect();
        let ids: Vec<Uuid> = self.request_ids.iter().map(|r| r.0).collect();
        let methods: Vec<&str> = self.request_ids.iter().map(|r| r.1).collect();
        let names: Vec<&str> = self.request_ids.iter().map(|r| r.2.as_str()).collect();
        let responses: Vec<&[u8]> = self.request_ids.iter().map(|r| r.3.as_slice()).collect();
        let (inserted, recorded): (Vec<String>, Vec<Uuid>) = bind_rows(
            sqlx::query_as(AssertSqlSafe(INSERT_ALL.as_str())),
            &self.inserts,
        )
        .bind(from)
        .bind(to)
        .bind(field)
        .bind(claim_names)
        .bind(claimants)
        .bind(authorities)
        .bind(fields)
        .bind(data)
        .bind(ids)
        .bind(methods)
        .bind(names)
        .bind(responses)
        .fetch_one(&mut *conn)
        .await
        .map_err(write)?;
        let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
        let recorded: std::collections::HashSet<Uuid> = recorded.into_iter().collect();
        let taken: Vec<String> = self
            .inserts
            .iter()
            .filter(|r| !inserted.contains(&r.name))
            .map(|r| r.name.clone())
            .chain(
                self.request_ids
                    .iter()
                    .filter(|r| !recorded.contains(&r.0))
                    .map(|r| r.2.clone()),
            )
            .collect();
        Ok((!taken.is_empty()).then_some(taken))
    }
}

/// Binds rows as the arrays of [`ROW_COLUMNS`], in its order.
fn bind_rows<'q, O>(
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
