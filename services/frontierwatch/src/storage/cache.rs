//! The read cache: every stored resource in memory, kept by the replica's
//! own watch of the change log (`stream::cache` feeds it: a snapshot, then
//! every change in sequence order), so that a Get by name is answered
//! without a round trip to PostgreSQL. Kubernetes' watch cache is the
//! model.
//!
//! Consistency: a Get waits until the cache has applied every change this
//! replica has committed ([`last_written`]) and every change its follower
//! has handed to watchers. So whoever wrote through this replica reads the
//! write (read-your-writes, and monotonic reads per replica), and whoever
//! saw a change on a watch of this replica reads it too. A write committed
//! by another replica is read once this replica's follower has it
//! (milliseconds after its commit, bounded by the follower's poll). While
//! the cache is not live (starting, or re-reading its snapshot after its
//! watch ended), or does not catch up within [`CATCH_UP`], Gets read the
//! database as without it.
//!
//! Off by default (`--read-cache`): it holds the whole table in memory.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use prost::bytes::Bytes;
use tokio::sync::watch;

use super::append::last_written;
use super::rows::decode;
use crate::domain::Resource;
use crate::error::ApiError;

/// How long a Get waits for the cache to apply this replica's last write
/// before it reads the database instead.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// One cached resource: its type (`ResourceType`) and stored encoding.
#[derive(Debug, Clone)]
pub struct Entry {
    pub resource_type: i32,
    pub data: Bytes,
}

impl Entry {
    /// The entry of a resource as a watch carries it.
    pub fn of(resource_type: i32, resource: Option<prost_types::Any>) -> Self {
        Self {
            resource_type,
            data: resource.map(|any| any.value).unwrap_or_default().into(),
        }
    }
}

/// Where the cache stands: live or not, and the change sequence it has
/// applied through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Applied {
    live: bool,
    through: i64,
}

/// The cache. See the module documentation.
#[derive(Debug)]
pub struct ReadCache {
    entries: RwLock<HashMap<String, Entry>>,
    applied: watch::Sender<Applied>,
    /// The highest sequence the replica's follower has handed to watchers.
    handed: Handed,
}

/// Reads the follower's head (see [`ReadCache::new`]).
struct Handed(Box<dyn Fn() -> i64 + Send + Sync>);

impl std::fmt::Debug for Handed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handed")
    }
}

/// One change to apply.
#[derive(Debug)]
pub enum Change {
    /// Created or updated: the resource's state now.
    Put(String, Entry),
    /// Deleted.
    Remove(String),
}

impl ReadCache {
    /// An empty cache, not live until its first snapshot. Its Gets also
    /// wait for what `head` says the replica's follower has handed to
    /// watchers: a change seen on a watch is read by a Get after it.
    pub fn new(head: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self {
            entries: RwLock::default(),
            applied: watch::Sender::new(Applied {
                live: false,
                through: 0,
            }),
            handed: Handed(Box::new(head)),
        }
    }

    fn entries(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces everything with a snapshot taken at sequence `at`; the cache
    /// is live from here.
    pub fn replace(&self, snapshot: HashMap<String, Entry>, at: i64) {
        let mut entries = self.entries();
        *entries = snapshot;
        self.applied.send_replace(Applied {
            live: true,
            through: at,
        });
    }

    /// Applies the changes through sequence `through`, in order.
    pub fn apply(&self, changes: Vec<Change>, through: i64) {
        {
            let mut entries = self.entries();
            for change in changes {
                match change {
                    Change::Put(name, entry) => {
                        entries.insert(name, entry);
                    }
                    Change::Remove(name) => {
                        entries.remove(&name);
                    }
                }
            }
        }
        self.advance(through);
    }

    /// Every change through `through` is applied (a bookmark).
    pub fn advance(&self, through: i64) {
        self.applied.send_if_modified(|applied| {
            let moved = applied.live && through > applied.through;
            if moved {
                applied.through = through;
            }
            moved
        });
    }

    /// The feed stopped: Gets read the database until the next snapshot.
    pub fn stop(&self) {
        let mut entries = self.entries();
        self.applied.send_modify(|applied| applied.live = false);
        entries.clear();
    }

    /// The resource, read from memory once the cache has applied this
    /// replica's last write; `None` when the database must answer (not
    /// live, or not caught up in time).
    pub async fn get<T: Resource>(&self, name: &str) -> Option<Result<T, ApiError>> {
        let written = last_written().max((self.handed.0)());
        let mut applied = self.applied.subscribe();
        let caught_up = tokio::time::timeout(
            CATCH_UP,
            applied.wait_for(|a| !a.live || a.through >= written),
        )
        .await;
        match caught_up {
            Ok(Ok(a)) if a.live => {}
            _ => return None,
        }
        let found = {
            // Live is read again under the lock that `stop` and `replace`
            // hold while they change it: never an emptied map.
            let entries = self
                .entries
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !self.applied.borrow().live {
                return None;
            }
            entries
                .get(name)
                .filter(|e| e.resource_type == T::KIND as i32)
                .map(|e| e.data.clone())
        };
        Some(match found {
            Some(data) => decode(name, &data),
            None => Err(ApiError::NotFound {
                name: name.to_owned(),
            }),
        })
    }
}
