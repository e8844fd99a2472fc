//! Release cadence against a commitment, and timelines of releases.

use chrono::{NaiveDate, Utc};
use frontierwatch_proto::v1::*;

use crate::domain::Kind;
use crate::domain::analytics::{cadence, qualifying_date};
use crate::domain::violations::to_naive_date;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics as queries;

/// Today, or the requested date.
pub fn today_or(date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| Utc::now().date_naive())
}

/// The qualifying releases of a commitment, with the dates they count from.
pub async fn qualifying_releases(
    store: &Store,
    commitment: &Commitment,
) -> Result<Vec<(String, NaiveDate)>, ApiError> {
    let subject = if commitment.model.is_empty() {
        &commitment.organization
    } else {
        &commitment.model
    };
    let releases = queries::releases_of(store.pool(), subject).await?;
    Ok(releases
        .iter()
        .filter_map(|r| qualifying_date(commitment, r).map(|d| (r.name.clone(), d)))
        .collect())
}

/// The cadence report of the commitment `name` as of a date (today when
/// none).
pub async fn cadence_report(
    store: &Store,
    name: &str,
    as_of: Option<NaiveDate>,
) -> Result<CadenceReport, ApiError> {
    let commitment: Commitment = store.get(name).await?;
    let releases = qualifying_releases(store, &commitment).await?;
    Ok(cadence(&commitment, &releases, today_or(as_of)))
}

/// The dated events of the releases of a model line or an organization.
pub async fn timeline(store: &Store, subject: String) -> Result<Timeline, ApiError> {
    if Kind::of_name(&subject) == Some(Kind::Model) {
        store.get::<Model>(&subject).await?;
    } else {
        store.get::<Organization>(&subject).await?;
    }
    let mut events = Vec::new();
    for release in queries::releases_of(store.pool(), &subject).await? {
        let event = |date: &ApproximateDate,
                     kind: TimelineEventKind,
                     stage: i32,
                     audience: &str| TimelineEvent {
            date: Some(*date),
            kind: kind as i32,
            release: release.name.clone(),
            display_name: release.display_name.clone(),
            stage,
            audience: audience.to_owned(),
        };
        if let Some(d) = &release.announce_date {
            events.push(event(d, TimelineEventKind::Announced, 0, ""));
        }
        if let Some(d) = &release.release_date {
            events.push(event(d, TimelineEventKind::Released, 0, ""));
        }
        for change in &release.stage_history {
            if let Some(d) = &change.date {
                events.push(event(
                    d,
                    TimelineEventKind::StageChanged,
                    change.stage,
                    &change.audience,
                ));
            }
        }
    }
    let key = |e: &TimelineEvent| e.date.and_then(|d| d.date).and_then(|d| to_naive_date(&d));
    events.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.release.cmp(&b.release))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    Ok(Timeline { subject, events })
}
