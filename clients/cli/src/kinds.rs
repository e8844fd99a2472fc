//! The resource kinds as the CLI names them, derived from the contract's
//! registry of kinds (`frontierwatch_proto::kinds`).

use frontierwatch_client::proto::ResourceType;
use frontierwatch_client::proto::kinds::{KINDS, KindInfo};

/// Create's id field: `organization_id`.
pub fn id_field(kind: &KindInfo) -> String {
    format!("{}_id", kind.field)
}

/// What users type: the list field with hyphens (`benchmark-results`).
pub fn arg(kind: &KindInfo) -> String {
    kind.plural_field.replace('_', "-")
}

/// Short spellings the CLI accepts beside the derived ones.
const SHORTHANDS: &[(&str, &str)] = &[
    ("results", "benchmark_results"),
    ("result", "benchmark_results"),
];

/// The kind a user named: its plural or singular, with hyphens,
/// underscores or none (`benchmark-results`, `benchmark_result`,
/// `benchmarkresults`, the collection `benchmarkResults`), or a shorthand
/// (`results`).
pub fn by_arg(arg: &str) -> anyhow::Result<&'static KindInfo> {
    let typed = arg.to_ascii_lowercase().replace(['-', '_'], "");
    let shorthand = SHORTHANDS
        .iter()
        .find(|(short, _)| *short == typed)
        .map(|(_, plural)| plural.replace('_', ""));
    let wanted = shorthand.unwrap_or(typed);
    KINDS
        .iter()
        .find(|k| {
            let plural = k.plural_field.replace('_', "");
            let singular = k.field.replace('_', "");
            wanted == plural || wanted == singular || wanted == k.collection.to_ascii_lowercase()
        })
        .ok_or_else(|| {
            let known: Vec<String> = KINDS.iter().map(self::arg).collect();
            anyhow::anyhow!("unknown resource type {arg:?}; one of {}", known.join(", "))
        })
}

/// The label of a resource type in reports: its shorthand if it has
/// one, else its collection.
pub fn label(resource_type: ResourceType) -> &'static str {
    let Some(kind) = KindInfo::of(resource_type) else {
        return "unknown";
    };
    SHORTHANDS
        .iter()
        .find(|(_, plural)| *plural == kind.plural_field)
        .map_or(kind.collection, |(short, _)| short)
}

/// The kind of a resource name.
pub fn by_name(name: &str) -> anyhow::Result<&'static KindInfo> {
    KindInfo::of_name(name).ok_or_else(|| {
        let patterns: Vec<String> = KINDS.iter().map(KindInfo::pattern).collect();
        anyhow::anyhow!("{name:?} is not a resource name ({})", patterns.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_kind_is_named_by_its_arg_and_by_its_names() {
        for kind in KINDS {
            let info = by_arg(&arg(kind)).expect("arg resolves");
            assert_eq!(info.message, kind.message);
            assert_eq!(by_arg(kind.field).expect("singular").message, kind.message);
        }
        assert_eq!(by_arg("results").unwrap().message, "BenchmarkResult");
        assert_eq!(by_arg("Commitments").unwrap().message, "Commitment");
        assert_eq!(by_name("models/m/releases/r").unwrap().message, "Release");
        assert!(by_arg("nonsense").is_err());
    }
}
