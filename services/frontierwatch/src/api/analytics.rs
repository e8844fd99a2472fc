//! Leaderboards, comparisons, cadence reports and timelines: requests
//! validated into the typed queries of the analytics layer (`analytics`),
//! which answers them (transparency reports are in `transparency.rs`).

use chrono::NaiveDate;
use frontierwatch_proto::v1::*;

use super::history::answer;
use crate::analytics::{self, LeaderboardQuery};
use crate::domain::kinds::weights_of;
use crate::domain::violations::{check_date, to_naive_date};
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::ResultFilter;
use crate::storage::known::Results;

pub(super) fn as_of(field: &str, date: Option<&Date>, v: &mut Violations) -> Option<NaiveDate> {
    let date = date?;
    match check_date(date) {
        Ok(()) => to_naive_date(date),
        Err(why) => {
            v.add(field, why);
            None
        }
    }
}

/// GetLeaderboard: the request validated, then answered (from the record
/// as known then, with `known_as_of`).
pub async fn leaderboard(store: &Store, r: GetLeaderboardRequest) -> Result<Leaderboard, ApiError> {
    let known_as_of = r.known_as_of;
    let query = leaderboard_query(r)?;
    let results = Results::OfBenchmark(query.benchmark.clone());
    answer(store, known_as_of.as_ref(), &results, async |store| {
        analytics::board(store, &query).await
    })
    .await
}

/// Validates a GetLeaderboard request.
fn leaderboard_query(r: GetLeaderboardRequest) -> Result<LeaderboardQuery, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "benchmark", &r.benchmark, Kind::Benchmark);
    let filter = Counted {
        as_of: r.as_of.as_ref(),
        evaluators: r.evaluators,
        include_disputed: r.include_disputed,
        access: r.access,
    }
    .filter(&mut v);
    let grouping = LeaderboardGrouping::try_from(r.grouping).unwrap_or_else(|_| {
        v.add("grouping", format!("{} is not a known value", r.grouping));
        LeaderboardGrouping::Unspecified
    });
    if !(0..=1000).contains(&r.limit) {
        v.add("limit", "must be between 0 and 1000");
    }
    v.into_result()?;
    Ok(LeaderboardQuery {
        benchmark: r.benchmark,
        filter,
        grouping,
        limit: if r.limit == 0 { 100 } else { r.limit as usize },
    })
}

/// A name the request requires, of one kind.
pub(super) fn required_name(v: &mut Violations, field: &str, name: &str, kind: Kind) {
    if name.is_empty() {
        v.add(field, "is required");
    }
    v.name_of(field, name, kind);
}

/// The options of the analytics requests that say which results count.
pub(super) struct Counted<'a> {
    pub as_of: Option<&'a Date>,
    pub evaluators: i32,
    pub include_disputed: bool,
    pub access: i32,
}

impl Counted<'_> {
    /// The filter the options ask for, their violations added to `v`.
    pub fn filter(&self, v: &mut Violations) -> ResultFilter {
        let relation = match EvaluatorFilter::try_from(self.evaluators) {
            Ok(EvaluatorFilter::Unspecified) => None,
            Ok(EvaluatorFilter::FirstPartyOnly) => Some("EVALUATOR_RELATION_FIRST_PARTY"),
            Ok(EvaluatorFilter::ThirdPartyOnly) => Some("EVALUATOR_RELATION_THIRD_PARTY"),
            Err(_) => {
                v.add(
                    "evaluators",
                    format!("{} is not a known value", self.evaluators),
                );
                None
            }
        };
        ResultFilter {
            as_of: as_of("as_of", self.as_of, v),
            include_disputed: self.include_disputed,
            relation,
            weights: weights_of(access_filter(self.access, v)),
        }
    }
}

/// An access filter's value, checked.
pub(super) fn access_filter(access: i32, v: &mut Violations) -> AccessFilter {
    AccessFilter::try_from(access).unwrap_or_else(|_| {
        v.add("access", format!("{access} is not a known value"));
        AccessFilter::Unspecified
    })
}

pub async fn compare(
    store: &Store,
    r: CompareReleasesRequest,
) -> Result<CompareReleasesResponse, ApiError> {
    let mut v = Violations::default();
    if r.releases.len() < 2 {
        v.add("releases", "at least two releases are required");
    }
    if r.releases.len() > 100 {
        v.add("releases", "at most 100 releases");
    }
    for (i, release) in r.releases.iter().enumerate() {
        if !Kind::Release.is_valid_name(release) {
            v.add(
                &format!("releases[{i}]"),
                format!(
                    "must be a resource name of the form {}",
                    Kind::Release.pattern()
                ),
            );
        } else if r.releases[..i].contains(release) {
            v.add(&format!("releases[{i}]"), "is listed twice");
        }
    }
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    v.into_result()?;
    // The releases' results, found by their model lines.
    let lines = r
        .releases
        .iter()
        .filter_map(|release| crate::domain::names::model_of_release(release))
        .collect();
    let query = analytics::CompareQuery {
        releases: r.releases,
        as_of,
        include_disputed: r.include_disputed,
    };
    let results = Results::OfModels(lines);
    answer(store, r.known_as_of.as_ref(), &results, async |store| {
        analytics::compare(store, &query).await
    })
    .await
}

pub async fn cadence_report(
    store: &Store,
    r: GetCadenceReportRequest,
) -> Result<CadenceReport, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "commitment", &r.commitment, Kind::Commitment);
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    v.into_result()?;
    analytics::cadence_report(store, &r.commitment, as_of).await
}

pub async fn timeline(store: &Store, r: GetTimelineRequest) -> Result<Timeline, ApiError> {
    let mut v = Violations::default();
    match Kind::of_name(&r.subject) {
        Some(Kind::Model) => {}
        Some(Kind::Organization) => {}
        _ => v.add("subject", "must name a model line (models/{model}) or an organization (organizations/{organization})"),
    }
    v.into_result()?;
    analytics::timeline(store, r.subject).await
}
