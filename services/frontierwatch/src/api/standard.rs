//! The five AIP standard methods, written once for every kind of resource:
//! validate, call the store, return the resource.

use prost_types::FieldMask;
use uuid::Uuid;

use crate::domain::{Kind, Resource, Violations, mask};
use crate::error::ApiError;
use crate::storage::filter::{ListQuery, page_size};
use crate::storage::{Actor, Store};

pub use crate::domain::check as validate;

fn check_name(field: &str, name: &str, kind: Kind) -> Result<(), ApiError> {
    match name_problem(name, kind) {
        Some(problem) => Err(ApiError::invalid(field, problem)),
        None => Ok(()),
    }
}

/// What is wrong with a name of a resource of `kind`, if anything.
fn name_problem(name: &str, kind: Kind) -> Option<String> {
    if name.is_empty() {
        Some("is required".to_owned())
    } else if !kind.is_valid_name(name) {
        Some(format!(
            "must be a resource name of the form {}",
            kind.pattern()
        ))
    } else {
        None
    }
}

/// Get.
/// A name a resource was moved from (MoveRelease) answers with the
/// resource under its new name.
pub async fn get<T: Resource>(store: &Store, name: &str) -> Result<T, ApiError> {
    check_name("name", name, T::KIND)?;
    match store.get(name).await {
        Err(ApiError::NotFound { .. }) if let Some(target) = store.moved_to(name).await? => {
            store.get(&target).await
        }
        other => other,
    }
}

/// MoveRelease: the release `name` into the line `model`, under
/// `release_id` or its own id.
pub async fn move_release(
    store: &Store,
    request: frontierwatch_proto::v1::MoveReleaseRequest,
    actor: Actor,
) -> Result<frontierwatch_proto::v1::Release, ApiError> {
    let mut v = Violations::under("");
    let own_id = request.name.rsplit('/').next().unwrap_or_default();
    let id = if request.release_id.is_empty() {
        own_id
    } else {
        request.release_id.as_str()
    };
    let new_name = format!("{}/releases/{id}", request.model);
    for (field, name, kind) in [
        ("name", &request.name, Kind::Release),
        ("model", &request.model, Kind::Model),
    ] {
        if let Some(problem) = name_problem(name, kind) {
            v.add(field, problem);
        }
    }
    if !request.release_id.is_empty() && !crate::domain::names::is_valid_id(&request.release_id) {
        v.add(
            "release_id",
            "must be an id: lower-case letters, digits and hyphens, starting with a letter",
        );
    }
    if v.is_empty() && new_name == request.name {
        v.add(
            "model",
            format!("{} is already in {}", request.name, request.model),
        );
    }
    v.into_result()?;
    store
        .move_release(&request.name, &new_name, &request.etag, actor)
        .await
}

/// Where a new resource's id comes from.
pub struct NewId<'a> {
    /// The request field holding the id, e.g. `organization_id`.
    pub field: &'static str,
    /// The id given; may be empty when `generate` is set.
    pub id: &'a str,
    /// Whether the server picks an id when none is given.
    pub generate: bool,
    /// The parent's name, for kinds that have one.
    pub parent: Option<&'a str>,
}

/// Create.
pub async fn create<T: Resource>(
    store: &Store,
    new_id: NewId<'_>,
    resource: Option<T>,
    request_id: &str,
    actor: Actor,
) -> Result<T, ApiError> {
    let (resource, request_id) = prepare_create(new_id, resource, request_id)?;
    store.create(resource, request_id, actor).await
}

/// Batch create (AIP-233): every item validated, then all written in one
/// transaction.
pub async fn create_batch<T: Resource>(
    store: &Store,
    items: Vec<(NewId<'_>, Option<T>, &str)>,
    actor: Actor,
) -> Result<Vec<T>, ApiError> {
    if items.is_empty() || items.len() > 1000 {
        return Err(ApiError::invalid(
            "requests",
            "must hold 1 to 1000 requests",
        ));
    }
    let mut prepared = Vec::with_capacity(items.len());
    for (position, (new_id, resource, request_id)) in items.into_iter().enumerate() {
        prepared.push(
            prepare_create(new_id, resource, request_id)
                .map_err(|e| e.at(&format!("requests[{position}]")))?,
        );
    }
    store.create_batch(prepared, actor).await
}

/// Validates a create request and names the new resource.
fn prepare_create<T: Resource>(
    new_id: NewId<'_>,
    resource: Option<T>,
    request_id: &str,
) -> Result<(T, Option<Uuid>), ApiError> {
    let mut violations = Violations::default();
    let request_id = if request_id.is_empty() {
        None
    } else {
        match Uuid::parse_str(request_id) {
            Ok(id) => Some(id),
            Err(_) => {
                violations.add("request_id", "must be a UUID");
                None
            }
        }
    };
    if let Some(parent) = new_id.parent {
        if parent.is_empty() {
            violations.add("parent", "is required");
        } else if !Kind::Model.is_valid_name(parent) {
            violations.add(
                "parent",
                format!(
                    "must be a resource name of the form {}",
                    Kind::Model.pattern()
                ),
            );
        }
    }
    let id = if new_id.id.is_empty() && new_id.generate {
        // Derived from the request id when there is one, so that a retry
        // names the same resource and is recognized as a retry.
        let unique = request_id.unwrap_or_else(Uuid::new_v4);
        format!("{}{}", &T::KIND.field()[..1], unique.simple())
    } else {
        new_id.id.to_owned()
    };
    if id.is_empty() {
        violations.add(new_id.field, "is required");
    } else if !crate::domain::names::is_valid_id(&id) {
        violations.add(
            new_id.field,
            "must be 1 to 63 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen",
        );
    }
    let Some(mut resource) = resource else {
        violations.add(T::FIELD, "is required");
        return Err(violations_error(violations));
    };
    violations.into_result()?;

    let name = T::KIND.name(new_id.parent.unwrap_or_default(), &id);
    resource.set_meta(crate::domain::Meta {
        name,
        ..Default::default()
    });
    resource.set_conflicts(Vec::new());
    validate(&resource)?;
    Ok((resource, request_id))
}

fn violations_error(violations: Violations) -> ApiError {
    ApiError::InvalidArgument(violations.into_list())
}

/// Update.
pub async fn update<T: Resource>(
    store: &Store,
    patch: Option<T>,
    update_mask: Option<FieldMask>,
    actor: Actor,
) -> Result<T, ApiError> {
    let Some(patch) = patch else {
        return Err(ApiError::invalid(T::FIELD, "is required"));
    };
    check_name(&format!("{}.name", T::FIELD), patch.name(), T::KIND)?;
    let paths = update_mask.map(|m| m.paths).unwrap_or_default();
    let name = patch.name().to_owned();
    let etag = patch.etag().to_owned();
    store
        .update(
            &name,
            &etag,
            move |current: &T| {
                let masked = mask::apply(current, &patch, &paths)?;
                validate(&masked.updated)?;
                // What a person writes settles those fields against every source.
                Ok((masked.updated, masked.fields))
            },
            actor,
        )
        .await
}

/// Delete.
pub async fn delete<T: Resource>(
    store: &Store,
    name: &str,
    etag: &str,
    actor: Actor,
) -> Result<(), ApiError> {
    check_name("name", name, T::KIND)?;
    store.delete::<T>(name, etag, actor).await
}

/// List: one page and the token of the next.
pub async fn list<T: Resource>(
    store: &Store,
    query: ListQuery,
    requested_page_size: i32,
    page_token: &str,
) -> Result<(Vec<T>, String), ApiError> {
    let size = page_size(requested_page_size)?;
    let key = store.page_token_key();
    let after = query.resume_after(key, T::KIND, page_token)?;
    let (items, more) = store.list::<T>(&query, size, after.as_deref()).await?;
    let next_page_token = match items.last() {
        Some(last) if more => query.page_token(key, T::KIND, last.name()),
        _ => String::new(),
    };
    Ok((items, next_page_token))
}
