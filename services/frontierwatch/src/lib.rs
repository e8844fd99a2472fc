//! The Frontier Watch service: a gRPC system of record for the competitive
//! progress of frontier AI models, persisted in PostgreSQL.
//!
//! - `config`: flags and environment variables;
//! - `startup`: health, listeners, gRPC server;
//! - `database`: the database reached (with bounded retries) and migrated;
//! - `admin_token`: the first admin token, and tokens made from the command
//!   line;
//! - `telemetry`: logs and OpenTelemetry traces;
//! - `health`: readiness that follows the database;
//! - `metrics`: the Prometheus metrics and their listener;
//! - `embedded`: the private PostgreSQL used when no database URL is given;
//! - `api`: thin gRPC handlers;
//! - `domain`: resource kinds, names, validation, update masks;
//! - `storage`: all SQL, the change log included;
//! - `error`: the error contract and its mapping to gRPC statuses.

pub mod admin_token;
pub mod analytics;
pub mod api;
pub mod backoff;
pub mod config;
pub mod database;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod health;
pub mod metrics;
pub mod startup;
pub mod storage;
pub mod stream;
pub mod telemetry;
pub mod tls;
