//! ImportResources: batches keyed by name, one transaction each; every item
//! is created, kept, merged with what other sources state, or rejected with
//! its reason.
//!
//! A batch is decided by the one decision of every write
//! (`storage::decide`): what the database holds for it read up front, each
//! item decided in order after the items before it, everything written in a
//! few statements.

use frontierwatch_proto::v1::{
    ImportItem, ImportOutcome, ImportResourcesRequest, ImportResourcesResponse, ImportResult,
    Source, import_item,
};

use super::standard::validate;
use crate::domain::Resource;
use crate::domain::claims::{self, Authority};
use crate::error::ApiError;
use crate::storage::{Actor, ImportItem as Write, Imported, Store};

/// The most items one call may carry.
pub const MAX_ITEMS: usize = 5000;

/// Runs `$body` with `$r` bound to the resource an item holds, whatever its
/// kind: the one place that lists the importable kinds.
macro_rules! each_resource {
    ($resource:expr, $r:ident => $body:expr) => {
        match $resource {
            import_item::Resource::Organization($r) => $body,
            import_item::Resource::Model($r) => $body,
            import_item::Resource::Release($r) => $body,
            import_item::Resource::Benchmark($r) => $body,
            import_item::Resource::BenchmarkResult($r) => $body,
            import_item::Resource::Disclosure($r) => $body,
            import_item::Resource::Indicator($r) => $body,
            import_item::Resource::TransparencyIndex($r) => $body,
            import_item::Resource::Commitment($r) => $body,
            import_item::Resource::Offering($r) => $body,
            import_item::Resource::Measurement($r) => $body,
        }
    };
}

pub async fn import(
    store: &Store,
    request: ImportResourcesRequest,
    actor: Actor,
) -> Result<ImportResourcesResponse, ApiError> {
    if request.items.is_empty() || request.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            format!("must hold 1 to {MAX_ITEMS} items"),
        ));
    }
    let _timer = crate::metrics::Timer::query("import");
    let source = request.source.as_ref();
    let mut items = request
        .items
        .into_iter()
        .map(|item| Item::check(item, source))
        .collect::<Result<Vec<_>, _>>()?;
    let mut writes = Vec::with_capacity(items.len());
    for item in &mut items {
        if let Some(resource) = item.resource.take() {
            let claimant = item.claimant.clone();
            writes.push(each_resource!(resource, r => Write::new(r, claimant, actor.clone())));
        }
    }
    let mut imported = store.import(&writes).await?.into_iter();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in &items {
        match item.rejection() {
            Some(rejected) => outcomes.push(rejected),
            None => {
                let answer = imported.next().ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("an import answered too few items"))
                })?;
                outcomes.push(item.outcome(answer));
            }
        }
    }
    for outcome in &outcomes {
        let kind = frontierwatch_proto::v1::ResourceType::try_from(outcome.resource_type)
            .ok()
            .and_then(|t| t.kind())
            .map_or("unknown", |k| k.field);
        let result = match ImportResult::try_from(outcome.result) {
            Ok(ImportResult::Created) => "created",
            Ok(ImportResult::Updated) => "updated",
            Ok(ImportResult::Unchanged) => "unchanged",
            _ => "rejected",
        };
        metrics::counter!(crate::metrics::IMPORT_ITEMS, "kind" => kind, "outcome" => result)
            .increment(1);
    }
    Ok(ImportResourcesResponse { outcomes })
}

/// An item after the checks that need no database.
struct Item {
    line: i64,
    name: String,
    resource_type: i32,
    /// The resource to import; `None` when the item is rejected already.
    resource: Option<import_item::Resource>,
    claimant: (String, Authority),
    /// Why the item is rejected, when it is.
    rejected: Option<String>,
}

impl Item {
    fn check(item: ImportItem, source: Option<&Source>) -> Result<Self, ApiError> {
        let Some(resource) = item.resource else {
            return Ok(Item {
                line: item.line,
                name: String::new(),
                resource_type: 0,
                resource: None,
                claimant: (String::new(), 0),
                rejected: Some("the item holds no resource".to_owned()),
            });
        };
        let (name, resource_type, problem, claimant) = each_resource!(&resource, r => {
            let problem = problem(r);
            let claimant = match problem {
                None => claims::claimant(r, source)?,
                Some(_) => (String::new(), 0),
            };
            (r.name().to_owned(), kind_of(r), problem, claimant)
        });
        Ok(Item {
            line: item.line,
            name,
            resource_type,
            resource: problem.is_none().then_some(resource),
            claimant,
            rejected: problem,
        })
    }

    fn outcome(&self, imported: Imported) -> ImportOutcome {
        let (result, reason) = match imported {
            Imported::Created => (ImportResult::Created, String::new()),
            Imported::Unchanged => (ImportResult::Unchanged, String::new()),
            Imported::Updated => (ImportResult::Updated, String::new()),
            Imported::Rejected(reason) => (ImportResult::Rejected, reason),
        };
        ImportOutcome {
            line: self.line,
            name: self.name.clone(),
            resource_type: self.resource_type,
            result: result as i32,
            reason,
        }
    }

    fn rejection(&self) -> Option<ImportOutcome> {
        self.rejected
            .as_ref()
            .map(|reason| self.outcome(Imported::Rejected(reason.clone())))
    }
}

fn kind_of<T: Resource>(_: &T) -> i32 {
    T::KIND as i32
}

/// Why a resource cannot be imported whatever the database holds.
fn problem<T: Resource>(resource: &T) -> Option<String> {
    if !T::KIND.is_valid_name(resource.name()) {
        return Some(format!(
            "invalid: {}.name must be a resource name of the form {}",
            T::FIELD,
            T::KIND.pattern()
        ));
    }
    validate(resource).err().map(|e| e.reason_text())
}
