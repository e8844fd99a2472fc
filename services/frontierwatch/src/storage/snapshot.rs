//! What the database holds for a batch of writes, read in a few
//! statements whatever the batch's size: the batch's own names locked for
//! update with the calls recorded under its request ids; the names it
//! references locked against deletion (with the scales of the benchmarks
//! among them); the claims of the stored ones; and, for a benchmark whose
//! scale a write changes, its results off the new scale.
//!
//! Nothing here decides anything (`storage::decide` does).

use std::collections::{HashMap, HashSet};

use frontierwatch_proto::v1::Benchmark;
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::claims::ClaimRow;
use super::error::{Operation, map_db_error};
use super::lookups;
use super::rows::decode;
use crate::domain::{Resource, Scale};
use crate::error::ApiError;

/// A stored claim with the name it is about: `ClaimRow` read for many names at once.
type NamedClaimRow = (String, String, i16, Option<Vec<String>>, Vec<u8>);

/// A request id's recorded call: method, resource name, response.
pub(super) type Recorded = (String, String, Vec<u8>);

/// A benchmark and a scale (bounds as bits, to be a key): the benchmark's
/// results off that scale are to be read.
pub(super) type ScaleCheck = (String, u64, u64);

/// What a batch must read before it is decided.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    pub(super) names: Vec<String>,
    pub(super) referenced: HashSet<String>,
    pub(super) request_ids: Vec<Uuid>,
    pub(super) scale_checks: HashSet<ScaleCheck>,
}

impl Keys {
    /// Adds a resource the batch writes: its name, what it references,
    /// its benchmark.
    pub fn add<T: Resource>(&mut self, resource: &T) {
        self.names.push(resource.name().to_owned());
        self.referenced
            .extend(resource.refs().into_iter().map(|r| r.name));
        if let Some(claim) = resource.score_claim() {
            self.referenced.insert(claim.benchmark);
        }
    }

    /// Adds a name the batch writes whose content is not known yet.
    pub(super) fn name(&mut self, name: &str) {
        self.names.push(name.to_owned());
    }

    /// Adds what another set of keys asks for.
    pub(super) fn extend(&mut self, more: Keys) {
        self.names.extend(more.names);
        self.referenced.extend(more.referenced);
        self.request_ids.extend(more.request_ids);
        self.scale_checks.extend(more.scale_checks);
    }
}

/// What the database holds for a batch.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    /// Stored resources among the batch's names (locked for update): kind
    /// and encoded message.
    pub stored: HashMap<String, (String, Vec<u8>)>,
    /// The calls recorded under the batch's request ids.
    pub recorded: HashMap<Uuid, Recorded>,
    /// Names that exist among the referenced ones and those the stored
    /// ones reference (locked against deletion).
    pub exists: HashSet<String>,
    /// The scales of the benchmarks among them.
    pub scales: HashMap<String, Scale>,
    /// The stored claims of stored resources.
    pub claims: HashMap<String, Vec<ClaimRow>>,
    /// Names looked up: a name here and not in `exists` is known missing.
    pub queried: HashSet<String>,
    /// Results off a scale, by benchmark and scale, in name order.
    pub off_scale: HashMap<ScaleCheck, Vec<String>>,
    /// Assumed, not read: every name absent, every request id unused,
    /// nothing referenced. Only for batches that reference nothing; the
    /// write itself verifies it (a name or request id it finds taken
    /// sends the batch to be read and decided again).
    pub assumed: bool,
}

impl Snapshot {
    /// The snapshot assumed for a batch of creates that reference nothing.
    pub fn assumed(keys: &Keys) -> Option<Self> {
        (keys.referenced.is_empty() && keys.scale_checks.is_empty()).then(|| Self {
            assumed: true,
            ..Self::default()
        })
    }

    /// Reads what the database holds for the batch `keys` describes.
    pub async fn read(conn: &mut PgConnection, keys: &Keys) -> Result<Self, ApiError> {
        let read = |e| map_db_error(e, Operation::Read, "a batch");
        let rows: Vec<(String, String, Vec<u8>, Option<Uuid>)> = sqlx::query_as(AssertSqlSafe(
            lookups::RESOURCES_FOR_UPDATE_AND_REQUEST_IDS.as_str(),
        ))
        .bind(&keys.names)
        .bind(&keys.request_ids)
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
        let mut exists = HashSet::with_capacity(found.len());
        let mut scales = HashMap::new();
        let mut queried = keys.referenced.clone();
        for (name, benchmark) in found {
            if let Some(data) = benchmark {
                let benchmark: Benchmark = decode(&name, &data)?;
                scales.insert(name.clone(), Scale::of(benchmark.scale));
            }
            queried.insert(name.clone());
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
        let mut off_scale = HashMap::new();
        for check in &keys.scale_checks {
            let (benchmark, low, high) = check;
            // The benchmark is locked for update (a batch's own name), so
            // no result is added meanwhile.
            let (names,): (Vec<String>,) = sqlx::query_as(
                "SELECT COALESCE(array_agg(name ORDER BY name), '{}') FROM resources \
                  WHERE kind = 'benchmark_result' AND benchmark = $1 \
                    AND (score < $2 OR score > $3)",
            )
            .bind(benchmark)
            .bind(f64::from_bits(*low))
            .bind(f64::from_bits(*high))
            .fetch_one(&mut *conn)
            .await
            .map_err(read)?;
            off_scale.insert(check.clone(), names);
        }
        Ok(Self {
            stored,
            recorded,
            exists,
            scales,
            claims,
            queried,
            off_scale,
            assumed: false,
        })
    }
}
