//! ImportResources: batches keyed by name, one transaction each; every item
//! is created, kept, merged with what other sources state, or rejected with
//! its reason.

use frontierwatch_proto::v1::{
    ImportOutcome, ImportResourcesRequest, ImportResourcesResponse, ImportResult, Source,
    import_item,
};

use super::standard::validate;
use crate::domain::{Resource, claims};
use crate::error::ApiError;
use crate::storage::{ImportBatch, Imported, Store};

/// The most items one call may carry.
pub const MAX_ITEMS: usize = 5000;

pub async fn import(
    store: &Store,
    request: ImportResourcesRequest,
) -> Result<ImportResourcesResponse, ApiError> {
    if request.items.is_empty() || request.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            format!("must hold 1 to {MAX_ITEMS} items"),
        ));
    }
    let _timer = crate::metrics::Timer::query("import");
    let source = request.source.as_ref();
    let mut batch = store.begin_import().await?;
    let mut outcomes = Vec::with_capacity(request.items.len());
    for item in request.items {
        let line = item.line;
        let outcome = match item.resource {
            None => ImportOutcome {
                line,
                result: ImportResult::Rejected as i32,
                reason: "the item holds no resource".to_owned(),
                ..Default::default()
            },
            Some(import_item::Resource::Organization(r)) => {
                one(&mut batch, line, r, source).await?
            }
            Some(import_item::Resource::Model(r)) => one(&mut batch, line, r, source).await?,
            Some(import_item::Resource::Release(r)) => one(&mut batch, line, r, source).await?,
            Some(import_item::Resource::Benchmark(r)) => one(&mut batch, line, r, source).await?,
            Some(import_item::Resource::BenchmarkResult(r)) => {
                one(&mut batch, line, r, source).await?
            }
            Some(import_item::Resource::Disclosure(r)) => one(&mut batch, line, r, source).await?,
            Some(import_item::Resource::Indicator(r)) => one(&mut batch, line, r, source).await?,
            Some(import_item::Resource::TransparencyIndex(r)) => {
                one(&mut batch, line, r, source).await?
            }
            Some(import_item::Resource::Commitment(r)) => one(&mut batch, line, r, source).await?,
        };
        outcomes.push(outcome);
    }
    batch.commit().await?;
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

async fn one<T: Resource>(
    batch: &mut ImportBatch,
    line: i64,
    resource: T,
    source: Option<&Source>,
) -> Result<ImportOutcome, ApiError> {
    let name = resource.name().to_owned();
    let resource_type = T::KIND as i32;
    let rejected = |reason: String| ImportOutcome {
        line,
        name: name.clone(),
        resource_type,
        result: ImportResult::Rejected as i32,
        reason,
    };
    if !T::KIND.is_valid_name(&name) {
        return Ok(rejected(format!(
            "invalid: {}.name must be a resource name of the form {}",
            T::FIELD,
            T::KIND.pattern()
        )));
    }
    if let Err(error) = validate(&resource) {
        return Ok(rejected(error.reason_text()));
    }
    let claimant = claims::claimant(&resource, source)?;
    let (result, reason) = match batch.import(resource, claimant).await? {
        Imported::Created => (ImportResult::Created, String::new()),
        Imported::Unchanged => (ImportResult::Unchanged, String::new()),
        Imported::Updated => (ImportResult::Updated, String::new()),
        Imported::Rejected(reason) => (ImportResult::Rejected, reason),
    };
    Ok(ImportOutcome {
        line,
        name,
        resource_type,
        result: result as i32,
        reason,
    })
}
