//! The one decision of every write that creates, imports or updates
//! resources, whatever its route: a single create (alone, or with the
//! creates queued beside it by the group committer), a batch create, an
//! import batch, an update, a move. Each write is decided in memory against
//! what the database holds for the whole batch (`storage::snapshot`) and
//! the writes decided before it in the same batch, exactly as it would be
//! decided alone after them; the decisions add up to one [`Plan`] that
//! `storage::rows` writes in a few statements.
//!
//! Where the snapshot lacks something a write needs (a name it did not
//! look up, a benchmark's results off a new scale), the write is
//! undecided: the caller reads again with what [`Decision::missing`] asks
//! for, and decides the whole batch again (`storage::batch`).
//!
//! No SQL here: the rules are stated once, and only here.

use std::collections::HashMap;

use chrono::Utc;
use uuid::Uuid;

use super::append::Actor;
use super::claims::{self as stored_claims, ClaimRow};
use super::merge::merge_claim;
use super::rows::{Held, Plan, decode, new_etag};
use super::snapshot::{Keys, Snapshot};
use super::timestamp;
use crate::domain::claims::{self, Authority, Claim};
use crate::domain::{Meta, Resource};
use crate::error::ApiError;

/// What an import did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Created,
    Unchanged,
    Updated,
    /// Not imported, and why; the rest of the batch goes on.
    Rejected(String),
}

/// A write's decision: `Ok(Some(answer))`, refused (`Err`), or `Ok(None)`
/// when the snapshot lacks what it needs ([`Decision::missing`] says what).
pub(super) type Decided<A> = Result<Option<A>, ApiError>;

/// Writes decided one after another over one snapshot.
pub(super) struct Decision {
    /// What the database holds, and, as writes are decided, what the batch
    /// has made of it: names created or updated, their claims, the calls
    /// recorded.
    snapshot: Snapshot,
    /// Results written by this batch: name → benchmark and score.
    scores: HashMap<String, (String, f64)>,
    plan: Plan,
    missing: Keys,
}

impl Decision {
    pub(super) fn new(snapshot: Snapshot) -> Self {
        Self {
            snapshot,
            scores: HashMap::new(),
            plan: Plan::default(),
            missing: Keys::default(),
        }
    }

    /// What undecided writes need read.
    pub(super) fn missing(&mut self) -> Keys {
        std::mem::take(&mut self.missing)
    }

    /// The writes decided.
    pub(super) fn into_plan(self) -> Plan {
        self.plan
    }

    /// A create of `resource` (stamped, its name set) with its request id:
    /// the resource created, the first call's answer when the request id
    /// was used before, or why it is refused.
    pub(super) fn create<T: Resource>(
        &mut self,
        resource: &T,
        request_id: Option<Uuid>,
        actor: &Actor,
    ) -> Decided<T> {
        let name = resource.name();
        if let Some(request_id) = request_id
            && let Some((method, resource_name, response)) = self.snapshot.recorded.get(&request_id)
        {
            if method != T::KIND.field() || resource_name != name {
                return Err(ApiError::RequestIdReused {
                    request_id: request_id.to_string(),
                });
            }
            return decode(resource_name, response).map(Some);
        }
        if self.insert(resource, actor)?.is_none() {
            return Ok(None);
        }
        if let Some(request_id) = request_id {
            let response = resource.encode_to_vec();
            self.plan
                .request_id(request_id, T::KIND.field(), name, response.clone());
            self.snapshot.recorded.insert(
                request_id,
                (T::KIND.field().to_owned(), name.to_owned(), response),
            );
        }
        Ok(Some(resource.clone()))
    }

    /// A new resource, stamped: its score and references checked, and its
    /// name free.
    pub(super) fn insert<T: Resource>(&mut self, resource: &T, actor: &Actor) -> Decided<()> {
        if !(self.check_score(resource)? && self.check_refs(resource)?) {
            return Ok(None);
        }
        let name = resource.name();
        if self.snapshot.stored.contains_key(name) || self.snapshot.exists.contains(name) {
            return Err(ApiError::AlreadyExists {
                name: name.to_owned(),
            });
        }
        let held = self.plan.insert(resource, actor);
        self.now_holds(resource, held);
        Ok(Some(()))
    }

    /// The stored resource `name` of kind `T`.
    pub(super) fn current<T: Resource>(&self, name: &str) -> Decided<T> {
        match self.snapshot.stored.get(name) {
            Some((kind, data)) if kind == T::KIND.field() => decode(name, data).map(Some),
            _ if self.snapshot.assumed => Ok(None),
            _ => Err(ApiError::NotFound {
                name: name.to_owned(),
            }),
        }
    }

    /// An update of the stored `name`, whose etag must be `etag` (any when
    /// empty): `change` computes the new state from the current one and
    /// names the fields it writes, which settle those fields on a resource
    /// that sources describe (`domain::claims`).
    pub(super) fn update<T, F>(
        &mut self,
        name: &str,
        etag: &str,
        change: &F,
        actor: &Actor,
    ) -> Decided<T>
    where
        T: Resource,
        F: Fn(&T) -> Result<(T, Vec<String>), ApiError>,
    {
        let Some(current) = self.current::<T>(name)? else {
            return Ok(None);
        };
        if !etag.is_empty() && etag != current.etag() {
            return Err(ApiError::EtagMismatch {
                name: name.to_owned(),
            });
        }
        let (updated, decided) = change(&current)?;
        let (mut updated, settles) = self.settle(updated, &decided)?;
        updated.set_meta(Meta {
            name: name.to_owned(),
            create_time: current.create_time(),
            update_time: Some(timestamp(Utc::now())),
            etag: new_etag(),
        });
        if self.replace(&current, &updated, actor)?.is_none() {
            return Ok(None);
        }
        if settles && let Some(change) = self.plan.last_change_of(name) {
            change.settles();
        }
        Ok(Some(updated))
    }

    /// The new state `updated` (stamped) of the stored `current`: its score
    /// on its benchmark's scale, a new scale holding the benchmark's
    /// results, its references existing.
    pub(super) fn replace<T: Resource>(
        &mut self,
        current: &T,
        updated: &T,
        actor: &Actor,
    ) -> Decided<()> {
        if !(self.check_score(updated)?
            && self.check_scale_change(current, updated)?
            && self.check_refs(updated)?)
        {
            return Ok(None);
        }
        let held = self.plan.update(updated, actor);
        self.now_holds(updated, held);
        Ok(Some(()))
    }

    /// An imported item, claimed by `claimant`: created, merged with what
    /// other sources state about the stored resource, or kept.
    pub(super) fn import<T: Resource>(
        &mut self,
        resource: &T,
        (claimant, authority): (String, Authority),
        actor: &Actor,
    ) -> Decided<Imported> {
        let name = resource.name().to_owned();
        let source = claimant.clone();
        let incoming = Claim {
            claimant,
            authority,
            fields: None,
            resource: claims::content(resource),
        };
        let Some((kind, data)) = self.snapshot.stored.get(&name) else {
            let mut resource = resource.clone();
            super::rows::stamp_new(&mut resource);
            resource.set_conflicts(Vec::new());
            if self.snapshot.exists.contains(&name) {
                // Referenced, so stored, yet not among the rows read for
                // update: a concurrent create committed between the reads.
                return Ok(None);
            }
            if self.insert(&resource, actor)?.is_none() {
                return Ok(None);
            }
            self.claimed(&name, &source);
            self.claim(&name, &incoming);
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
            if self.replace(&current, merged, actor)?.is_none() {
                return Ok(None);
            }
            self.claimed(&name, &source);
        }
        for claim in &merge.to_save {
            self.claim(&name, claim);
        }
        Ok(Some(match merge.merged {
            Some(_) => Imported::Updated,
            None => Imported::Unchanged,
        }))
    }

    /// The change this batch last decided of `name` came from `claimant`.
    fn claimed(&mut self, name: &str, claimant: &str) {
        if let Some(change) = self.plan.last_change_of(name) {
            change.claimed_by(claimant);
        }
    }

    /// A claim about `name` stored, and known to the writes after it.
    fn claim<T: Resource>(&mut self, name: &str, claim: &Claim<T>) {
        let row: ClaimRow = (
            claim.claimant.clone(),
            claim.authority,
            claim.fields.clone(),
            claim.resource.encode_to_vec(),
        );
        let known = self.snapshot.claims.entry(name.to_owned()).or_default();
        known.retain(|c| c.0 != row.0);
        known.push(row.clone());
        self.plan.claim(name, row);
    }

    /// A person's update of a resource that sources describe: the fields it
    /// writes become (or join) the settlement, and the resource is merged
    /// again. Says whether it settled anything (an update of fields of a
    /// resource that no source describes settles nothing).
    fn settle<T: Resource>(
        &mut self,
        updated: T,
        decided: &[String],
    ) -> Result<(T, bool), ApiError> {
        let name = updated.name().to_owned();
        let rows = self.snapshot.claims.get(&name).cloned().unwrap_or_default();
        if decided.is_empty() || rows.is_empty() {
            return Ok((updated, false));
        }
        let mut known = stored_claims::decode::<T>(&name, rows)?;
        let mut fields: Vec<String> = known
            .iter()
            .find(|c| c.claimant == claims::SETTLED)
            .and_then(|c| c.fields.clone())
            .unwrap_or_default();
        for field in decided {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
        fields.sort();
        let settlement = Claim {
            claimant: claims::SETTLED.to_owned(),
            authority: claims::SETTLEMENT,
            fields: Some(fields),
            resource: claims::content(&updated),
        };
        known.retain(|c| c.claimant != claims::SETTLED);
        known.push(settlement.clone());
        self.claim(&name, &settlement);
        Ok((claims::merge(&name, &known)?, true))
    }

    /// A resource written by this batch, as the writes after it see it
    /// (`held`: its encoding and score, as the plan computed them).
    fn now_holds<T: Resource>(&mut self, resource: &T, held: Held) {
        let name = resource.name().to_owned();
        if let Some(scale) = resource.scale() {
            self.snapshot.scales.insert(name.clone(), scale);
        }
        if let Some(score) = held.score {
            self.scores.insert(name.clone(), score);
        }
        self.snapshot.exists.insert(name.clone());
        self.snapshot.queried.insert(name.clone());
        self.snapshot
            .stored
            .insert(name, (T::KIND.field().to_owned(), held.data));
    }

    /// Whether a name the snapshot does not hold is known to be missing.
    fn known_missing(&mut self, name: &str) -> bool {
        if self.snapshot.queried.contains(name) {
            return true;
        }
        self.missing.referenced.insert(name.to_owned());
        false
    }

    /// A score must lie on its benchmark's scale; `Ok(false)` when the
    /// benchmark was not looked up.
    fn check_score<T: Resource>(&mut self, resource: &T) -> Result<bool, ApiError> {
        let Some(claim) = resource.score_claim() else {
            return Ok(true);
        };
        let Some(scale) = self.snapshot.scales.get(&claim.benchmark) else {
            if !self.snapshot.exists.contains(&claim.benchmark)
                && !self.known_missing(&claim.benchmark)
            {
                return Ok(false);
            }
            return Err(ApiError::ReferenceNotFound {
                field: format!("{}.benchmark", T::FIELD),
                name: claim.benchmark,
            });
        };
        claim.check(T::FIELD, scale).map(|()| true)
    }

    /// Every referenced resource must exist; `Ok(false)` when one was not
    /// looked up.
    fn check_refs<T: Resource>(&mut self, resource: &T) -> Result<bool, ApiError> {
        let missing = resource
            .refs()
            .into_iter()
            .find(|r| !self.snapshot.exists.contains(&r.name));
        match missing {
            None => Ok(true),
            Some(missing) if !self.known_missing(&missing.name) => Ok(false),
            // AIP-133: creating under a parent that does not exist is NOT_FOUND.
            Some(missing) if missing.field == "parent" => {
                Err(ApiError::NotFound { name: missing.name })
            }
            Some(missing) => Err(ApiError::ReferenceNotFound {
                field: format!("{}.{}", T::FIELD, missing.field),
                name: missing.name,
            }),
        }
    }

    /// A benchmark's new scale must hold the scores of its results, stored
    /// and written by this batch; `Ok(false)` when its stored results off
    /// the new scale were not read.
    fn check_scale_change<T: Resource>(
        &mut self,
        current: &T,
        updated: &T,
    ) -> Result<bool, ApiError> {
        let Some(scale) = updated.scale() else {
            return Ok(true);
        };
        if current.scale() == Some(scale) {
            return Ok(true);
        }
        let name = updated.name();
        let check = (name.to_owned(), scale.low.to_bits(), scale.high.to_bits());
        let Some(stored) = self.snapshot.off_scale.get(&check) else {
            self.missing.scale_checks.insert(check);
            return Ok(false);
        };
        let mut off: Vec<&String> = stored
            .iter()
            .filter(|result| !self.scores.contains_key(*result))
            .chain(
                self.scores
                    .iter()
                    .filter(|(_, (benchmark, score))| benchmark == name && !scale.contains(*score))
                    .map(|(result, _)| result),
            )
            .collect();
        off.sort();
        match off.first() {
            None => Ok(true),
            Some(example) => Err(ApiError::ResultsOffScale {
                name: name.to_owned(),
                scale: scale.description,
                count: off.len() as i64,
                example: (*example).clone(),
            }),
        }
    }
}
