//! All SQL of the service lives under this module.

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
pub mod lookups;
pub mod migrate;
mod moves;
mod resources;
mod rows;
mod snapshot;
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
