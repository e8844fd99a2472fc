//! All SQL of the service lives under this module.

pub mod analytics;
pub mod changes;
pub mod error;
pub mod filter;
mod resources;

pub use resources::{ImportBatch, Imported, Store};
