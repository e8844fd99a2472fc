//! Rules that hold for every message, checked by walking the message through
//! its descriptor: no enum value outside its definition, no oversized string.
//! Kind-specific rules live in `kinds.rs`.

use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind as FieldKind, MessageDescriptor, ReflectMessage, Value,
};

use super::Violations;
use super::violations::{MAX_LONG_STRING, MAX_SHORT_STRING};
use crate::error::ApiError;

/// The descriptor pool of `frontierwatch.v1`, decoded once.
fn pool() -> Result<&'static DescriptorPool, ApiError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| {
        internal(format!(
            "the compiled-in descriptor set does not decode: {e}"
        ))
    })
}

fn internal(message: String) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(message))
}

/// The descriptor of a generated message type.
pub fn descriptor<T: prost::Name>() -> Result<MessageDescriptor, ApiError> {
    let name = T::full_name();
    pool()?
        .get_message_by_name(&name)
        .ok_or_else(|| internal(format!("{name} is not in the descriptor set")))
}

/// Converts a generated message to its dynamic form.
pub fn to_dynamic<T: prost::Message + prost::Name>(
    message: &T,
) -> Result<DynamicMessage, ApiError> {
    let mut dynamic = DynamicMessage::new(descriptor::<T>()?);
    dynamic
        .transcode_from(message)
        .map_err(|e| internal(format!("{} does not transcode: {e}", T::full_name())))?;
    Ok(dynamic)
}

/// The immutable fields of a kind that differ between two states of a
/// resource. A field is immutable once set: setting one that was unset (an
/// indicator stored before it had an edition) is not a change.
pub fn changed_immutable<T: super::Resource>(
    before: &T,
    after: &T,
) -> Result<Vec<&'static str>, ApiError> {
    let (before, after) = (to_dynamic(before)?, to_dynamic(after)?);
    Ok(T::IMMUTABLE
        .iter()
        .copied()
        .filter(|f| {
            let set = before
                .descriptor()
                .get_field_by_name(f)
                .is_some_and(|field| before.has_field(&field));
            set && before.get_field_by_name(f) != after.get_field_by_name(f)
        })
        .collect())
}

/// Fields holding free text, which may be long.
const LONG_TEXT_FIELDS: &[&str] = &["statement", "description", "note", "notes", "definition"];

/// Checks every set field of `message`, recursively, reporting paths under
/// the violations' prefix.
pub fn check_message<T: prost::Message + prost::Name>(
    message: &T,
    v: &mut Violations,
) -> Result<(), ApiError> {
    walk(&to_dynamic(message)?, "", v);
    Ok(())
}

/// The most items of any repeated field of a resource (aliases, sources,
/// developers, stage history, ...).
pub const MAX_REPEATED: usize = 1000;

fn walk(message: &DynamicMessage, path: &str, v: &mut Violations) {
    for (field, value) in message.fields() {
        let field_path = if path.is_empty() {
            field.name().to_owned()
        } else {
            format!("{path}.{}", field.name())
        };
        match value {
            Value::List(items) if items.len() > MAX_REPEATED => {
                v.add(
                    &field_path,
                    format!("must hold at most {MAX_REPEATED} items"),
                );
            }
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(&field, item, &format!("{field_path}[{i}]"), v);
                }
            }
            single => check_value(&field, single, &field_path, v),
        }
    }
}

fn check_value(
    field: &prost_reflect::FieldDescriptor,
    value: &Value,
    path: &str,
    v: &mut Violations,
) {
    match (value, field.kind()) {
        (Value::String(s), _) => {
            let max = if LONG_TEXT_FIELDS.contains(&field.name()) {
                MAX_LONG_STRING
            } else {
                MAX_SHORT_STRING
            };
            if s.chars().count() > max {
                v.add(path, format!("must be at most {max} characters"));
            }
        }
        (Value::EnumNumber(number), FieldKind::Enum(enum_descriptor))
            if enum_descriptor.get_value(*number).is_none() =>
        {
            v.add(
                path,
                format!("{number} is not a value of {}", enum_descriptor.full_name()),
            );
        }
        (Value::Message(inner), _) => walk(inner, path, v),
        _ => {}
    }
}
