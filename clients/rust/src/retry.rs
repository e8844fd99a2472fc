//! Retry with exponential backoff and jitter.

use std::time::Duration;

use tonic::Code;

/// How calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based), with up to 25 %
    /// jitter so that clients that failed together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = exp.mul_f64(f64::from(nanos % 1000) / 4000.0);
        exp + jitter
    }
}

/// Whether a failed call is worth retrying: the server was unreachable or
/// unreachable. Only idempotent calls are retried.
pub fn retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable)
}

/// `retryable`, or a call whose connection broke under it (tonic reports
/// a transport failure as `UNKNOWN`, or `CANCELLED` when the connection
/// closed, with the transport error as its source): the server may be
/// gone, and another may answer. Only calls
/// that are idempotent (creates carry a request id) are retried.
pub fn retryable_status(status: &tonic::Status) -> bool {
    retryable(status.code())
        || (matches!(status.code(), Code::Unknown | Code::Cancelled)
            && std::error::Error::source(status).is_some_and(|e| e.is::<tonic::transport::Error>()))
}
