//! Watch filters: validated from the request, matched against change
//! records in memory, and turned into snapshot queries. Resource types come
//! from the registry of kinds (`frontierwatch_proto::kinds`).

use frontierwatch_proto::v1::{ChangeKind, ResourceType, WatchRequest};

use super::hub::Route;
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::changes::{ChangeRecord, SnapshotFilter};

/// The resource type of a protobuf type name.
pub fn type_of_message(full_name: &str) -> ResourceType {
    ResourceType::of_message(full_name)
}
/// The change kind of a change-log `change_kind` value.
pub fn change_kind(value: &str) -> ChangeKind {
    match value {
        "created" => ChangeKind::Created,
        "updated" => ChangeKind::Updated,
        "deleted" => ChangeKind::Deleted,
        _ => ChangeKind::Unspecified,
    }
}

/// A validated watch filter.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    types: Vec<ResourceType>,
    organization: Option<String>,
    model: Option<String>,
    benchmark: Option<String>,
    change_kinds: Vec<ChangeKind>,
}

impl WatchFilter {
    /// Validates the filter fields of a request.
    pub fn from_request(request: &WatchRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let mut types = Vec::new();
        for (i, t) in request.resource_types.iter().enumerate() {
            match ResourceType::try_from(*t) {
                Ok(ResourceType::Unspecified) | Err(_) => {
                    v.add(
                        &format!("resource_types[{i}]"),
                        format!("{t} is not a resource type"),
                    );
                }
                Ok(t) => types.push(t),
            }
        }
        let mut change_kinds = Vec::new();
        for (i, k) in request.change_kinds.iter().enumerate() {
            match ChangeKind::try_from(*k) {
                Ok(ChangeKind::Unspecified) | Err(_) => {
                    v.add(
                        &format!("change_kinds[{i}]"),
                        format!("{k} is not a change kind"),
                    );
                }
                Ok(k) => change_kinds.push(k),
            }
        }
        v.name_of("organization", &request.organization, Kind::Organization);
        v.name_of("model", &request.model, Kind::Model);
        v.name_of("benchmark", &request.benchmark, Kind::Benchmark);
        v.into_result()?;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(Self {
            types,
            organization: some(&request.organization),
            model: some(&request.model),
            benchmark: some(&request.benchmark),
            change_kinds,
        })
    }

    /// Whether a change record matches.
    pub fn matches(&self, record: &ChangeRecord) -> bool {
        (self.types.is_empty()
            || self
                .types
                .contains(&ResourceType::of_message(&record.resource_type)))
            && (self.change_kinds.is_empty()
                || self
                    .change_kinds
                    .contains(&change_kind(&record.change_kind)))
            && self
                .organization
                .as_ref()
                .is_none_or(|org| record.organizations.contains(org))
            && self
                .model
                .as_ref()
                .is_none_or(|model| record.model.as_ref() == Some(model))
            && self
                .benchmark
                .as_ref()
                .is_none_or(|b| record.benchmark.as_ref() == Some(b))
    }

    /// The dimension the replica's index of watchers serves this filter by:
    /// the most selective one it names.
    pub fn route(&self) -> Route {
        if let Some(benchmark) = &self.benchmark {
            Route::Benchmark(benchmark.clone())
        } else if let Some(model) = &self.model {
            Route::Model(model.clone())
        } else if let Some(organization) = &self.organization {
            Route::Organization(organization.clone())
        } else {
            Route::All
        }
    }

    /// The same filter as a snapshot query (change kinds do not apply).
    pub fn snapshot(&self) -> SnapshotFilter {
        SnapshotFilter {
            // Only stored kinds have a state; a filter on alerts alone
            // snapshots nothing.
            kinds: (!self.types.is_empty()).then(|| {
                self.types
                    .iter()
                    .filter_map(|t| t.kind())
                    .map(|k| k.field.to_owned())
                    .collect()
            }),
            organization: self.organization.clone(),
            model: self.model.clone(),
            benchmark: self.benchmark.clone(),
        }
    }
}
