//! What an S3 error to a server-side copy means: fall back to streaming, superseded, or a failure.

use crate::copy::error::CopyError;
use crate::copy::source::{ARCHIVED_CODES, SourceSpec, names_customer_key};
use crate::copy::upload::{Destination, write_error};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Error codes with which S3-compatible stores say they cannot copy
/// server-side at all; streaming the bytes through the function works there.
const UNSUPPORTED_CODES: [&str; 4] = [
    "NotImplemented",
    "NotSupported",
    "XNotImplemented",
    "UnsupportedOperation",
];

/// How a 412 to a copy request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PreconditionOf {
    /// Only the source was conditional (`x-amz-copy-source-if-match`):
    /// the source changed.
    Source,
    /// Only the destination was conditional (`If-Match`/`If-None-Match`).
    Destination,
    /// Both were: the caller finds out which.
    Either,
}

/// Why the store refused, when streaming can overcome it: `NotImplemented`
/// (or a 501) from a store without server-side copy, or an `InvalidRequest`
/// that names the copy itself (e.g. a copy the store cannot make between
/// these buckets). SSE-C, access denied and archived sources are refused
/// for streaming too, so they are failures, not fallbacks.
pub(crate) fn fallback_reason<E>(error: &SdkError<E>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let service = error.as_service_error()?;
    let code = service.code().unwrap_or("");
    let message = service.message().unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let unsupported = status == Some(501) || UNSUPPORTED_CODES.contains(&code);
    let uncopyable = code == "InvalidRequest"
        && lower.contains("copy")
        && !lower.contains("encrypt")
        && !lower.contains("checksum");
    (unsupported || uncopyable).then(|| {
        if message.is_empty() {
            code.to_owned()
        } else {
            format!("{code}: {message}")
        }
    })
}

/// Maps an SDK error of `operation` (a copy request) onto the copy's error
/// classes; `precondition` says whose condition a 412 failed.
pub(super) fn copy_error<E>(
    spec: &SourceSpec,
    destination: &Destination,
    operation: &'static str,
    precondition: PreconditionOf,
    error: SdkError<E>,
) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(reason) = fallback_reason(&error) {
        return CopyError::ServerCopyRefused {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
            operation,
            reason,
        };
    }
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.as_service_error().and_then(|e| e.code());
    if (status == Some(412) || code == Some("PreconditionFailed"))
        && precondition == PreconditionOf::Source
    {
        return CopyError::Superseded {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
        };
    }
    if matches!(code, Some("NoSuchKey") | Some("NoSuchVersion")) {
        return CopyError::SourceGone {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
        };
    }
    if let Some(code) = code.filter(|code| ARCHIVED_CODES.contains(code)) {
        return CopyError::SourceArchived {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
            storage_class: code.to_owned(),
        };
    }
    let message = error.as_service_error().and_then(|e| e.message());
    if code == Some("InvalidRequest") && message.is_some_and(names_customer_key) {
        return CopyError::SourceCustomerKey {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
        };
    }
    write_error(operation, destination, error)
}
