//! All SQL of the service lives under this module.

/// Evaluates `$body` with the type `$T` standing for the message of the
/// resource kind `$kind` (a `Kind`), or `$otherwise` for a value that is no
/// kind of stored resource. The one list of stored kinds by type in
/// `storage/`: the match names them all, so a new kind cannot be forgotten.
macro_rules! with_kind {
    ($kind:expr, $T:ident => $body:expr, otherwise => $otherwise:expr) => {{
        use frontierwatch_proto::v1 as kinds;
        match $kind {
            crate::domain::Kind::Organization => {
                type $T = kinds::Organization;
                $body
            }
            crate::domain::Kind::Model => {
                type $T = kinds::Model;
                $body
            }
            crate::domain::Kind::Release => {
                type $T = kinds::Release;
                $body
            }
            crate::domain::Kind::Benchmark => {
                type $T = kinds::Benchmark;
                $body
            }
            crate::domain::Kind::BenchmarkResult => {
                type $T = kinds::BenchmarkResult;
                $body
            }
            crate::domain::Kind::Disclosure => {
                type $T = kinds::Disclosure;
                $body
            }
            crate::domain::Kind::Indicator => {
                type $T = kinds::Indicator;
                $body
            }
            crate::domain::Kind::TransparencyIndex => {
                type $T = kinds::TransparencyIndex;
                $body
            }
            crate::domain::Kind::Commitment => {
                type $T = kinds::Commitment;
                $body
            }
            crate::domain::Kind::Offering => {
                type $T = kinds::Offering;
                $body
            }
            crate::domain::Kind::Measurement => {
                type $T = kinds::Measurement;
                $body
            }
            crate::domain::Kind::Unspecified | crate::domain::Kind::Alert => $otherwise,
        }
    }};
}

pub mod admin;
pub mod analytics;
mod append;
mod batch;
#[cfg(test)]
mod batch_tests;
pub mod cache;
pub mod changes;
mod claims;
mod decide;
pub mod error;
pub mod filter;
mod group;
mod items;
pub mod known;
pub mod lookups;
pub mod market;
mod merge;
pub mod migrate;
mod moves;
pub mod progress;
mod resources;
pub mod revisions;
mod rows;
mod snapshot;
mod statements;
pub mod tokens;

pub use append::Actor;
pub use decide::Imported;
pub use items::ImportItem;
pub use resources::Store;

/// A stored time as a protobuf timestamp.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Writes the registry of kinds into `resource_kinds`, whose name patterns
/// the schema checks every stored name against. Runs at start, before the
/// server serves.
pub async fn register_kinds(pool: &sqlx::PgPool) -> Result<(), crate::error::ApiError> {
    let kinds = crate::domain::names::KINDS;
    let fields: Vec<&str> = kinds.iter().map(|k| k.field).collect();
    let patterns: Vec<String> = kinds.iter().map(|k| k.name_regex()).collect();
    sqlx::query(
        "INSERT INTO resource_kinds (kind, name_pattern) \
         SELECT * FROM UNNEST($1::text[], $2::text[]) \
         ON CONFLICT (kind) DO UPDATE SET name_pattern = EXCLUDED.name_pattern \
         WHERE resource_kinds.name_pattern <> EXCLUDED.name_pattern",
    )
    .bind(fields)
    .bind(patterns)
    .execute(pool)
    .await
    .map_err(|e| error::map_db_error(e, error::Operation::Write, "the kinds of resource"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// What each module of `storage/` uses of the others (`super::name`),
    /// read from its source, tests left out.
    fn graph() -> BTreeMap<String, BTreeSet<String>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/storage");
        let files: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .map(|path| {
                let module = path.file_stem().unwrap().to_string_lossy().into_owned();
                (module, std::fs::read_to_string(&path).unwrap())
            })
            .filter(|(module, _)| module != "mod" && !module.ends_with("_tests"))
            .collect();
        let modules: BTreeSet<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
        files
            .iter()
            .map(|(module, source)| {
                let source = source.split("#[cfg(test)]").next().unwrap_or_default();
                let uses = source
                    .match_indices("super::")
                    .map(|(at, _)| {
                        source[at + 7..]
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect::<String>()
                    })
                    .filter(|used| used != module && modules.contains(used.as_str()))
                    .collect();
                (module.clone(), uses)
            })
            .collect()
    }

    #[test]
    fn the_modules_of_storage_form_no_cycle() {
        let graph = graph();
        for (module, uses) in &graph {
            println!(
                "{module} -> {}",
                uses.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        // Kahn's algorithm: what is left once every module without uses
        // is taken away, again and again, lies on a cycle.
        let mut left = graph.clone();
        while let Some(leaf) = left
            .iter()
            .find(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
        {
            left.remove(&leaf);
        }
        assert!(
            left.is_empty(),
            "modules on a cycle, or using one: {:?}",
            left.keys()
        );
        assert!(graph.len() > 10, "the modules were not read: {graph:?}");
    }
}
