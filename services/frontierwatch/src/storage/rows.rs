//! The one writer of resource rows: a [`Plan`] (rows inserted and updated
//! with their index columns and references, claims, recorded calls) written
//! in at most three statements whatever its size, the change records
//! appended last, and the commit. What to write is decided elsewhere
//! (`storage::decide`); nothing here checks a rule.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::append::{Actor, ChangeKind, PendingChange};
use super::claims::ClaimRow;
use super::error::{Operation, map_db_error};
use super::statements::{INSERT_ALL, Row, UPDATE_ROWS, bind_rows};
use super::timestamp;
use crate::domain::{Meta, Resource};
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

    /// A resource as a revision holds it, into a copy of `resources` (a
    /// temporary table, `Store::known_as_of`): its row alone, without
    /// references or a change record.
    pub(super) fn restore<T: Resource>(&mut self, resource: &T) {
        let mut row = Row::of(resource, now_of(resource));
        row.refs.clear();
        self.inserts.push(row);
    }

    /// The last change this plan records of `name`, to say more of why it
    /// happened (`PendingChange::claimed_by`, `settles`).
    pub(super) fn last_change_of(&mut self, name: &str) -> Option<&mut PendingChange> {
        self.changes
            .iter_mut()
            .rev()
            .find(|c| c.resource_name() == name)
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
