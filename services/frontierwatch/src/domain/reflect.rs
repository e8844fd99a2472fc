//! Rules that hold for every message, checked by walking the message through
//! its descriptor: no enum value outside its definition, no oversized string.
//! Kind-specific rules live in `kinds.rs`.

use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind as FieldKind, MessageDescriptor, ReflectMessage, Value,
};

use super::Violations;
use super::violations::{MAX_LONG_STRING, MAX_SHORT_STRING};
use super::wire;
use crate::error::ApiError;

/// The descriptor pool of `frontierwatch.v1`, decoded once (also the
/// request guard's).
pub(crate) fn pool() -> Result<&'static DescriptorPool, ApiError> {
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

/// `resource` with `to` in place of `from` in each of its top-level
/// string fields named in `fields` (singular or repeated): the references
/// to a resource that was moved.
pub fn repoint<T: super::Resource>(
    resource: &T,
    fields: &[String],
    from: &str,
    to: &str,
) -> Result<T, ApiError> {
    let mut dynamic = to_dynamic(resource)?;
    let swap = |value: &Value| match value {
        Value::String(s) if s == from => Value::String(to.to_owned()),
        other => other.clone(),
    };
    for field in fields {
        let Some(field) = dynamic.descriptor().get_field_by_name(field) else {
            continue;
        };
        let value = match dynamic.get_field(&field).as_ref() {
            Value::List(items) => Value::List(items.iter().map(swap).collect()),
            other => swap(other),
        };
        dynamic.set_field(&field, value);
    }
    dynamic
        .transcode_to::<T>()
        .map_err(|e| internal(format!("{} does not transcode: {e}", T::full_name())))
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
///
/// The encoded message is scanned first ([`may_violate`]), which costs one
/// encode and no allocation per field; only a message the scan finds
/// suspect is transcoded to a dynamic message and walked to name the
/// fields. Transcoding and walking every message took a sixth of the
/// server's CPU in bulk calls (measured with perf on `ImportResources`
/// and `BatchCreateBenchmarkResults`).
pub fn check_message<T: prost::Message + prost::Name>(
    message: &T,
    v: &mut Violations,
) -> Result<(), ApiError> {
    if !may_violate(&descriptor::<T>()?, &message.encode_to_vec(), 0) {
        return Ok(());
    }
    walk(&to_dynamic(message)?, "", v);
    Ok(())
}

/// The most characters a string field may hold.
fn max_chars(field: &prost_reflect::FieldDescriptor) -> usize {
    if LONG_TEXT_FIELDS.contains(&field.name()) {
        MAX_LONG_STRING
    } else {
        MAX_SHORT_STRING
    }
}

/// Whether the encoded `message` may break a rule of [`walk`]: false only
/// when its wire format reads to its end with every string within its
/// length, every enum value defined and every repeated field within
/// [`MAX_REPEATED`] items, nested messages included. Anything it cannot
/// read, it calls suspect.
fn may_violate(message: &MessageDescriptor, bytes: &[u8], depth: usize) -> bool {
    if depth > wire::MAX_DEPTH {
        return true;
    }
    // Items seen so far of each repeated field: (number, items).
    let mut items: Vec<(u32, usize)> = Vec::new();
    for read in wire::fields(bytes) {
        let Ok((number, value)) = read else {
            return true;
        };
        let Some(field) = message.get_field(number) else {
            continue;
        };
        let count = match (field.kind(), value) {
            // Enums are int32 on the wire, negatives sign-extended.
            (FieldKind::Enum(e), wire::Value::Varint(v)) if e.get_value(v as i32).is_none() => {
                return true;
            }
            (FieldKind::String, wire::Value::Delimited(s)) => {
                let max = max_chars(&field);
                // UTF-8: a character is a byte that does not continue
                // another.
                if s.len() > max && s.iter().filter(|&&b| (b as i8) >= -0x40).count() > max {
                    return true;
                }
                1
            }
            (FieldKind::Message(inner), wire::Value::Delimited(m)) => {
                if !field.is_map() && may_violate(&inner, m, depth + 1) {
                    return true;
                }
                1
            }
            (FieldKind::Bytes, _) => 1,
            // A packed repeated scalar: count its items, and check enum
            // values.
            (kind, wire::Value::Delimited(packed)) => match packed_items(&kind, packed) {
                Some(n) => n,
                None => return true,
            },
            _ => 1,
        };
        if field.is_list() {
            match items.iter_mut().find(|(n, _)| *n == number) {
                Some((_, seen)) => *seen += count,
                None => items.push((number, count)),
            }
        }
    }
    items.iter().any(|&(_, n)| n > MAX_REPEATED)
}

/// The items of a packed repeated scalar field of `kind`; `None` when one
/// does not read or an enum value is not defined.
fn packed_items(kind: &FieldKind, mut value: &[u8]) -> Option<usize> {
    use prost::encoding::decode_varint;
    let size = match kind {
        FieldKind::Double | FieldKind::Fixed64 | FieldKind::Sfixed64 => 8,
        FieldKind::Float | FieldKind::Fixed32 | FieldKind::Sfixed32 => 4,
        _ => 0,
    };
    if size > 0 {
        return value
            .len()
            .is_multiple_of(size)
            .then_some(value.len() / size);
    }
    let mut n = 0;
    while !value.is_empty() {
        let number = decode_varint(&mut value).ok()?;
        if let FieldKind::Enum(e) = kind
            && e.get_value(number as i32).is_none()
        {
            return None;
        }
        n += 1;
    }
    Some(n)
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
            let max = max_chars(field);
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

#[cfg(test)]
mod tests {
    use super::*;
    use frontierwatch_proto::v1::*;

    /// The violations the walk finds, without the scan.
    fn walked<T: prost::Message + prost::Name>(message: &T) -> usize {
        let mut v = Violations::under("r");
        walk(&to_dynamic(message).unwrap(), "", &mut v);
        v.into_result().err().map_or(0, |e| match e {
            ApiError::InvalidArgument(fields) => fields.len(),
            other => panic!("{other:?}"),
        })
    }

    /// What the scan says, and that it never passes what the walk refuses.
    fn scanned<T: prost::Message + prost::Name>(message: &T) -> bool {
        let suspect = may_violate(&descriptor::<T>().unwrap(), &message.encode_to_vec(), 0);
        assert!(
            suspect || walked(message) == 0,
            "the scan passed a violation"
        );
        suspect
    }

    #[test]
    fn the_scan_passes_only_what_the_walk_passes() {
        let release = Release {
            display_name: "R".into(),
            access: vec![AccessKind::Api as i32, AccessKind::OpenWeights as i32],
            stage_history: vec![StageChange {
                stage: LifecycleStage::Announced as i32,
                ..Default::default()
            }],
            aliases: vec!["r".into(); 3],
            ..Default::default()
        };
        assert!(!scanned(&release), "a valid release is not suspect");

        // Enum values: packed, nested, negative.
        let mut bad = release.clone();
        bad.access.push(99);
        assert!(scanned(&bad) && walked(&bad) == 1);
        let mut bad = release.clone();
        bad.stage_history[0].stage = 77;
        assert!(scanned(&bad) && walked(&bad) == 1);
        let bad = Organization {
            kind: -5,
            ..Default::default()
        };
        assert!(scanned(&bad) && walked(&bad) == 1);

        // Repeated fields, packed and not: MAX_REPEATED items pass, one more
        // does not.
        let mut many = release.clone();
        many.access = vec![AccessKind::Api as i32; MAX_REPEATED];
        many.aliases = vec!["a".into(); MAX_REPEATED];
        assert!(!scanned(&many));
        many.access.push(AccessKind::Api as i32);
        assert!(scanned(&many) && walked(&many) == 1);
        let mut many = release.clone();
        many.aliases = vec!["a".into(); MAX_REPEATED + 1];
        assert!(scanned(&many) && walked(&many) == 1);

        // Strings count characters, not bytes; long text has its own limit.
        let org = |name: String| Organization {
            display_name: name,
            ..Default::default()
        };
        assert!(!scanned(&org("é".repeat(MAX_SHORT_STRING))));
        let long = org("e".repeat(MAX_SHORT_STRING + 1));
        assert!(scanned(&long) && walked(&long) == 1);
        let benchmark = |description: String| Benchmark {
            description,
            ..Default::default()
        };
        assert!(!scanned(&benchmark("d".repeat(MAX_SHORT_STRING * 2))));
        let long = benchmark("d".repeat(MAX_LONG_STRING + 1));
        assert!(scanned(&long) && walked(&long) == 1);
    }

    /// What it cannot read, the scan calls suspect.
    #[test]
    fn the_scan_calls_what_it_cannot_read_suspect() {
        let org = descriptor::<Organization>().unwrap();
        // A length beyond the message, a group, a truncated varint.
        for bytes in [&[0x0a, 0x05, b'a'][..], &[0x0b][..], &[0x08, 0x80][..]] {
            assert!(may_violate(&org, bytes, 0), "{bytes:?}");
        }
    }
}
