//! The writes a batch is made of, each decided by `storage::decide`: a
//! create, an update, an imported item.

use uuid::Uuid;

use super::append::Actor;
use super::batch::Item;
use super::decide::{Decided, Decision, Imported};
use super::group::Answer;
use super::snapshot::Keys;
use crate::domain::Resource;
use crate::domain::claims::Authority;
use crate::error::ApiError;

/// A create of a resource whose name is set, stamped.
pub(super) struct Create<T> {
    pub resource: T,
    pub request_id: Option<Uuid>,
    pub actor: Actor,
}

impl<T: Resource> Create<T> {
    fn gather_keys(&self, keys: &mut Keys) {
        keys.add(&self.resource);
        keys.request_ids.extend(self.request_id);
    }
}

impl<T: Resource> Item<T> for Create<T> {
    fn gather(&self, keys: &mut Keys) {
        self.gather_keys(keys);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<T> {
        decision.create(&self.resource, self.request_id, &self.actor)
    }

    fn assumable(&self) -> bool {
        true
    }
}

/// The same create, for the group committer: its answer type-erased.
impl<T: Resource> Item<Answer> for Create<T> {
    fn gather(&self, keys: &mut Keys) {
        self.gather_keys(keys);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<Answer> {
        Ok(decision
            .create(&self.resource, self.request_id, &self.actor)?
            .map(|created| Box::new(created) as Answer))
    }

    fn assumable(&self) -> bool {
        true
    }
}

/// An update of a stored resource (see `Decision::update`).
pub(super) struct Update<'a, F> {
    pub name: &'a str,
    pub etag: &'a str,
    pub change: F,
    pub actor: Actor,
}

impl<T, F> Item<T> for Update<'_, F>
where
    T: Resource,
    F: Fn(&T) -> Result<(T, Vec<String>), ApiError> + Send + Sync,
{
    fn gather(&self, keys: &mut Keys) {
        keys.name(self.name);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<T> {
        decision.update(self.name, self.etag, &self.change, &self.actor)
    }
}

/// An imported item, claimed by a source.
struct Import<T> {
    resource: T,
    claimant: (String, Authority),
    actor: Actor,
}

/// An import item of any kind.
pub struct ImportItem(pub(super) Box<dyn Item<Imported>>);

impl ImportItem {
    /// `resource` imported, as claimed by `claimant`, in a call of `actor`.
    pub fn new<T: Resource>(resource: T, claimant: (String, Authority), actor: Actor) -> Self {
        Self(Box::new(Import {
            resource,
            claimant,
            actor,
        }))
    }
}

impl<T: Resource> Item<Imported> for Import<T> {
    fn gather(&self, keys: &mut Keys) {
        keys.add(&self.resource);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<Imported> {
        decision.import(&self.resource, self.claimant.clone(), &self.actor)
    }
}

/// A new resource, stamped, with no request id (a move's new name).
pub(super) struct Insert<T> {
    pub resource: T,
    pub actor: Actor,
}

impl<T: Resource> Item<()> for Insert<T> {
    fn gather(&self, keys: &mut Keys) {
        keys.add(&self.resource);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<()> {
        decision.insert(&self.resource, &self.actor)
    }
}

/// A stored resource's new state, computed without reading it again (a
/// resource that refers to a moved one).
pub(super) struct Replace<T> {
    pub current: T,
    pub updated: T,
    pub actor: Actor,
}

impl<T: Resource> Item<()> for Replace<T> {
    fn gather(&self, keys: &mut Keys) {
        keys.add(&self.updated);
    }

    fn decide(&self, decision: &mut Decision) -> Decided<()> {
        decision.replace(&self.current, &self.updated, &self.actor)
    }
}
