//! The merge of a claim an import brings with the claims stored about a
//! resource (`domain::claims` states how claims combine): what to store,
//! and the resource's new state when its visible state changes. Used by
//! `storage::decide`.

use chrono::Utc;

use super::rows::new_etag;
use super::timestamp;
use crate::domain::claims::{self, Claim};
use crate::domain::{Meta, Resource, reflect};
use crate::error::ApiError;

/// What a claim imported into a stored resource changes.
pub(super) struct Merge<T> {
    /// The claims to store: the incoming one, and the stored resource's own
    /// content when it becomes the first claim of a second source.
    pub(super) to_save: Vec<Claim<T>>,
    /// The resource's new state, stamped, when its visible state changes.
    pub(super) merged: Option<T>,
}

/// Merges an incoming claim with the claims known about `current`; `None`
/// when the claimant states exactly what it stated before. Refuses a merge
/// that is invalid or changes an immutable field.
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
