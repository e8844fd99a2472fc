//! The resource kinds as the CLI names them.

use anyhow::bail;

/// How one kind of resource maps onto the API.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// What users type: `organizations`, `results`, ...
    pub arg: &'static str,
    /// Method stem, singular: `Organization`.
    pub singular: &'static str,
    /// Method stem, plural: `Organizations`.
    pub plural: &'static str,
    /// Request field of the resource: `organization`.
    pub field: &'static str,
    /// Response field of a list: `organizations`.
    pub list_field: &'static str,
    /// Create's id field: `organization_id`.
    pub id_field: &'static str,
    /// Name prefix: `organizations/`.
    pub prefix: &'static str,
    /// Whether create takes a parent (releases).
    pub has_parent: bool,
}

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        arg: "organizations",
        singular: "Organization",
        plural: "Organizations",
        field: "organization",
        list_field: "organizations",
        id_field: "organization_id",
        prefix: "organizations/",
        has_parent: false,
    },
    KindInfo {
        arg: "models",
        singular: "Model",
        plural: "Models",
        field: "model",
        list_field: "models",
        id_field: "model_id",
        prefix: "models/",
        has_parent: false,
    },
    KindInfo {
        arg: "releases",
        singular: "Release",
        plural: "Releases",
        field: "release",
        list_field: "releases",
        id_field: "release_id",
        prefix: "models/",
        has_parent: true,
    },
    KindInfo {
        arg: "benchmarks",
        singular: "Benchmark",
        plural: "Benchmarks",
        field: "benchmark",
        list_field: "benchmarks",
        id_field: "benchmark_id",
        prefix: "benchmarks/",
        has_parent: false,
    },
    KindInfo {
        arg: "results",
        singular: "BenchmarkResult",
        plural: "BenchmarkResults",
        field: "benchmark_result",
        list_field: "benchmark_results",
        id_field: "benchmark_result_id",
        prefix: "benchmarkResults/",
        has_parent: false,
    },
    KindInfo {
        arg: "disclosures",
        singular: "Disclosure",
        plural: "Disclosures",
        field: "disclosure",
        list_field: "disclosures",
        id_field: "disclosure_id",
        prefix: "disclosures/",
        has_parent: false,
    },
    KindInfo {
        arg: "indicators",
        singular: "Indicator",
        plural: "Indicators",
        field: "indicator",
        list_field: "indicators",
        id_field: "indicator_id",
        prefix: "indicators/",
        has_parent: false,
    },
];

/// The kind a user named (plural or singular, a few synonyms).
pub fn by_arg(arg: &str) -> anyhow::Result<KindInfo> {
    let arg = arg.to_ascii_lowercase();
    let arg = match arg.as_str() {
        "benchmark-results" | "benchmarkresults" | "result" => "results",
        other => other,
    };
    KINDS
        .iter()
        .find(|k| k.arg == arg || k.arg.strip_suffix('s') == Some(arg))
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|k| k.arg).collect();
            anyhow::anyhow!("unknown resource type {arg:?}; one of {}", known.join(", "))
        })
}

/// The kind of a resource name.
pub fn by_name(name: &str) -> anyhow::Result<KindInfo> {
    if name.starts_with("models/") && name.contains("/releases/") {
        return by_arg("releases");
    }
    match KINDS.iter().find(|k| name.starts_with(k.prefix)) {
        Some(kind) => Ok(*kind),
        None => bail!(
            "{name:?} is not a resource name (organizations/..., models/..., models/.../releases/..., benchmarks/..., benchmarkResults/..., disclosures/..., indicators/...)"
        ),
    }
}
