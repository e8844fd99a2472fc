//! The service's error contract: every failure a caller can see, mapped to a
//! gRPC status with a `google.rpc.ErrorInfo` (stable UPPER_SNAKE reason) and,
//! for invalid requests, `google.rpc.BadRequest` field violations.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::violations::FieldViolation;

/// The ErrorInfo domain of every error this service returns.
pub const ERROR_DOMAIN: &str = "frontierwatch.v1";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{name} was not found")]
    NotFound { name: String },
    #[error("{name} already exists")]
    AlreadyExists { name: String },
    #[error("{field} refers to {name}, which does not exist")]
    ReferenceNotFound { field: String, name: String },
    #[error("{name} is still referenced by other resources")]
    InUse { name: String },
    #[error(
        "{name} has {count} results off the new scale (e.g. {example}); the scale must be \
         {scale} for them: correct or delete them first"
    )]
    ResultsOffScale {
        name: String,
        scale: &'static str,
        count: i64,
        example: String,
    },
    #[error("{name} was published on {published}; as of {as_of} that edition did not exist yet")]
    IndexNotYetPublished {
        name: String,
        published: String,
        as_of: String,
    },
    #[error(
        "{field} {at} is before the service's history begins ({begins}); nothing is known \
         of the record before then"
    )]
    BeforeHistory {
        field: &'static str,
        at: String,
        begins: String,
    },
    #[error("the etag of {name} does not match: it changed since it was read")]
    EtagMismatch { name: String },
    #[error("request_id {request_id} was already used for a different request")]
    RequestIdReused { request_id: String },
    #[error(
        "cannot resume after {cursor}: the change log is retained from {oldest} on; \
         re-snapshot and resume after the snapshot's bookmark"
    )]
    CursorExpired { cursor: i64, oldest: i64, head: i64 },
    #[error(
        "cannot resume after {cursor}: the change log's head is {head}; a cursor is a \
         sequence this service has sent"
    )]
    CursorAhead { cursor: i64, head: i64 },
    #[error(
        "the change log restarted below sequence {known} (head now {head}), as after a \
         restore from backup or a failover; sequences are reused, so re-snapshot"
    )]
    LogReset { known: i64, head: i64 },
    #[error("the watcher did not read for {seconds}s; {}", resume_hint(*resume_after))]
    SlowConsumer {
        /// None while a snapshot was being sent: there is no resume point.
        resume_after: Option<i64>,
        seconds: u64,
    },
    #[error("this replica serves at most {limit} watches at once")]
    WatchLimit { limit: usize },
    #[error("{token} has {limit} watches open on this replica, its limit")]
    WatchLimitPerToken { token: String, limit: usize },
    #[error("the server is shutting down; {}", resume_hint(*resume_after))]
    ShuttingDown { resume_after: Option<i64> },
    #[error("the write conflicted with a concurrent write; retry it")]
    Contention(#[source] sqlx::Error),
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The same error with field paths placed under `prefix` (an item of a
    /// batch request).
    pub fn at(self, prefix: &str) -> Self {
        match self {
            ApiError::InvalidArgument(violations) => ApiError::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: format!("{prefix}.{}", v.field),
                        description: v.description,
                    })
                    .collect(),
            ),
            ApiError::ReferenceNotFound { field, name } => ApiError::ReferenceNotFound {
                field: format!("{prefix}.{field}"),
                name,
            },
            other => other,
        }
    }

    /// A one-line account for reports (import outcomes): the violations of
    /// an invalid request, or the error's message. Never internal details.
    pub fn reason_text(&self) -> String {
        match self {
            ApiError::InvalidArgument(violations) => format!("invalid: {}", describe(violations)),
            other => other.to_string(),
        }
    }

    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }
}

fn info(reason: &str, metadata: &[(&str, &str)]) -> ErrorDetails {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata)
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        let (code, details) = match &error {
            ApiError::InvalidArgument(violations) => {
                let mut details = info("INVALID_ARGUMENT", &[]);
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let message = format!("invalid request: {}", describe(violations));
                return Status::with_error_details(Code::InvalidArgument, message, details);
            }
            ApiError::NotFound { name } => (
                Code::NotFound,
                info("RESOURCE_NOT_FOUND", &[("resource", name)]),
            ),
            ApiError::AlreadyExists { name } => (
                Code::AlreadyExists,
                info("RESOURCE_ALREADY_EXISTS", &[("resource", name)]),
            ),
            ApiError::ReferenceNotFound { field, name } => {
                let mut details = info(
                    "REFERENCED_RESOURCE_NOT_FOUND",
                    &[("field", field), ("resource", name)],
                );
                details.add_precondition_failure_violation(
                    "REFERENCE",
                    name.clone(),
                    message.clone(),
                );
                (Code::FailedPrecondition, details)
            }
            ApiError::InUse { name } => {
                let mut details = info("RESOURCE_IN_USE", &[("resource", name)]);
                details.add_precondition_failure_violation(
                    "REFERENCED",
                    name.clone(),
                    message.clone(),
                );
                (Code::FailedPrecondition, details)
            }
            ApiError::ResultsOffScale { name, example, .. } => {
                let mut details = info(
                    "RESULTS_OFF_SCALE",
                    &[("resource", name), ("example", example)],
                );
                details.add_precondition_failure_violation("SCALE", name.clone(), message.clone());
                (Code::FailedPrecondition, details)
            }
            ApiError::IndexNotYetPublished {
                name, published, ..
            } => {
                let mut details = info(
                    "INDEX_NOT_YET_PUBLISHED",
                    &[("resource", name), ("edition_date", published)],
                );
                details.add_precondition_failure_violation(
                    "EDITION_DATE",
                    name.clone(),
                    message.clone(),
                );
                (Code::FailedPrecondition, details)
            }
            ApiError::BeforeHistory { field, begins, .. } => {
                let mut details = info("BEFORE_HISTORY", &[("history_begins", begins)]);
                details.add_bad_request_violation(*field, message.clone());
                (Code::OutOfRange, details)
            }
            ApiError::EtagMismatch { name } => {
                (Code::Aborted, info("ETAG_MISMATCH", &[("resource", name)]))
            }
            ApiError::RequestIdReused { request_id } => (
                Code::AlreadyExists,
                info("REQUEST_ID_REUSED", &[("request_id", request_id)]),
            ),
            ApiError::CursorExpired {
                cursor,
                oldest,
                head,
            } => (
                Code::FailedPrecondition,
                info(
                    "WATCH_CURSOR_EXPIRED",
                    &[
                        ("start_after_sequence", &cursor.to_string()),
                        ("oldest_retained_sequence", &oldest.to_string()),
                        ("head_sequence", &head.to_string()),
                    ],
                ),
            ),
            ApiError::CursorAhead { cursor, head } => (
                Code::OutOfRange,
                info(
                    "WATCH_CURSOR_AHEAD",
                    &[
                        ("start_after_sequence", &cursor.to_string()),
                        ("head_sequence", &head.to_string()),
                    ],
                ),
            ),
            ApiError::LogReset { known, head } => (
                Code::FailedPrecondition,
                info(
                    "WATCH_LOG_RESET",
                    &[
                        ("known_sequence", &known.to_string()),
                        ("head_sequence", &head.to_string()),
                    ],
                ),
            ),
            ApiError::SlowConsumer { resume_after, .. } => {
                let seq = resume_after.map(|seq| seq.to_string());
                (
                    Code::ResourceExhausted,
                    info("WATCH_SLOW_CONSUMER", &resume_metadata(seq.as_deref())),
                )
            }
            ApiError::WatchLimit { limit } => (
                Code::ResourceExhausted,
                info("WATCH_LIMIT_REACHED", &[("limit", &limit.to_string())]),
            ),
            ApiError::WatchLimitPerToken { token, limit } => (
                Code::ResourceExhausted,
                info(
                    "WATCH_LIMIT_PER_TOKEN",
                    &[("token", token), ("limit", &limit.to_string())],
                ),
            ),
            ApiError::ShuttingDown { resume_after } => {
                let seq = resume_after.map(|seq| seq.to_string());
                (
                    Code::Unavailable,
                    info("SERVER_SHUTTING_DOWN", &resume_metadata(seq.as_deref())),
                )
            }
            ApiError::Contention(cause) => {
                tracing::info!(error = %cause, "write lost to a concurrent one");
                (Code::Aborted, info("CONCURRENT_WRITE_CONFLICT", &[]))
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                (Code::Unavailable, info("DATABASE_UNAVAILABLE", &[]))
            }
            ApiError::Internal(cause) => {
                // The cause chain goes to the log, never to the caller.
                tracing::error!(error = ?cause, "internal error");
                (Code::Internal, info("INTERNAL", &[]))
            }
        };
        Status::with_error_details(code, message, details)
    }
}

/// What a watcher ended by the server should do next.
fn resume_hint(resume_after: Option<i64>) -> String {
    match resume_after {
        Some(seq) => format!("resume after sequence {seq}"),
        None => "the snapshot was cut short: open a new snapshot".to_owned(),
    }
}

/// The resume point as ErrorInfo metadata; none for a cut-short snapshot.
fn resume_metadata(resume_after: Option<&str>) -> Vec<(&'static str, &str)> {
    resume_after
        .map(|seq| ("resume_after_sequence", seq))
        .into_iter()
        .collect()
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}
