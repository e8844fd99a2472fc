//! Errors from the server, shown the way a user can act on them.

use tonic::Status;
use tonic_types::StatusExt as _;

/// Turns a status into an error message with its reason and field
/// violations.
pub fn fail(status: Status) -> anyhow::Error {
    let mut message = format!("{:?}: {}", status.code(), status.message());
    if let Some(info) = status.get_details_error_info() {
        message.push_str(&format!(" [{}]", info.reason));
    }
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            message.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(message)
}
