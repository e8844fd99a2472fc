//! SQLSTATE codes mapped to the service's errors, in one place.

use crate::error::ApiError;

/// What a write was doing when the database refused it; a foreign key
/// violation means "referenced resource missing" while inserting and
/// "resource still referenced" while deleting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Delete,
}

/// Maps a database error to the error the caller sees.
pub fn map_db_error(error: sqlx::Error, operation: Operation, name: &str) -> ApiError {
    if let sqlx::Error::Database(db) = &error {
        match (db.code().as_deref(), operation) {
            // unique_violation
            (Some("23505"), _) => {
                return ApiError::AlreadyExists {
                    name: name.to_owned(),
                };
            }
            // foreign_key_violation
            (Some("23503"), Operation::Delete) => {
                return ApiError::InUse {
                    name: name.to_owned(),
                };
            }
            (Some("23503"), Operation::Write | Operation::Read) => {
                return ApiError::ReferenceNotFound {
                    field: "reference".to_owned(),
                    name: name.to_owned(),
                };
            }
            // 40P01 deadlock_detected, 40001 serialization_failure: the
            // write lost to a concurrent one and may be retried.
            (Some("40P01" | "40001"), _) => return ApiError::Contention(error),
            // 57P01 admin_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
            (Some(code), _) if code == "57P01" || code == "57P03" || code.starts_with("08") => {
                return ApiError::Unavailable(error);
            }
            _ => {}
        }
    }
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            ApiError::Unavailable(error)
        }
        other => ApiError::Internal(anyhow::Error::new(other).context(format!(
            "database {} of {name} failed",
            match operation {
                Operation::Read => "read",
                Operation::Write => "write",
                Operation::Delete => "delete",
            }
        ))),
    }
}

/// Whether a failure to connect is one that waiting can mend: the server
/// is not reachable yet (refused, reset, no route, a name that does not
/// resolve yet, a timeout) or PostgreSQL is starting, shutting down or out
/// of connection slots. A certificate that does not verify, a refused
/// password or a database that does not exist are not: they need a person.
pub fn is_transient_connect_error(error: &sqlx::Error) -> bool {
    match error {
        // A TLS handshake that fails verification surfaces as an I/O
        // error of kind InvalidData (rustls' errors): not transient.
        sqlx::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::InvalidInput
                | std::io::ErrorKind::PermissionDenied
        ),
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // cannot_connect_now, admin_shutdown, crash_shutdown,
            // too_many_connections
            Some("57P03" | "57P01" | "57P02" | "53300")
        ),
        _ => false,
    }
}
