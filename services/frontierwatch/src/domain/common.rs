//! What every kind's `Resource` implementation shares (`kinds`,
//! `market`): the metadata accessors, and the small conversions of fields
//! into index columns and references.

use frontierwatch_proto::v1::Date;

use super::Ref;
use super::violations::to_naive_date;

/// Implements the metadata accessors every resource message shares.
macro_rules! meta_accessors_impl {
    () => {
        fn name(&self) -> &str {
            &self.name
        }
        fn set_meta(&mut self, meta: $crate::domain::Meta) {
            self.name = meta.name;
            self.create_time = meta.create_time;
            self.update_time = meta.update_time;
            self.etag = meta.etag;
        }
        fn etag(&self) -> &str {
            &self.etag
        }
        fn create_time(&self) -> Option<prost_types::Timestamp> {
            self.create_time
        }
        fn set_conflicts(&mut self, conflicts: Vec<frontierwatch_proto::v1::FieldConflict>) {
            self.conflicts = conflicts;
        }
    };
}
pub(super) use meta_accessors_impl as meta_accessors;

pub(super) fn some(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

pub(super) fn enum_name<E: TryFrom<i32>>(
    value: i32,
    name: fn(&E) -> &'static str,
) -> Option<String> {
    E::try_from(value).ok().map(|e| name(&e).to_owned())
}

pub(super) fn date(d: Option<&Date>) -> Option<chrono::NaiveDate> {
    d.and_then(to_naive_date)
}

pub(super) fn refs_of(field: &'static str, names: &[String]) -> Vec<Ref> {
    names
        .iter()
        .filter(|name| !name.is_empty())
        .map(|name| Ref {
            field,
            name: name.clone(),
        })
        .collect()
}
