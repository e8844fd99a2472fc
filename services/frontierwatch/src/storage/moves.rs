//! MoveRelease: a release takes a new name in another model line, and
//! everything that refers to it follows, in one transaction.
//!
//! The order inside the transaction: the release is locked; its new row is
//! inserted (with its references, so the destination line must exist);
//! its claims move to the new name; every resource that refers to it is
//! rewritten (the referring fields, in the resource and in each of its
//! claims) and stored with new index columns and references; the old
//! names that led to it are carried along and its own old name recorded
//! (`moved_names`); then the old row is deleted, which the foreign keys
//! allow only once nothing refers to it. The change records come last:
//! created, the updates, deleted.

use frontierwatch_proto::v1::Release;
use sqlx::PgConnection;

use super::append::{Actor, ChangeKind, PendingChange, append_changes, commit};
use super::batch::{Item, Pass, pass};
use super::error::{Operation, map_db_error};
use super::items::{Insert, Replace};
use super::resources::Store;
use super::rows::{decode, lock_current, new_etag};
use super::timestamp;
use crate::domain::{Meta, Resource, reflect};
use crate::error::ApiError;

impl Store {
    /// Moves the release `name` to `new_name` (see the module).
    pub async fn move_release(
        &self,
        name: &str,
        new_name: &str,
        etag: &str,
        actor: Actor,
    ) -> Result<Release, ApiError> {
        let _timer = crate::metrics::Timer::query("move");
        let mut tx = self.begin(name).await?;
        let current: Release = match lock_current(&mut tx, name, etag).await {
            // A retry of a move that committed: the old name leads to the
            // new one.
            Err(ApiError::NotFound { .. })
                if moved_to(&mut tx, name).await? == Some(new_name.to_owned()) =>
            {
                return self.get(new_name).await;
            }
            other => other?,
        };
        let now = chrono::Utc::now();
        let mut moved = rename(&current, new_name);
        moved.set_meta(Meta {
            name: new_name.to_owned(),
            create_time: current.create_time(),
            update_time: Some(timestamp(now)),
            etag: new_etag(),
        });
        let error = |e| map_db_error(e, Operation::Write, name);
        // Locked, so that no update of a referring resource slips between
        // this read and its rewrite.
        let referrers: Vec<(String, String, Vec<u8>, Vec<String>)> = sqlx::query_as(
            "SELECT r.name, r.kind, r.data, \
                    ARRAY(SELECT f.field FROM resource_refs f \
                           WHERE f.from_name = r.name AND f.to_name = $1) \
               FROM resources r \
              WHERE r.name IN (SELECT from_name FROM resource_refs \
                                WHERE to_name = $1 AND from_name <> $1) \
              ORDER BY r.name FOR UPDATE",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(error)?;
        // The new row and the referrers' new states, decided and written
        // as one batch: the new row first, so that they may refer to it.
        let repoints: Vec<(Repoint, &str)> = referrers
            .iter()
            .map(|(referrer, kind, data, fields)| {
                let repoint = Repoint {
                    name: referrer,
                    data,
                    fields,
                    from: name,
                    to: new_name,
                    actor: &actor,
                };
                (repoint, kind.as_str())
            })
            .collect();
        let mut items: Vec<Box<dyn Item<()>>> = vec![Box::new(Insert {
            resource: moved.clone(),
            actor: actor.clone(),
        })];
        for (repoint, kind) in &repoints {
            items.push(repoint.of_kind(kind)?);
        }
        let items: Vec<&dyn Item<()>> = items.iter().map(|i| &**i).collect();
        let mut changes = match pass(&mut tx, &items, false).await? {
            Pass::Written(answers, changes) => {
                answers.into_iter().collect::<Result<Vec<()>, ApiError>>()?;
                changes
            }
            Pass::Again(refused) => return Err(refused),
        };
        move_claims(&mut tx, name, new_name).await?;
        for (repoint, kind) in &repoints {
            repoint.claims_of_kind(&mut tx, kind).await?;
        }
        sqlx::query(
            "WITH carried AS (UPDATE moved_names SET target = $2 WHERE target = $1) \
             INSERT INTO moved_names (name, target) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET target = EXCLUDED.target, move_time = now()",
        )
        .bind(name)
        .bind(new_name)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        sqlx::query("DELETE FROM moved_names WHERE name = $1")
            .bind(new_name)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        sqlx::query("DELETE FROM resources WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_db_error(e, Operation::Delete, name))?;
        changes.push(PendingChange::of(&current, ChangeKind::Deleted, &actor));
        let written = append_changes(&mut tx, &changes).await?;
        commit(tx, name, written).await?;
        Ok(moved)
    }

    /// The name a resource that was moved from `name` has now, if any.
    pub async fn moved_to(&self, name: &str) -> Result<Option<String>, ApiError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| map_db_error(e, Operation::Read, name))?;
        moved_to(&mut conn, name).await
    }
}

async fn moved_to(conn: &mut PgConnection, name: &str) -> Result<Option<String>, ApiError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT target FROM moved_names WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Read, name))?;
    Ok(row.map(|(target,)| target))
}

/// The release under its new name, its old id among its aliases.
fn rename(release: &Release, new_name: &str) -> Release {
    let mut moved = release.clone();
    moved.name = new_name.to_owned();
    let old_id = release.name.rsplit('/').next().unwrap_or_default();
    let new_id = new_name.rsplit('/').next().unwrap_or_default();
    if old_id != new_id && !moved.aliases.iter().any(|a| a == old_id) {
        moved.aliases.push(old_id.to_owned());
    }
    moved
}

/// The release's claims, under its new name and with its old id an alias,
/// so that a later merge of its sources keeps both.
async fn move_claims(conn: &mut PgConnection, from: &str, to: &str) -> Result<(), ApiError> {
    let mut claims = super::claims::load::<Release>(conn, from).await?;
    if claims.is_empty() {
        return Ok(());
    }
    for claim in &mut claims {
        claim.resource = rename(&claim.resource, to);
    }
    super::claims::save(conn, to, &claims.iter().collect::<Vec<_>>()).await?;
    sqlx::query("DELETE FROM resource_claims WHERE name = $1")
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, from))?;
    Ok(())
}

/// A resource that refers to a moved one, and the fields that do.
struct Repoint<'a> {
    name: &'a str,
    data: &'a [u8],
    fields: &'a [String],
    from: &'a str,
    to: &'a str,
    actor: &'a Actor,
}

/// Runs `$apply::<T>` for the stored kind `$kind` of `$self.name`, whatever
/// it is (the match lists them all, so a new kind cannot be forgotten).
macro_rules! of_kind {
    ($self:ident, $kind:expr, $apply:ident $(, $arg:expr)*) => {
        of_kind!(@ $self, $kind, $apply ($($arg),*) )
    };
    ($self:ident, $kind:expr, await $apply:ident $(, $arg:expr)*) => {
        of_kind!(@ $self, $kind, $apply ($($arg),*) .await)
    };
    (@ $self:ident, $kind:expr, $apply:ident ($($arg:expr),*) $($post:tt)*) => {{
        let Some(kind) = crate::domain::names::KINDS
            .iter()
            .find(|k| k.field == $kind)
            .map(|k| k.resource_type)
        else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "{} is stored with an unknown kind {}",
                $self.name,
                $kind
            )));
        };
        with_kind!(kind, T => $self.$apply::<T>($($arg),*) $($post)*, otherwise => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "{} is stored without a kind of resource",
                $self.name
            )))
        })
    }};
}

impl Repoint<'_> {
    /// The resource's new state, as a write of the move's batch.
    fn of_kind(&self, kind: &str) -> Result<Box<dyn Item<()>>, ApiError> {
        of_kind!(self, kind, apply)
    }

    fn apply<T: Resource>(&self) -> Result<Box<dyn Item<()>>, ApiError> {
        let current: T = decode(self.name, self.data)?;
        let mut updated = reflect::repoint(&current, self.fields, self.from, self.to)?;
        updated.set_meta(Meta {
            name: self.name.to_owned(),
            create_time: current.create_time(),
            update_time: Some(timestamp(chrono::Utc::now())),
            etag: new_etag(),
        });
        Ok(Box::new(Replace {
            current,
            updated,
            actor: self.actor.clone(),
        }))
    }

    /// Rewrites the referring fields in each of the resource's claims.
    async fn claims_of_kind(&self, conn: &mut PgConnection, kind: &str) -> Result<(), ApiError> {
        of_kind!(self, kind, await repoint_claims, conn)
    }

    async fn repoint_claims<T: Resource>(&self, conn: &mut PgConnection) -> Result<(), ApiError> {
        let mut claims = super::claims::load::<T>(conn, self.name).await?;
        for claim in &mut claims {
            claim.resource = reflect::repoint(&claim.resource, self.fields, self.from, self.to)?;
        }
        super::claims::save(conn, self.name, &claims.iter().collect::<Vec<_>>()).await
    }
}
