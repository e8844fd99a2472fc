//! Set-based writes of many resources in one transaction, for
//! `ImportResources` and `BatchCreateBenchmarkResults`.
//!
//! Written item by item, each item costs a savepoint and four to seven
//! statements (its row locked, its references and its benchmark's scale
//! checked, its row, references and claims written). Here what the database
//! holds for the whole batch is read in at most three statements up front
//! (the batch's own names locked for update, with the calls recorded under
//! its request ids; the names it references locked against deletion; the
//! claims of the stored ones), every item is decided in memory in order,
//! exactly as the item-by-item path decides it (each item sees the items
//! before it), and everything is written in at most three statements
//! whatever the number of items (rows updated, references replaced, and
//! one statement for every new row, reference, claim and recorded call).
//!
//! What memory alone cannot decide sends an import back to the
//! item-by-item path, in a fresh transaction: a name twice in one call, a
//! benchmark whose scale changes (its results must be counted), a name a
//! concurrent writer took meanwhile, or a row the schema refuses.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use frontierwatch_proto::v1::Benchmark;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::claims::{self as stored_claims, ClaimRow};
use super::error::{Operation, map_db_error};
use super::group::{Answer, SetBased};
use super::lookups;
use super::resources::{
    ChangeKind, Imported, PendingChange, append_changes, commit, decode, merge_claim, now_of,
    stamp_new,
};
use crate::domain::claims::{self, Authority, Claim};
use crate::domain::{Ref, Resource, Scale};
use crate::error::ApiError;

/// A stored claim with the name it is about: `ClaimRow` read for many names at once.
type NamedClaimRow = (String, String, i16, Option<Vec<String>>, Vec<u8>);

/// The names a batch writes and references, gathered before it is read.
#[derive(Debug, Default)]
pub struct Keys {
    names: Vec<String>,
    seen: HashSet<String>,
    referenced: HashSet<String>,
    /// A name appears twice: the import goes item by item.
    repeated: bool,
}

impl Keys {
    /// Adds one item: its name, what it references, its benchmark.
    pub fn add<T: Resource>(&mut self, resource: &T) {
        let name = resource.name().to_owned();
        if !self.seen.insert(name.clone()) {
            self.repeated = true;
        }
        self.names.push(name);
        self.referenced
            .extend(resource.refs().into_iter().map(|r| r.name));
        if let Some(claim) = resource.score_claim() {
            self.referenced.insert(claim.benchmark);
        }
    }

    /// Whether a set-based write can decide this batch.
    pub fn set_based(&self) -> bool {
        !self.repeated
    }
}

/// What the database holds for a batch, and what the batch has decided so
/// far.
struct Snapshot {
    /// Stored resources among the batch's names (locked for update): kind
    /// and encoded message.
    stored: HashMap<String, (String, Vec<u8>)>,
    /// Names that exist: the referenced ones found (locked against
    /// deletion), then the ones the batch creates.
    exists: HashSet<String>,
    /// Benchmarks' scales, with their names: stored referenced ones, then
    /// the ones the batch creates.
    scales: HashMap<String, Scale>,
    /// The stored claims of stored resources.
    claims: HashMap<String, Vec<ClaimRow>>,
    /// The names looked up: what the items reference. A merge may also
    /// reference what other sources state; those references of stored
    /// resources are looked up too, but a name outside both is unknown here.
    queried: HashSet<String>,
}

impl Snapshot {
    /// Reads what the database holds for the batch `keys` describes, and
    /// the calls recorded under the request ids `ids`.
    async fn read(
        conn: &mut PgConnection,
        keys: &Keys,
        ids: &[Uuid],
    ) -> Result<(Self, HashMap<Uuid, Recorded>), ApiError> {
        let read = |e| map_db_error(e, Operation::Read, "a batch");
        let rows: Vec<(String, String, Vec<u8>, Option<Uuid>)> = sqlx::query_as(AssertSqlSafe(
            lookups::RESOURCES_FOR_UPDATE_AND_REQUEST_IDS.as_str(),
        ))
        .bind(&keys.names)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?;
        let mut stored = HashMap::new();
        let mut recorded = HashMap::new();
        for (name, kind, data, request_id) in rows {
            // A recorded call's row holds its method where a resource's
            // holds its kind.
            if let Some(id) = request_id {
                recorded.insert(id, (kind, name, data));
            } else {
                stored.insert(name, (kind, data));
            }
        }
        let referenced: Vec<&String> = keys.referenced.iter().collect();
        let stored_names: Vec<&String> = stored.keys().collect();
        let found: Vec<(String, Option<Vec<u8>>)> =
            if referenced.is_empty() && stored_names.is_empty() {
                Vec::new()
            } else {
                sqlx::query_as(AssertSqlSafe(lookups::REFERENCED_FOR_KEY_SHARE.as_str()))
                    .bind(referenced)
                    .bind(&stored_names)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(read)?
            };
        let mut exists = HashSet::with_capacity(found.len() + keys.names.len());
        let mut scales = HashMap::new();
        for (name, benchmark) in found {
            if let Some(data) = benchmark {
                let benchmark: Benchmark = decode(&name, &data)?;
                scales.insert(name.clone(), Scale::of(benchmark.scale));
            }
            exists.insert(name);
        }
        let mut claims: HashMap<String, Vec<ClaimRow>> = HashMap::new();
        if !stored_names.is_empty() {
            let rows: Vec<NamedClaimRow> = sqlx::query_as(AssertSqlSafe(lookups::CLAIMS.as_str()))
                .bind(stored_names)
                .fetch_all(&mut *conn)
                .await
                .map_err(read)?;
            for (name, claimant, authority, fields, data) in rows {
                claims
                    .entry(name)
                    .or_default()
                    .push((claimant, authority, fields, data));
            }
        }
        let snapshot = Self {
            stored,
            exists,
            scales,
            claims,
            queried: keys.referenced.clone(),
        };
        Ok((snapshot, recorded))
    }

    /// Whether a name the snapshot does not hold is known to be missing
    /// (looked up, and not created by an earlier item).
    fn known_missing(&self, name: &str) -> bool {
        self.queried.contains(name)
    }

    /// `check_score` of the item-by-item path, against the snapshot;
    /// `Ok(false)` when the benchmark is unknown here.
    fn check_score<T: Resource>(&self, resource: &T) -> Result<bool, ApiError> {
        let Some(claim) = resource.score_claim() else {
            return Ok(true);
        };
        let Some(scale) = self.scales.get(&claim.benchmark) else {
            if !self.exists.contains(&claim.benchmark) && !self.known_missing(&claim.benchmark) {
                return Ok(false);
            }
            return Err(ApiError::ReferenceNotFound {
                field: format!("{}.benchmark", T::FIELD),
                name: claim.benchmark,
            });
        };
        claim.check(T::FIELD, scale).map(|()| true)
    }

    /// `check_refs` of the item-by-item path, against the snapshot;
    /// `Ok(false)` when a reference is unknown here.
    fn check_refs<T: Resource>(&self, resource: &T) -> Result<bool, ApiError> {
        match resource
            .refs()
            .into_iter()
            .find(|r| !self.exists.contains(&r.name))
        {
            None => Ok(true),
            Some(missing) if !self.known_missing(&missing.name) => Ok(false),
            Some(missing) if missing.field == "parent" => {
                Err(ApiError::NotFound { name: missing.name })
            }
            Some(missing) => Err(ApiError::ReferenceNotFound {
                field: format!("{}.{}", T::FIELD, missing.field),
                name: missing.name,
            }),
        }
    }

    /// A new resource now exists for the items after it.
    fn created<T: Resource>(&mut self, resource: &T) {
        self.exists.insert(resource.name().to_owned());
        if let Some(scale) = resource.scale() {
            self.scales.insert(resource.name().to_owned(), scale);
        }
    }
}

/// A row of `resources` to insert or update.
struct Row {
    name: String,
    kind: &'static str,
    data: Vec<u8>,
    etag: String,
    time: DateTime<Utc>,
    index: crate::domain::Index,
}

impl Row {
    fn of<T: Resource>(resource: &T, time: DateTime<Utc>) -> Self {
        Self {
            name: resource.name().to_owned(),
            kind: T::KIND.field(),
            data: resource.encode_to_vec(),
            etag: resource.etag().to_owned(),
            time,
            index: resource.index(),
        }
    }
}

/// Everything a batch writes, in the order it is written.
#[derive(Default)]
struct Writes {
    updates: Vec<Row>,
    inserts: Vec<Row>,
    /// References: from, to, field.
    refs: Vec<(String, String, &'static str)>,
    /// Resources whose references are replaced.
    replaced_refs: Vec<String>,
    /// Claims: resource, claimant, authority, fields, encoded content.
    claims: Vec<ClaimRow>,
    claim_names: Vec<String>,
    /// Request ids: id, method, resource, response.
    request_ids: Vec<(Uuid, &'static str, String, Vec<u8>)>,
    changes: Vec<PendingChange>,
}

impl Writes {
    /// A new resource: its row, its references and its change record.
    fn insert<T: Resource>(&mut self, resource: &T) {
        self.inserts.push(Row::of(resource, now_of(resource)));
        self.refs_of(resource);
        self.changes
            .push(PendingChange::of(resource, ChangeKind::Created));
    }

    fn refs_of<T: Resource>(&mut self, resource: &T) {
        let mut refs: Vec<Ref> = resource.refs();
        refs.dedup_by(|a, b| a.field == b.field && a.name == b.name);
        let from = resource.name();
        self.refs
            .extend(refs.into_iter().map(|r| (from.to_owned(), r.name, r.field)));
    }

    fn claim<T: Resource>(&mut self, name: &str, claim: &Claim<T>) {
        self.claim_names.push(name.to_owned());
        self.claims.push((
            claim.claimant.clone(),
            claim.authority,
            claim.fields.clone(),
            claim.resource.encode_to_vec(),
        ));
    }

    /// Writes it all, or stops at the names among `inserts` that were
    /// taken meanwhile (none, normally).
    async fn write(&self, conn: &mut PgConnection) -> Result<Wrote, ApiError> {
        if let Some(taken) = self.write_rows(conn).await? {
            return Ok(Wrote::Taken(taken));
        }
        let last = append_changes(conn, &self.changes).await?;
        Ok(Wrote::All { last })
    }

    /// Writes everything but the change records; the names whose rows or
    /// request ids were taken meanwhile by a concurrent writer, if any
    /// (then nothing that matters is written, and the transaction must be
    /// dropped).
    async fn write_rows(&self, conn: &mut PgConnection) -> Result<Option<Vec<String>>, ApiError> {
        let first = self
            .inserts
            .first()
            .or(self.updates.first())
            .map_or("a batch", |r| r.name.as_str());
        let write = |e| map_db_error(e, Operation::Write, first);
        if !self.updates.is_empty() {
            let _: Vec<(String,)> = bind_rows(
                sqlx::query_as(
                    "UPDATE resources r SET data = u.data, etag = u.etag, update_time = u.time, \
                        model = u.model, release = u.release, benchmark = u.benchmark, \
                        organizations = COALESCE(string_to_array(NULLIF(u.organizations, ''), ','), '{}'), \
                        category = u.category, status = u.status, kind_detail = u.kind_detail, \
                        country = u.country, event_date = u.event_date, score = u.score, \
                        settings_key = u.settings_key, relation = u.relation \
                       FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], \
                                   $5::timestamptz[], $6::text[], $7::text[], $8::text[], \
                                   $9::text[], $10::text[], $11::text[], $12::text[], \
                                   $13::text[], $14::date[], $15::float8[], $16::text[], \
                                   $17::text[]) \
                         AS u(name, kind, data, etag, time, model, release, benchmark, \
                              organizations, category, status, kind_detail, country, \
                              event_date, score, settings_key, relation) \
                      WHERE r.name = u.name RETURNING r.name",
                ),
                &self.updates,
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(write)?;
        }
        if !self.replaced_refs.is_empty() {
            sqlx::query("DELETE FROM resource_refs WHERE from_name = ANY($1)")
                .bind(&self.replaced_refs)
                .execute(&mut *conn)
                .await
                .map_err(write)?;
        }
        if self.inserts.is_empty()
            && self.refs.is_empty()
            && self.claims.is_empty()
            && self.request_ids.is_empty()
        {
            return Ok(None);
        }
        // New rows, references, claims and recorded calls: one statement,
        // one round trip (an empty array inserts nothing).
        let (from, to, field): (Vec<&str>, Vec<&str>, Vec<&str>) = self
            .refs
            .iter()
            .map(|(f, t, field)| (f.as_str(), t.as_str(), *field))
            .collect();
        // Fields travel comma-joined (field names hold no commas), since
        // PostgreSQL arrays cannot be ragged.
        let claimants: Vec<&str> = self.claims.iter().map(|c| c.0.as_str()).collect();
        let authorities: Vec<i16> = self.claims.iter().map(|c| c.1).collect();
        let fields: Vec<Option<String>> = self
            .claims
            .iter()
            .map(|c| c.2.as_ref().map(|f| f.join(",")))
            .collect();
        let data: Vec<&[u8]> = self.claims.iter().map(|c| c.3.as_slice()).collect();
        let ids: Vec<Uuid> = self.request_ids.iter().map(|r| r.0).collect();
        let methods: Vec<&str> = self.request_ids.iter().map(|r| r.1).collect();
        let names: Vec<&str> = self.request_ids.iter().map(|r| r.2.as_str()).collect();
        let responses: Vec<&[u8]> = self.request_ids.iter().map(|r| r.3.as_slice()).collect();
        let (inserted, recorded): (Vec<String>, Vec<Uuid>) = bind_rows(
            sqlx::query_as(
                "WITH inserted AS (\
                   INSERT INTO resources (name, kind, data, etag, create_time, update_time, \
                        model, release, benchmark, organizations, category, status, \
                        kind_detail, country, event_date, score, settings_key, relation) \
                   SELECT u.name, u.kind, u.data, u.etag, u.time, u.time, u.model, \
                        u.release, u.benchmark, \
                        COALESCE(string_to_array(NULLIF(u.organizations, ''), ','), '{}'), \
                        u.category, u.status, u.kind_detail, u.country, u.event_date, \
                        u.score, u.settings_key, u.relation \
                     FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], \
                                 $5::timestamptz[], $6::text[], $7::text[], $8::text[], \
                                 $9::text[], $10::text[], $11::text[], $12::text[], \
                                 $13::text[], $14::date[], $15::float8[], $16::text[], \
                                 $17::text[]) \
                          WITH ORDINALITY \
                       AS u(name, kind, data, etag, time, model, release, benchmark, \
                            organizations, category, status, kind_detail, country, \
                            event_date, score, settings_key, relation, ord) \
                    ORDER BY u.ord \
                   ON CONFLICT (name) DO NOTHING RETURNING name), \
                 refs AS (\
                   INSERT INTO resource_refs (from_name, to_name, field) \
                   SELECT * FROM UNNEST($18::text[], $19::text[], $20::text[]) \
                   ON CONFLICT DO NOTHING), \
                 claims AS (\
                   INSERT INTO resource_claims (name, claimant, authority, fields, data) \
                   SELECT n, c, a, string_to_array(f, ','), d \
                     FROM UNNEST($21::text[], $22::text[], $23::int2[], $24::text[], \
                                 $25::bytea[]) AS u(n, c, a, f, d) \
                   ON CONFLICT (name, claimant) DO UPDATE \
                   SET authority = EXCLUDED.authority, fields = EXCLUDED.fields, \
                       data = EXCLUDED.data), \
                 recorded AS (\
                   INSERT INTO request_ids (request_id, method, resource_name, response) \
                   SELECT * FROM UNNEST($26::uuid[], $27::text[], $28::text[], $29::bytea[]) \
                   ON CONFLICT (request_id) DO NOTHING RETURNING request_id) \
                 SELECT ARRAY(SELECT name FROM inserted), ARRAY(SELECT request_id FROM recorded)",
            ),
            &self.inserts,
        )
        .bind(from)
        .bind(to)
        .bind(field)
        .bind(&self.claim_names)
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
        // A name or a request id a concurrent call committed first: its
        // write is the one to answer with.
        let inserted: HashSet<String> = inserted.into_iter().collect();
        let recorded: HashSet<Uuid> = recorded.into_iter().collect();
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

/// What [`Writes::write`] did.
enum Wrote {
    /// Everything, up to this change sequence (0 for none).
    All { last: i64 },
    /// Nothing that matters: these names were taken meanwhile, and the
    /// transaction must be dropped.
    Taken(Vec<String>),
}

/// Binds rows as the 17 column arrays both statements above take.
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
    query
        .bind(column!(|r| r.name.as_str()))
        .bind(column!(|r| r.kind))
        .bind(column!(|r| r.data.as_slice()))
        .bind(column!(|r| r.etag.as_str()))
        .bind(column!(|r| r.time))
        .bind(column!(|r| r.index.model.as_deref()))
        .bind(column!(|r| r.index.release.as_deref()))
        .bind(column!(|r| r.index.benchmark.as_deref()))
        .bind(column!(|r| r.index.organizations.join(",")))
        .bind(column!(|r| r.index.category.as_deref()))
        .bind(column!(|r| r.index.status.as_deref()))
        .bind(column!(|r| r.index.kind_detail.as_deref()))
        .bind(column!(|r| r.index.country.as_deref()))
        .bind(column!(|r| r.index.event_date))
        .bind(column!(|r| r.index.score))
        .bind(column!(|r| r.index.settings_key.as_deref()))
        .bind(column!(|r| r.index.relation.as_deref()))
}

/// An import decided in memory, written at commit.
pub struct BulkImport {
    tx: Transaction<'static, Postgres>,
    snapshot: Snapshot,
    writes: Writes,
    now: DateTime<Utc>,
}

impl BulkImport {
    /// Reads what the database holds for the batch `keys` describes.
    pub(super) async fn begin(
        tx: Transaction<'static, Postgres>,
        keys: &Keys,
    ) -> Result<Self, ApiError> {
        let mut tx = tx;
        let (snapshot, _) = Snapshot::read(&mut tx, keys, &[]).await?;
        Ok(Self {
            tx,
            snapshot,
            writes: Writes::default(),
            now: Utc::now(),
        })
    }

    /// Decides one item as `ImportBatch::import` would; `None` when memory
    /// cannot decide it and the import must go item by item.
    pub fn import<T: Resource>(
        &mut self,
        resource: &T,
        (claimant, authority): (String, Authority),
    ) -> Result<Option<Imported>, ApiError> {
        let incoming = Claim {
            claimant,
            authority,
            fields: None,
            resource: claims::content(resource),
        };
        match self.decide(resource, incoming) {
            Ok(decided) => Ok(decided),
            Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error),
            Err(refused) => Ok(Some(Imported::Rejected(refused.reason_text()))),
        }
    }

    fn decide<T: Resource>(
        &mut self,
        resource: &T,
        incoming: Claim<T>,
    ) -> Result<Option<Imported>, ApiError> {
        let name = resource.name().to_owned();
        let Some((kind, data)) = self.snapshot.stored.get(&name) else {
            let mut resource = resource.clone();
            stamp_new(&mut resource);
            resource.set_conflicts(Vec::new());
            if self.snapshot.exists.contains(&name) {
                // Referenced, so stored, yet not among the rows read for
                // update: only a concurrent create can do that.
                return Ok(None);
            }
            if !(self.snapshot.check_score(&resource)? && self.snapshot.check_refs(&resource)?) {
                return Ok(None);
            }
            self.snapshot.created(&resource);
            self.writes.insert(&resource);
            self.writes.claim(&name, &incoming);
            return Ok(Some(Imported::Created));
        };
        if kind != T::KIND.field() {
            return Err(ApiError::AlreadyExists { name });
        }
        let current: T = decode(&name, data)?;
        let known = stored_claims::decode::<T>(
            &name,
            self.snapshot.claims.get(&name).cloned().unwrap_or_default(),
        )?;
        let Some(merge) = merge_claim(&current, known, incoming)? else {
            return Ok(Some(Imported::Unchanged));
        };
        if let Some(merged) = &merge.merged {
            if merged.scale() != current.scale() {
                // Its stored results must be checked against the new scale.
                return Ok(None);
            }
            if !(self.snapshot.check_score(merged)? && self.snapshot.check_refs(merged)?) {
                return Ok(None);
            }
        }
        for claim in &merge.to_save {
            self.writes.claim(&name, claim);
        }
        let Some(merged) = merge.merged else {
            return Ok(Some(Imported::Unchanged));
        };
        self.writes.updates.push(Row::of(&merged, self.now));
        self.writes.replaced_refs.push(name);
        self.writes.refs_of(&merged);
        self.writes
            .changes
            .push(PendingChange::of(&merged, ChangeKind::Updated));
        Ok(Some(Imported::Updated))
    }

    /// Writes and commits; false when the batch could not be written as
    /// decided (a name taken meanwhile, a row the schema refuses): nothing
    /// is written, and the import must go item by item.
    pub async fn commit(mut self) -> Result<bool, ApiError> {
        let last = match self.writes.write(&mut self.tx).await {
            Ok(Wrote::All { last }) => last,
            Ok(Wrote::Taken(_)) => return Ok(false),
            Err(error @ (ApiError::Unavailable(_) | ApiError::Contention(_))) => {
                return Err(error);
            }
            Err(refused) => {
                tracing::debug!(error = %refused, "a set-based import goes item by item");
                return Ok(false);
            }
        };
        commit(self.tx, "an import", last).await?;
        Ok(true)
    }
}

/// A request id's recorded call: method, resource name, response.
type Recorded = (String, String, Vec<u8>);

/// Creates decided in memory one after another, each after the ones
/// before it, against what the database holds: each as `create_in`
/// decides it item by item, and all written in a few statements.
pub(super) struct Creating {
    snapshot: Snapshot,
    /// The calls recorded under the request ids of the creates, stored
    /// or decided here.
    recorded: HashMap<Uuid, Recorded>,
    writes: Writes,
}

impl Creating {
    /// Reads what the database holds for the creates `keys` describes,
    /// and the calls recorded under their request ids `ids`.
    pub(super) async fn read(
        conn: &mut PgConnection,
        keys: &Keys,
        ids: &[Uuid],
    ) -> Result<Self, ApiError> {
        let (snapshot, recorded) = Snapshot::read(conn, keys, ids).await?;
        Ok(Self {
            snapshot,
            recorded,
            writes: Writes::default(),
        })
    }

    /// Decides the create of `resource`, stamped, with its request id:
    /// the resource created, the answer recorded under its request id, or
    /// why it is refused. `Ok(None)` when memory cannot decide it (a
    /// reference that was not read).
    pub(super) fn create<T: Resource>(
        &mut self,
        resource: &T,
        request_id: Option<Uuid>,
    ) -> Result<Option<T>, ApiError> {
        let name = resource.name().to_owned();
        if let Some(request_id) = request_id
            && let Some((method, resource_name, response)) = self.recorded.get(&request_id)
        {
            if method != T::KIND.field() || *resource_name != name {
                return Err(ApiError::RequestIdReused {
                    request_id: request_id.to_string(),
                });
            }
            return decode(resource_name, response).map(Some);
        }
        if !(self.snapshot.check_score(resource)? && self.snapshot.check_refs(resource)?) {
            return Ok(None);
        }
        if self.snapshot.stored.contains_key(&name) || self.snapshot.exists.contains(&name) {
            return Err(ApiError::AlreadyExists { name });
        }
        self.snapshot.created(resource);
        self.writes.insert(resource);
        if let Some(request_id) = request_id {
            let response = resource.encode_to_vec();
            self.writes.request_ids.push((
                request_id,
                T::KIND.field(),
                name.clone(),
                response.clone(),
            ));
            self.recorded
                .insert(request_id, (T::KIND.field().to_owned(), name, response));
        }
        Ok(Some(resource.clone()))
    }

    /// Writes every create decided but their change records, which it
    /// returns for the caller to append last. `None` when a name or a
    /// request id was taken meanwhile by a concurrent writer: nothing that
    /// matters is written, and the transaction must be dropped.
    pub(super) async fn write(
        mut self,
        conn: &mut PgConnection,
    ) -> Result<Option<Vec<PendingChange>>, ApiError> {
        Ok(match self.writes.write_rows(conn).await? {
            Some(_taken) => None,
            None => Some(std::mem::take(&mut self.writes.changes)),
        })
    }
}

/// A single create, as the group committer decides it with the other
/// creates of its batch.
pub(super) struct NewResource<T> {
    /// Stamped, its name set.
    pub resource: T,
    pub request_id: Option<Uuid>,
}

impl<T: Resource> SetBased for NewResource<T> {
    fn gather(&self, keys: &mut Keys, ids: &mut Vec<Uuid>) {
        keys.add(&self.resource);
        ids.extend(self.request_id);
    }

    fn decide(&self, creating: &mut Creating) -> Result<Option<Answer>, ApiError> {
        Ok(creating
            .create(&self.resource, self.request_id)?
            .map(|created| Box::new(created) as Answer))
    }
}

/// Creates several resources of one kind, whose names are set, in one
/// transaction: all or none. Items with a request id seen before answer as
/// before. The set-based form of `Store::create_batch`'s loop.
pub(super) async fn create_all<T: Resource>(
    mut tx: Transaction<'static, Postgres>,
    items: Vec<(T, Option<Uuid>)>,
) -> Result<Vec<T>, ApiError> {
    let mut keys = Keys::default();
    let mut ids = Vec::new();
    for (resource, request_id) in &items {
        keys.add(resource);
        ids.extend(*request_id);
    }
    let mut creating = Creating::read(&mut tx, &keys, &ids).await?;
    let mut results = Vec::with_capacity(items.len());
    for (position, (mut resource, request_id)) in items.into_iter().enumerate() {
        stamp_new(&mut resource);
        let created = creating
            .create(&resource, request_id)
            .map_err(|e| e.at(&format!("requests[{position}]")))?;
        // Every reference of a new resource was looked up: none is unknown.
        results.push(created.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "the references of {} were not looked up",
                resource.name()
            ))
        })?);
    }
    let last = match creating.writes.write(&mut tx).await? {
        Wrote::All { last } => last,
        Wrote::Taken(taken) => {
            return Err(ApiError::AlreadyExists {
                name: taken.into_iter().next().unwrap_or_default(),
            });
        }
    };
    commit(tx, T::KIND.field(), last).await?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontierwatch_proto::v1::Organization;

    #[test]
    fn a_name_twice_sends_the_batch_item_by_item() {
        let mut keys = Keys::default();
        let org = |name: &str| Organization {
            name: name.to_owned(),
            ..Default::default()
        };
        keys.add(&org("organizations/a"));
        keys.add(&org("organizations/b"));
        assert!(keys.set_based());
        keys.add(&org("organizations/a"));
        assert!(!keys.set_based());
    }
}
