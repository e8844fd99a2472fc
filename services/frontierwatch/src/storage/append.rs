//! A write's transaction and its change records: begun (timing the wait
//! for a connection), who made the write ([`Actor`]), its change records
//! appended in one statement as the last of the transaction, and the
//! commit.

use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::error::{Operation, map_db_error};
use crate::domain::{Index, Kind, Resource};
use crate::error::ApiError;
use crate::metrics::Timer;

/// Begins a writing transaction, timing the wait for its connection.
pub(super) async fn begin_write(
    pool: &PgPool,
    name: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let _timer = Timer::acquire("main");
    pool.begin()
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))
}

/// Begins a writing transaction whose prepared statements run their
/// generic plans, timing the wait for its connection.
///
/// For a statement that binds arrays, PostgreSQL's plan cache finds a
/// custom plan (costed for the arrays' actual lengths) cheaper than the
/// generic one (costed for guessed lengths), and so plans every execution
/// anew: under load, a tenth of its CPU. Only for transactions whose every
/// statement is served by an index under its generic plan, whatever the
/// table's size when that plan was built (primary keys, `lookups`).
pub(super) async fn begin_generic_write(
    pool: &PgPool,
    name: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let _timer = Timer::acquire("main");
    pool.begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))
}

/// Who makes a write: the name of the token whose call it serves, if any.
/// Passed down with every write and recorded on its change records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor(Option<String>);

impl Actor {
    /// A call authenticated by the token `name`.
    pub fn token(name: impl Into<String>) -> Self {
        Self(Some(name.into()))
    }

    /// A write of the service itself, or of a call that no token names.
    pub fn none() -> Self {
        Self(None)
    }

    fn name(&self) -> Option<String> {
        self.0.clone()
    }
}

/// The kinds of change the log records.
#[derive(Debug, Clone, Copy)]
pub(super) enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// A change record waiting to be appended.
pub(super) struct PendingChange {
    name: String,
    type_name: String,
    kind: ChangeKind,
    resource: Vec<u8>,
    organizations: Vec<String>,
    model: Option<String>,
    benchmark: Option<String>,
    /// The token whose call made the change.
    actor: Option<String>,
    /// The source an imported create or merge came from.
    claimant: Option<String>,
    /// An update by a person that settles what sources state.
    settled: bool,
}

impl PendingChange {
    /// The record in a line, for tests.
    #[cfg(test)]
    pub(super) fn describe(&self) -> String {
        format!("{} {} by {:?}", self.kind.as_str(), self.name, self.actor)
    }

    /// A change record from its parts: what `of` and `indexed` compute,
    /// or a change of something that is not a stored resource (an alert).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn raw(
        name: String,
        type_name: String,
        kind: ChangeKind,
        resource: Vec<u8>,
        organizations: Vec<String>,
        model: Option<String>,
        benchmark: Option<String>,
        actor: &Actor,
    ) -> Self {
        Self {
            name,
            type_name,
            kind,
            resource,
            organizations,
            model,
            benchmark,
            actor: actor.name(),
            claimant: None,
            settled: false,
        }
    }

    /// The name of the resource that changed.
    pub(super) fn resource_name(&self) -> &str {
        &self.name
    }

    /// Marks the change as coming from the source `claimant` (an import).
    pub(super) fn claimed_by(&mut self, claimant: &str) {
        self.claimant = Some(claimant.to_owned());
    }

    /// Marks the change as a person's settlement of what sources state.
    pub(super) fn settles(&mut self) {
        self.settled = true;
    }

    /// Why the resource changed, as its revision says (`revisions.reason`).
    fn reason(&self) -> &'static str {
        match (self.kind, &self.claimant, self.settled) {
            (ChangeKind::Created, _, _) => "created",
            (ChangeKind::Deleted, _, _) => "deleted",
            (ChangeKind::Updated, Some(_), _) => "merged",
            (ChangeKind::Updated, None, true) => "settled",
            (ChangeKind::Updated, None, false) => "updated",
        }
    }

    pub(super) fn of<T: Resource>(resource: &T, kind: ChangeKind, actor: &Actor) -> Self {
        Self::indexed::<T>(
            resource.name(),
            kind,
            resource.encode_to_vec(),
            resource.index(),
            actor,
        )
    }

    /// The change record of the resource `name` of kind `T`, whose
    /// encoding and index columns are computed already.
    pub(super) fn indexed<T: Resource>(
        name: &str,
        kind: ChangeKind,
        resource: Vec<u8>,
        index: Index,
        actor: &Actor,
    ) -> Self {
        // What watchers filter on: the resource's organizations (including
        // the developers of its model line), its model line and its benchmark.
        let mut organizations = index.organizations();
        let mut model = index.model;
        let mut benchmark = index.benchmark;
        match T::KIND {
            Kind::Organization => organizations.push(name.to_owned()),
            Kind::Model => model = Some(name.to_owned()),
            Kind::Benchmark => benchmark = Some(name.to_owned()),
            // The watch filters' dimensions are the three kinds above.
            _ => {}
        }
        Self::raw(
            name.to_owned(),
            T::full_name(),
            kind,
            resource,
            organizations,
            model,
            benchmark,
            actor,
        )
    }
}

/// Appends change records in one statement, whatever their number; the
/// caller makes this the last statement of its transaction (the sequence
/// lock is held from here to commit, so for one statement's time).
///
/// A record's organizations include the developers of its model line.
/// They travel as one comma-joined text per record (resource names never
/// contain commas), since PostgreSQL arrays cannot be ragged.
pub(super) async fn append_changes(
    conn: &mut PgConnection,
    changes: &[PendingChange],
) -> Result<i64, ApiError> {
    let Some(first) = changes.first() else {
        return Ok(0);
    };
    // Both statements bind the same arrays, built once.
    let text = |f: fn(&PendingChange) -> &str| -> Vec<&str> { changes.iter().map(f).collect() };
    let optional = |f: fn(&PendingChange) -> Option<&str>| -> Vec<Option<&str>> {
        changes.iter().map(f).collect()
    };
    let names = text(|c| &c.name);
    let types = text(|c| &c.type_name);
    let reasons = text(PendingChange::reason);
    let actors = optional(|c| c.actor.as_deref());
    let claimants = optional(|c| c.claimant.as_deref());
    let models = optional(|c| c.model.as_deref());
    let benchmarks = optional(|c| c.benchmark.as_deref());
    let resources: Vec<&[u8]> = changes.iter().map(|c| c.resource.as_slice()).collect();
    // Each record is also the resource's next revision (migration 16),
    // numbered on from the name's last: inserted first, outside the change
    // log's lock, which the append below takes and holds to commit.
    sqlx::query(
        "INSERT INTO revisions (name, revision, tx, ord, resource_type, reason, actor, \
                                claimant, model, benchmark, resource) \
         SELECT c.name, \
                COALESCE((SELECT max(v.revision) FROM revisions v WHERE v.name = c.name), 0) \
                  + row_number() OVER (PARTITION BY c.name ORDER BY c.ord), \
                pg_current_xact_id(), c.ord, c.type_name, c.reason, c.actor, c.claimant, \
                c.model, c.benchmark, c.resource \
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                       $7::text[], $8::bytea[]) \
                WITH ORDINALITY AS c(name, type_name, reason, actor, claimant, model, \
                                     benchmark, resource, ord)",
    )
    .bind(&names)
    .bind(&types)
    .bind(&reasons)
    .bind(&actors)
    .bind(&claimants)
    .bind(&models)
    .bind(&benchmarks)
    .bind(&resources)
    .execute(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, &first.name))?;
    // The records get consecutive sequences in `ord` order (the lock), so
    // the transaction's first sequence places each revision.
    let (last,): (Option<i64>,) = sqlx::query_as(
        "WITH appended AS (\
         INSERT INTO changes (resource_name, resource_type, change_kind, resource, organizations, \
                              model, benchmark, actor, reason, claimant) \
         SELECT c.name, c.type_name, c.kind, c.resource, \
                COALESCE(string_to_array(NULLIF(c.organizations, ''), ','), '{}') \
                  || COALESCE((SELECT r.developers FROM resources r \
                                WHERE r.name = c.model AND r.kind = 'model'), '{}'), \
                c.model, c.benchmark, c.actor, c.reason, c.claimant \
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], \
                       $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
                WITH ORDINALITY AS c(name, type_name, kind, resource, organizations, \
                                     model, benchmark, actor, reason, claimant, ord) \
          ORDER BY c.ord \
         RETURNING seq, commit_time), \
         committed AS (\
           INSERT INTO revision_commits (tx, first_seq, commit_time) \
           SELECT pg_current_xact_id(), min(seq), min(commit_time) FROM appended) \
         SELECT max(seq) FROM appended",
    )
    .bind(&names)
    .bind(&types)
    .bind(text(|c| c.kind.as_str()))
    .bind(&resources)
    .bind(
        changes
            .iter()
            .map(|c| c.organizations.join(","))
            .collect::<Vec<String>>(),
    )
    .bind(&models)
    .bind(&benchmarks)
    .bind(&actors)
    .bind(&reasons)
    .bind(&claimants)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Write, &first.name))?;
    Ok(last.unwrap_or(0))
}

/// Commits a write whose last change record is `written` (0 for none),
/// and notes that sequence as written by this replica.
pub(super) async fn commit(
    tx: Transaction<'static, Postgres>,
    name: &str,
    written: i64,
) -> Result<(), ApiError> {
    tx.commit()
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))?;
    WRITTEN.fetch_max(written, Ordering::Release);
    Ok(())
}

/// The highest change sequence this process has committed (writes of this
/// replica); a Get served from the read cache waits until the cache has
/// applied it, so every caller reads the writes acknowledged here.
static WRITTEN: AtomicI64 = AtomicI64::new(0);

/// See [`WRITTEN`].
pub fn last_written() -> i64 {
    WRITTEN.load(Ordering::Acquire)
}
