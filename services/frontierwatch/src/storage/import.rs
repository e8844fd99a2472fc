//! Importing one item into a stored resource: its claim merged with what
//! other sources state (`domain::claims`), in a savepoint of the batch's
//! transaction; and a person's update settling the fields it writes.

use chrono::Utc;
use sqlx::{PgConnection, Postgres, Transaction};
use tracing::instrument;

use super::claims as stored_claims;
use super::error::{Operation, map_db_error};
use super::resources::{decode, new_etag, stamp_new};
use super::timestamp;
use super::writes::{ChangeKind, PendingChange, append_changes, commit, insert_new, write_update};
use crate::domain::claims::{self, Authority, Claim};
use crate::domain::{Meta, Resource, reflect};
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

/// An import batch in progress.
pub struct ImportBatch {
    tx: Transaction<'static, Postgres>,
    pending: Vec<PendingChange>,
}

impl ImportBatch {
    /// A batch in the writing transaction `tx`.
    pub(super) fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self {
            tx,
            pending: Vec::new(),
        }
    }

    /// Creates, keeps or replaces one resource keyed by its name, under a
    /// savepoint so that a refused item leaves the batch intact. Fails only
    /// when the batch itself cannot go on (the database is gone).
    #[instrument(skip_all, fields(kind = T::KIND.field(), name = %resource.name()))]
    pub async fn import<T: Resource>(
        &mut self,
        resource: T,
        claimant: (String, Authority),
    ) -> Result<Imported, ApiError> {
        let mut savepoint = sqlx::Connection::begin(&mut *self.tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Write, resource.name()))?;
        match import_one(&mut savepoint, resource, claimant).await {
            Ok((outcome, change)) => {
                savepoint
                    .commit()
                    .await
                    .map_err(|e| map_db_error(e, Operation::Write, "an import"))?;
                self.pending.extend(change);
                Ok(outcome)
            }
            Err(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(error),
            Err(refused) => {
                savepoint
                    .rollback()
                    .await
                    .map_err(|e| map_db_error(e, Operation::Write, "an import"))?;
                Ok(Imported::Rejected(refused.reason_text()))
            }
        }
    }

    /// Appends the batch's change records and commits.
    pub async fn commit(mut self) -> Result<(), ApiError> {
        let written = append_changes(&mut self.tx, &self.pending).await?;
        commit(self.tx, "an import", written).await
    }
}

async fn import_one<T: Resource>(
    conn: &mut PgConnection,
    mut resource: T,
    (claimant, authority): (String, Authority),
) -> Result<(Imported, Option<PendingChange>), ApiError> {
    let name = resource.name().to_owned();
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kind, data FROM resources WHERE name = $1 FOR UPDATE")
            .bind(&name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| map_db_error(e, Operation::Read, &name))?;
    let incoming = Claim {
        claimant,
        authority,
        fields: None,
        resource: claims::content(&resource),
    };
    let Some((kind, data)) = row else {
        stamp_new(&mut resource);
        resource.set_conflicts(Vec::new());
        if !insert_new(conn, &resource).await? {
            return Err(ApiError::AlreadyExists { name });
        }
        stored_claims::save(conn, &name, &[&incoming]).await?;
        let change = PendingChange::of(&resource, ChangeKind::Created);
        return Ok((Imported::Created, Some(change)));
    };
    if kind != T::KIND.field() {
        return Err(ApiError::AlreadyExists { name });
    }
    let current: T = decode(&name, &data)?;
    let known = stored_claims::load::<T>(conn, &name).await?;
    let Some(merge) = merge_claim(&current, known, incoming)? else {
        return Ok((Imported::Unchanged, None));
    };
    stored_claims::save(conn, &name, &merge.to_save.iter().collect::<Vec<_>>()).await?;
    let Some(merged) = merge.merged else {
        return Ok((Imported::Unchanged, None));
    };
    write_update(conn, &merged).await?;
    let change = PendingChange::of(&merged, ChangeKind::Updated);
    Ok((Imported::Updated, Some(change)))
}

/// What a claim imported into a stored resource changes.
pub(super) struct Merge<T> {
    /// The claims to store: the incoming one, and the stored resource's own
    /// content when it becomes the first claim of a second source.
    pub to_save: Vec<Claim<T>>,
    /// The resource's new state, stamped, when its visible state changes.
    pub merged: Option<T>,
}

/// Merges an incoming claim with the claims known about `current`; `None`
/// when the claimant states exactly what it stated before. Refuses a merge
/// that is invalid or changes an immutable field. Decides in memory: both
/// the item-by-item import and the set-based one (`storage::bulk`) use it.
pub(super) fn merge_claim<T: Resource>(
    current: &T,
    mut known: Vec<Claim<T>>,
    incoming: Claim<T>,
) -> Result<Option<Merge<T>>, ApiError> {
    let name = current.name().to_owned();
    let mut to_save = Vec::new();
    if known.is_empty() {
        // Written by one writer so far: its content is the first claim.
        let (who, weight) = claims::claimant(current, None)?;
        if who != incoming.claimant {
            let recorded = Claim {
                claimant: who,
                authority: weight,
                fields: None,
                resource: claims::content(current),
            };
            to_save.push(recorded.clone());
            known.push(recorded);
        }
    }
    match known.iter_mut().find(|c| c.claimant == incoming.claimant) {
        Some(same) if *same == incoming => return Ok(None),
        Some(same) => *same = incoming.clone(),
        None => known.push(incoming.clone()),
    }
    to_save.push(incoming);
    let mut merged = claims::merge(&name, &known)?;
    crate::domain::check(&merged)?;
    if let Some(field) = reflect::changed_immutable(current, &merged)?.first() {
        return Err(ApiError::invalid(
            format!("{}.{field}", T::FIELD),
            format!(
                "is immutable once created, and {name} holds another value: \
                 an item with another {field} needs a name of its own"
            ),
        ));
    }
    if state_of(&merged) == state_of(current) {
        return Ok(Some(Merge {
            to_save,
            merged: None,
        }));
    }
    merged.set_meta(Meta {
        name: name.clone(),
        create_time: current.create_time(),
        update_time: Some(timestamp(Utc::now())),
        etag: new_etag(),
    });
    Ok(Some(Merge {
        to_save,
        merged: Some(merged),
    }))
}

/// A resource's visible state, without the metadata every write renews.
fn state_of<T: Resource>(resource: &T) -> T {
    let mut state = resource.clone();
    state.set_meta(Meta {
        name: resource.name().to_owned(),
        ..Meta::default()
    });
    state
}

/// A person's update of a resource that sources describe: the fields it
/// writes become (or join) the settlement, and the resource is merged again.
pub(super) async fn settle<T: Resource>(
    conn: &mut PgConnection,
    updated: T,
    decided: &[String],
) -> Result<T, ApiError> {
    if decided.is_empty() {
        return Ok(updated);
    }
    let name = updated.name().to_owned();
    let mut known = stored_claims::load::<T>(conn, &name).await?;
    if known.is_empty() {
        return Ok(updated);
    }
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
    stored_claims::save(conn, &name, &[&settlement]).await?;
    claims::merge(&name, &known)
}
