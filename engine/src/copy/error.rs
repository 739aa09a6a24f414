//! What can go wrong in a copy, each with a stable `errorType`.

use super::error_type::CopyErrorType;
use super::failure_class::FailureClass;
use crate::transform::TransformError;

/// A boxed SDK error, rendered with its whole chain.
pub type SdkFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a copy failed. Every variant leaves nothing half-written behind.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source object (or version) no longer exists.
    #[error("source object s3://{bucket}/{key} is gone")]
    SourceGone {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
    },
    /// The source was overwritten after the event: its eTag no longer matches.
    #[error("source object s3://{bucket}/{key} was superseded since the event")]
    Superseded {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
    },
    /// Reading the source failed.
    #[error("failed to read s3://{bucket}/{key}")]
    Source {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// Whether a retry can succeed (from S3's answer).
        class: FailureClass,
        /// The SDK's error.
        #[source]
        source: SdkFailure,
    },
    /// The source is archived (S3 Glacier Flexible Retrieval or Deep Archive,
    /// or an Intelligent-Tiering archive tier) and not restored: no GET or
    /// copy can read it until someone restores it.
    #[error(
        "source object s3://{bucket}/{key} is archived ({storage_class}) and not restored: restore it first"
    )]
    SourceArchived {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The storage class or archive tier S3 reported (or S3's error code).
        storage_class: String,
    },
    /// The source is encrypted with a customer-provided key (SSE-C), which
    /// this function is never given.
    #[error(
        "source object s3://{bucket}/{key} is encrypted with a customer-provided key (sse-c): the function cannot read it"
    )]
    SourceCustomerKey {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
    },
    /// The source sent a different number of bytes than announced.
    #[error("source s3://{bucket}/{key} sent {got} bytes where {expected} were announced")]
    SourceTruncated {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// Announced length.
        expected: u64,
        /// Received length.
        got: u64,
    },
    /// Reading the source kept failing: every attempt's body was cut, short or
    /// stalled, or the GET itself kept failing transiently.
    #[error("failed to read s3://{bucket}/{key} from byte {offset} after {attempts} attempts")]
    ReadExhausted {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The first byte not read.
        offset: u64,
        /// GETs sent.
        attempts: u32,
        /// Why the last attempt failed.
        #[source]
        source: SdkFailure,
    },
    /// The source answered a ranged GET with other bytes than asked for.
    #[error("source s3://{bucket}/{key} answered content-range {got} where {asked} was asked")]
    WrongRange {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The `Content-Range` asked for, `bytes START-END/SIZE`.
        asked: String,
        /// The `Content-Range` received (`none` when absent).
        got: String,
    },
    /// The destination bucket does not exist.
    #[error("destination bucket {bucket} does not exist")]
    DestinationBucketMissing {
        /// Destination bucket.
        bucket: String,
    },
    /// Writing the destination failed.
    #[error("failed to {operation} s3://{bucket}/{key}")]
    Destination {
        /// The S3 operation.
        operation: &'static str,
        /// Destination bucket.
        bucket: String,
        /// Destination key.
        key: String,
        /// Whether a retry can succeed (from S3's answer).
        class: FailureClass,
        /// The SDK's error.
        #[source]
        source: SdkFailure,
    },
    /// S3 answered success without the fields a success carries (e.g. a 200
    /// with an `<Error>` body to `CompleteMultipartUpload`).
    #[error("{operation} of s3://{bucket}/{key} returned no {field}: treating it as failed")]
    IncompleteResponse {
        /// The S3 operation.
        operation: &'static str,
        /// The missing field (`etag`, `upload id`).
        field: &'static str,
        /// Destination bucket.
        bucket: String,
        /// Destination key.
        key: String,
    },
    /// The transform failed.
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// The output is larger than S3 can store with this part schedule.
    #[error("output exceeds {limit} bytes, the most this part schedule can upload")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The budget cannot hold the fewest buffers a copy at this part size needs.
    #[error(
        "copy needs {needed} bytes of buffers at {part_size}-byte parts, but its memory budget is {budget} bytes: give the function more memory or use smaller parts"
    )]
    MemoryTooSmall {
        /// The part size the object needs.
        part_size: u64,
        /// The smallest budget that fits.
        needed: u64,
        /// The budget.
        budget: u64,
    },
    /// A transform's output outgrew the largest output this memory can upload.
    #[error(
        "output too large for this memory: at most {limit} bytes fit 10,000 parts within a {budget}-byte budget"
    )]
    OutputTooLargeForMemory {
        /// The largest output of this plan.
        limit: u64,
        /// The budget.
        budget: u64,
    },
    /// The copy was cancelled (the deadline is near).
    #[error("copy cancelled after {bytes_read} bytes read and {bytes_written} bytes written")]
    Cancelled {
        /// Source bytes read so far.
        bytes_read: u64,
        /// Destination bytes uploaded so far.
        bytes_written: u64,
    },
    /// The copy's full-object CRC64NVME differs from the one S3 stores for
    /// the source: bytes changed on the way, and nothing was written.
    #[error(
        "copy of s3://{bucket}/{key} has crc64nvme {got} where the source has {expected}: nothing was written"
    )]
    ChecksumMismatch {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The source's CRC64NVME, base64.
        expected: String,
        /// The copy's CRC64NVME, base64.
        got: String,
    },
    /// A conditional write found the destination changed since we looked,
    /// and it was still not newer than our source when we looked again.
    #[error(
        "destination s3://{bucket}/{key} changed during the copy: the conditional write failed"
    )]
    WriteConflict {
        /// Destination bucket.
        bucket: String,
        /// Destination key.
        key: String,
    },
    /// The store refused a server-side copy for a reason streaming can
    /// overcome (`NotImplemented`, a copy it cannot make between these
    /// buckets); `COPY_MODE=auto` streams instead.
    #[error("s3 refused the server-side copy of s3://{bucket}/{key} ({operation}): {reason}")]
    ServerCopyRefused {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The refused operation.
        operation: &'static str,
        /// S3's code and message.
        reason: String,
    },
    /// A server-side copy's checksum, as S3 reported it, is not the
    /// source's: the written object was deleted again.
    #[error(
        "server-side copy of s3://{bucket}/{key} has crc64nvme {got} where the source has {expected}: the copy was deleted"
    )]
    CopiedChecksumMismatch {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// The source's CRC64NVME, base64.
        expected: String,
        /// The copy's CRC64NVME, base64.
        got: String,
    },
    /// Reading the source's tags (to copy them) failed.
    #[error(
        "failed to read the tags of s3://{bucket}/{key} (copying tags needs s3:GetObjectTagging)"
    )]
    SourceTags {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// Whether a retry can succeed (from S3's answer).
        class: FailureClass,
        /// The SDK's error.
        #[source]
        source: SdkFailure,
    },
    /// Reading or writing the checkpoint of a resumable copy failed.
    #[error("failed to {operation} s3://{bucket}/{key}")]
    Checkpoint {
        /// What was done to the checkpoint.
        operation: &'static str,
        /// Destination bucket.
        bucket: String,
        /// The checkpoint's key.
        key: String,
        /// Whether a retry can succeed (from S3's answer).
        class: FailureClass,
        /// The SDK's error.
        #[source]
        source: SdkFailure,
    },
    /// A resumable copy stopped at its deadline and kept its upload: the
    /// next delivery of the same record copies only what is missing.
    #[error(
        "copy of s3://{bucket}/{key} stopped at its deadline after attempt {attempt} of {max_attempts}: \
         {bytes_done} of {bytes_total} source bytes ({percent}%) are copied, in {parts} in s3 \
         ({dropped} parts in flight dropped); the upload is kept and the next delivery resumes it"
    )]
    Continue {
        /// Source bucket.
        bucket: String,
        /// Source key.
        key: String,
        /// This attempt, from 1.
        attempt: u32,
        /// The attempts a copy may take (`RESUME_MAX_ATTEMPTS`).
        max_attempts: u32,
        /// Source bytes whose copy S3 holds in finished parts.
        bytes_done: u64,
        /// The source's size.
        bytes_total: u64,
        /// `bytes_done` in whole percent.
        percent: u64,
        /// Parts S3 holds, of how many.
        parts: PartCount,
        /// Parts in flight at the stop, redone next time.
        dropped: u64,
        /// Source bytes this attempt read (streamed) or copied.
        bytes_read: u64,
        /// Destination bytes this attempt wrote.
        bytes_written: u64,
    },
    /// A part task died (panicked).
    #[error("a part upload task failed: {0}")]
    Task(String),
    /// A segment of a fanned-out copy found its upload gone and the
    /// destination without the copy.
    #[error(
        "the fanned-out copy to s3://{bucket}/{key} (upload {upload_id}) is gone: \
         a segment failed permanently, or the copy was cancelled (its checkpoint deleted)"
    )]
    FanOutGone {
        /// Destination bucket.
        bucket: String,
        /// Destination key.
        key: String,
        /// The upload the segment was for.
        upload_id: String,
    },
}

/// Parts a stopped copy has in S3, and of how many when the plan knows
/// (a transformed copy's output has no known length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartCount {
    /// Parts S3 holds.
    pub done: u64,
    /// Parts in the plan, when known (a plan has at least one).
    pub total: Option<std::num::NonZeroU64>,
}

impl std::fmt::Display for PartCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.total {
            Some(total) => write!(f, "{} of {total} parts", self.done),
            None => write!(f, "{} parts", self.done),
        }
    }
}

impl CopyError {
    /// The stable `errorType` posted to Lambda (documented in the README).
    pub fn error_type(&self) -> &'static str {
        self.kind().as_str()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> CopyErrorType {
        use CopyErrorType as T;
        match self {
            CopyError::SourceGone { .. } => T::NoSuchKey,
            CopyError::Superseded { .. } => T::Superseded,
            CopyError::Source { .. } | CopyError::ReadExhausted { .. } => T::GetObjectFailed,
            CopyError::SourceArchived { .. } => T::ObjectArchived,
            CopyError::SourceCustomerKey { .. } => T::SourceEncryptedWithCustomerKey,
            CopyError::SourceTruncated { .. } | CopyError::WrongRange { .. } => T::SourceTruncated,
            CopyError::DestinationBucketMissing { .. } => T::NoSuchBucket,
            CopyError::Destination { .. } | CopyError::IncompleteResponse { .. } => T::UploadFailed,
            CopyError::Transform(_) => T::TransformFailed,
            CopyError::TooLarge { .. } => T::ObjectTooLarge,
            CopyError::MemoryTooSmall { .. } => T::MemoryTooSmall,
            CopyError::OutputTooLargeForMemory { .. } => T::OutputTooLargeForMemory,
            CopyError::Cancelled { .. } => T::Timeout,
            CopyError::Continue { .. } => T::Continue,
            CopyError::Checkpoint { .. } => T::CheckpointFailed,
            CopyError::ChecksumMismatch { .. } | CopyError::CopiedChecksumMismatch { .. } => {
                T::ChecksumMismatch
            }
            CopyError::WriteConflict { .. } => T::WriteConflict,
            CopyError::ServerCopyRefused { .. } => T::CopyRefused,
            CopyError::SourceTags { .. } => T::GetObjectTaggingFailed,
            CopyError::Task(_) => T::TaskFailed,
            CopyError::FanOutGone { .. } => T::FanOutGone,
        }
    }

    /// Whether retrying the same copy can succeed. The source changing
    /// under the copy (`Superseded`) is permanent for this event: the newer
    /// object has an event of its own.
    pub fn class(&self) -> FailureClass {
        use FailureClass::{Permanent, Transient};
        match self {
            CopyError::Source { class, .. }
            | CopyError::Destination { class, .. }
            | CopyError::SourceTags { class, .. }
            | CopyError::Checkpoint { class, .. } => *class,
            CopyError::SourceGone { .. }
            | CopyError::Superseded { .. }
            | CopyError::SourceArchived { .. }
            | CopyError::SourceCustomerKey { .. }
            | CopyError::DestinationBucketMissing { .. }
            | CopyError::Transform(_)
            | CopyError::TooLarge { .. }
            | CopyError::MemoryTooSmall { .. }
            | CopyError::OutputTooLargeForMemory { .. }
            | CopyError::ServerCopyRefused { .. }
            | CopyError::FanOutGone { .. } => Permanent,
            CopyError::ReadExhausted { .. }
            | CopyError::SourceTruncated { .. }
            | CopyError::WrongRange { .. }
            | CopyError::IncompleteResponse { .. }
            | CopyError::Cancelled { .. }
            | CopyError::Continue { .. }
            | CopyError::ChecksumMismatch { .. }
            | CopyError::CopiedChecksumMismatch { .. }
            | CopyError::WriteConflict { .. }
            | CopyError::Task(_) => Transient,
        }
    }
}
