//! AIP-134 update masks, applied generically through the message descriptor.

use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::reflect::{descriptor, to_dynamic};
use super::{Resource, Violations};
use crate::error::ApiError;

/// Fields a caller can never write.
const OUTPUT_ONLY: &[&str] = &["name", "create_time", "update_time", "etag", "conflicts"];

/// A masked update: the new state, and the top-level fields it writes
/// (what a person's update decides: `settings.shots` decides `settings`).
pub struct Masked<T> {
    pub updated: T,
    pub fields: Vec<String>,
}

/// Applies `patch` to `current` under `paths`.
///
/// An empty mask means every field set in `patch`; `*` means every mutable
/// field. Paths may reach into nested messages (`settings.shots`). Immutable
/// fields may be named only with their current value.
pub fn apply<T: Resource>(current: &T, patch: &T, paths: &[String]) -> Result<Masked<T>, ApiError> {
    let mut violations = Violations::under("update_mask");
    let desc = descriptor::<T>()?;
    let mut target = to_dynamic(current)?;
    let source = to_dynamic(patch)?;
    let paths = effective_paths(&desc, &source, paths, &mut violations);

    for path in &paths {
        let top = path.split('.').next().unwrap_or_default();
        if OUTPUT_ONLY.contains(&top) {
            violations.add("paths", format!("`{path}` is output only"));
            continue;
        }
        if let Err(why) = copy_path(&desc, &mut target, &source, path) {
            violations.add("paths", format!("`{path}`: {why}"));
        }
    }
    violations.into_result()?;

    let updated: T = target.transcode_to().map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("a masked update does not transcode"))
    })?;
    let mut immutable = Violations::under(T::FIELD);
    for field in super::reflect::changed_immutable(current, &updated)? {
        immutable.add(field, "is immutable once created");
    }
    immutable.into_result()?;
    let mut fields: Vec<String> = Vec::new();
    for path in &paths {
        let top = path.split('.').next().unwrap_or_default();
        if !fields.iter().any(|f| f == top) {
            fields.push(top.to_owned());
        }
    }
    Ok(Masked { updated, fields })
}

/// The paths an update writes: those of the mask, every field set in the
/// patch for an empty mask, every mutable field for `*`.
fn effective_paths(
    desc: &MessageDescriptor,
    source: &DynamicMessage,
    paths: &[String],
    violations: &mut Violations,
) -> Vec<String> {
    if paths.is_empty() {
        source
            .fields()
            .map(|(field, _)| field.name().to_owned())
            .filter(|name| !OUTPUT_ONLY.contains(&name.as_str()))
            .collect()
    } else if paths.iter().any(|p| p == "*") {
        if paths.len() > 1 {
            violations.add("paths", "`*` must be the only path");
        }
        desc.fields()
            .map(|field| field.name().to_owned())
            .filter(|name| !OUTPUT_ONLY.contains(&name.as_str()))
            .collect()
    } else {
        paths.to_vec()
    }
}

fn copy_path(
    desc: &MessageDescriptor,
    target: &mut DynamicMessage,
    source: &DynamicMessage,
    path: &str,
) -> Result<(), &'static str> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let field = desc.get_field_by_name(head).ok_or("no such field")?;
    let Some(rest) = rest else {
        if source.has_field(&field) {
            target.set_field(&field, source.get_field(&field).into_owned());
        } else {
            target.clear_field(&field);
        }
        return Ok(());
    };
    let inner_desc = field
        .kind()
        .as_message()
        .cloned()
        .ok_or("not a message field")?;
    if field.is_list() || field.is_map() {
        return Err("cannot reach inside a repeated field");
    }
    let source_inner = source
        .get_field(&field)
        .as_message()
        .cloned()
        .unwrap_or_else(|| DynamicMessage::new(inner_desc.clone()));
    let target_inner = target
        .get_field_mut(&field)
        .as_message_mut()
        .ok_or("not a message field")?;
    copy_path(&inner_desc, target_inner, &source_inner, rest)
}
