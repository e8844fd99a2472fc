//! Black-box tests of the Frontier Watch server: the real binary on a random
//! port over a real PostgreSQL, through the generated client.

mod alerts;
mod analytics;
mod analytics_plans;
mod auth;
mod batch_create;
mod change_log;
mod cli;
mod cli_analytics;
mod client;
mod datasets;
mod deployment;
mod discovery;
mod export;
mod fixtures;
mod fuzz;
mod group_commit;
mod harness;
mod history;
mod import_pipeline;
mod imports;
mod kinds;
mod limits;
mod list_plans;
mod lists;
mod lookup_plans;
mod market;
mod metrics;
mod moves;
mod platform;
mod probe;
mod progress;
mod progress_properties;
mod python_client;
mod read_cache;
mod references;
mod rehearsal;
mod sources;
mod standard_methods;
mod tls;
mod trace_context;
mod transparency;
mod typed_columns;
mod updates;
mod validation;
mod watch;
mod watch_bytes;
mod watch_edges;
mod watch_faults;
mod watch_support;

/// The CLI's argument for a kind (`benchmark-results`).
pub fn kinds_arg(kind: &frontierwatch_proto::kinds::KindInfo) -> String {
    kind.plural_field.replace('_', "-")
}
