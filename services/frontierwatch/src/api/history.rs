//! ListRevisions and GetRevision: the durable history of every resource
//! (`storage::revisions`), and the record as known on a date for the
//! questions that take `known_as_of` (`record_at`).

use chrono::{DateTime, Utc};
use frontierwatch_proto::v1::*;

use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::filter::{ListQuery, invalid_page_token, page_size};
use crate::storage::known::{self, Results};
use crate::storage::revisions::{self, Position, RevisionFilter, RevisionRow};
use crate::storage::{Store, timestamp};

/// A valid timestamp (the guard refuses the others) as a time.
fn time_of(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// Whether `name` is a resource name of some kind, or an alert's.
fn is_resource_name(name: &str) -> bool {
    Kind::of_name(name).is_some()
        || name
            .strip_prefix("alerts/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

fn to_proto(row: RevisionRow) -> Revision {
    let reason = match row.reason.as_str() {
        "baseline" => RevisionReason::Baseline,
        "created" => RevisionReason::Created,
        "updated" => RevisionReason::Updated,
        "merged" => RevisionReason::Merged,
        "settled" => RevisionReason::Settled,
        "deleted" => RevisionReason::Deleted,
        _ => RevisionReason::Unspecified,
    };
    Revision {
        name: row.name,
        revision_id: row.revision,
        sequence: row.seq.unwrap_or(0),
        commit_time: Some(timestamp(row.commit_time)),
        reason: reason as i32,
        actor: row.actor.unwrap_or_default(),
        claimant: row.claimant.unwrap_or_default(),
        resource_type: Kind::of_message(&row.resource_type) as i32,
        resource: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", row.resource_type),
            value: row.resource,
        }),
    }
}

/// A page token binds the filter it continues: the filter's description
/// and the position travel signed together (`ListQuery::page_token`).
fn token_text(filter: &RevisionFilter, p: &Position) -> String {
    format!(
        "{filter:?}\n{}\n{}\n{}",
        p.commit_time.timestamp_micros(),
        p.revision,
        p.name
    )
}

fn position_of(filter: &RevisionFilter, text: &str) -> Option<Position> {
    let rest = text.strip_prefix(&format!("{filter:?}\n"))?;
    let mut parts = rest.splitn(3, '\n');
    let micros: i64 = parts.next()?.parse().ok()?;
    let revision: i64 = parts.next()?.parse().ok()?;
    let name = parts.next()?.to_owned();
    Some(Position {
        commit_time: DateTime::from_timestamp_micros(micros)?,
        name,
        revision,
    })
}

pub async fn list(
    store: &Store,
    r: ListRevisionsRequest,
) -> Result<ListRevisionsResponse, ApiError> {
    let mut v = Violations::default();
    if !r.name.is_empty() && !is_resource_name(&r.name) {
        v.add(
            "name",
            "must be the name of a resource, or empty for every resource",
        );
    }
    let size = page_size(r.page_size);
    let start = r.start_time.as_ref().and_then(time_of);
    let end = r.end_time.as_ref().and_then(time_of);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        v.add("end_time", "must be after start_time");
    }
    v.into_result()?;
    let size = size?;
    let filter = RevisionFilter {
        name: (!r.name.is_empty()).then_some(r.name),
        actor: (!r.actor.is_empty()).then_some(r.actor),
        start,
        end,
    };
    let query = ListQuery::default();
    let key = store.page_token_key();
    let after = match query.resume_after(key, Kind::Unspecified, &r.page_token)? {
        None => None,
        Some(text) => Some(position_of(&filter, &text).ok_or_else(invalid_page_token)?),
    };
    let mut rows = revisions::list(store.pool(), &filter, after.as_ref(), size + 1).await?;
    if let Some(name) = &filter.name
        && rows.is_empty()
        && after.is_none()
        && !revisions::known(store.pool(), name).await?
    {
        return Err(ApiError::NotFound { name: name.clone() });
    }
    let more = rows.len() as i64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    let next_page_token = match rows.last() {
        Some(last) if more => query.page_token(
            key,
            Kind::Unspecified,
            &token_text(&filter, &last.position()),
        ),
        _ => String::new(),
    };
    Ok(ListRevisionsResponse {
        revisions: rows.into_iter().map(to_proto).collect(),
        next_page_token,
    })
}

pub async fn get(store: &Store, r: GetRevisionRequest) -> Result<Revision, ApiError> {
    let mut v = Violations::default();
    if r.name.is_empty() {
        v.add("name", "is required");
    } else if !is_resource_name(&r.name) {
        v.add("name", "must be the name of a resource");
    }
    if r.revision_id < 0 {
        v.add(
            "revision_id",
            "must be positive, or 0 to choose by known_as_of",
        );
    }
    if r.revision_id == 0 && r.known_as_of.is_none() {
        v.add("known_as_of", "is required when revision_id is 0");
    }
    if r.revision_id > 0 && r.known_as_of.is_some() {
        v.add("known_as_of", "must be unset when revision_id is set");
    }
    v.into_result()?;
    let not_found = || ApiError::NotFound {
        name: r.name.clone(),
    };
    let row = match r.known_as_of.as_ref().and_then(time_of) {
        Some(at) if r.revision_id == 0 => {
            known::check(store, "known_as_of", at).await?;
            revisions::at(store.pool(), &r.name, at)
                .await?
                .filter(|row| row.reason != "deleted")
        }
        _ => revisions::get(store.pool(), &r.name, r.revision_id).await?,
    };
    row.map(to_proto).ok_or_else(not_found)
}

/// Answers `question` from the record as it stands, or, with
/// `known_as_of`, as it stood then: every resource but the results, and
/// the results `results` asks for (`storage::known`), on a connection of
/// its own that ends with the answer.
pub async fn answer<A>(
    store: &Store,
    known_as_of: Option<&prost_types::Timestamp>,
    results: &Results,
    question: impl AsyncFnOnce(&Store) -> Result<A, ApiError>,
) -> Result<A, ApiError> {
    let Some(at) = known_as_of.and_then(time_of) else {
        return question(store).await;
    };
    known::check(store, "known_as_of", at).await?;
    let known = store.known_as_of(at, results).await?;
    let answer = question(known.store()).await;
    known.close().await;
    answer
}
