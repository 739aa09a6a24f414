//! Whether a failed copy can succeed when tried again: one classification every event source uses.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

/// S3 error codes that say "not now" rather than "never": throttling,
/// timeouts, internal errors, a conflicting operation in progress, a skewed
/// clock; a multipart upload that vanished under a live copy (another copy
/// of the key took it for an orphan: see `upload::orphans`), which a new
/// attempt replaces. A retry later can succeed.
const TRANSIENT_CODES: [&str; 10] = [
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "OperationAborted",
    "RequestTimeTooSkewed",
    "BadDigest",
    "NoSuchUpload",
];

/// Whether a failure can pass on a retry of the same work.
///
/// Event sources map it onto their own retry signal: an SQS message returns to
/// the queue either way (a permanent failure ends in the dead-letter queue
/// after the redrive count), S3 Batch Operations gets `TemporaryFailure` or
/// `PermanentFailure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureClass {
    /// Throttling, timeouts, 5xx, a cut connection, the deadline: a retry
    /// later can succeed.
    Transient,
    /// The request itself is refused (missing key, access denied, archived
    /// object, bad input): retrying the same work fails the same way.
    Permanent,
}

impl FailureClass {
    /// The class of an SDK error: no response, 429, 5xx or a transient code
    /// is transient; a request the SDK could not build, and any other answer
    /// S3 gave, is permanent.
    pub fn of_sdk<E: ProvideErrorMetadata>(error: &SdkError<E>) -> FailureClass {
        match error {
            SdkError::ConstructionFailure(_) => FailureClass::Permanent,
            SdkError::ServiceError(_) => {
                let status = error.raw_response().map(|r| r.status().as_u16());
                let code = error.as_service_error().and_then(|e| e.code());
                let transient = matches!(status, Some(429) | Some(500..))
                    || code.is_some_and(|code| TRANSIENT_CODES.contains(&code));
                if transient {
                    FailureClass::Transient
                } else {
                    FailureClass::Permanent
                }
            }
            // Timeouts, dispatch failures, unreadable responses.
            _ => FailureClass::Transient,
        }
    }

    /// True for [`FailureClass::Permanent`].
    pub fn is_permanent(self) -> bool {
        self == FailureClass::Permanent
    }
}
