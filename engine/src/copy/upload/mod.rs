//! The destination: a single `PutObject`, or a guarded multipart upload with one abort path.

use super::error::{CopyError, SdkFailure};
use super::failure_class::FailureClass;
use super::source::ObjectMetadata;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

pub mod abort;
pub mod condition;
pub mod orphans;

/// Where the copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
}

impl Destination {
    /// `value`, the `field` of a successful `operation` on this destination,
    /// or [`CopyError::IncompleteResponse`] when S3 left it out.
    pub(crate) fn required<'a>(
        &self,
        operation: &'static str,
        field: &'static str,
        value: Option<&'a str>,
    ) -> Result<&'a str, CopyError> {
        value.ok_or_else(|| CopyError::IncompleteResponse {
            operation,
            field,
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        })
    }
}

/// Destination options beyond the carried metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadOptions {
    /// Storage class of the destination object.
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption (`AES256` or `aws:kms`).
    pub sse: Option<ServerSideEncryption>,
    /// The KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
    /// A canned ACL for the copy (e.g. `bucket-owner-full-control` when
    /// writing to another account's bucket that still uses ACLs).
    pub acl: Option<ObjectCannedAcl>,
    /// The account that must own the destination bucket: S3 refuses the
    /// write (403) otherwise, so nothing lands in a bucket someone else took.
    pub expected_bucket_owner: Option<String>,
    /// User metadata (`x-amz-meta-*`) every copy writes over the source's:
    /// how a caller that copies into a place of its own (`bootstrap bench`)
    /// knows its objects again, whatever the source carried.
    pub metadata: HashMap<String, String>,
}

/// What S3 reported for the written object.
#[derive(Debug, Clone)]
pub struct Written {
    /// ETag.
    pub etag: String,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// Full-object CRC64NVME of the object written: of the bytes sent, or
    /// as S3 reported it for a server-side copy (`None` when it did not).
    pub crc64nvme: Option<u64>,
    /// Parts written.
    pub parts: u64,
}

/// CRC64NVME of `data`.
pub fn crc64nvme(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data)
}

/// The base64 of a CRC64 as S3 headers carry it (big-endian bytes).
pub fn crc64_base64(crc: u64) -> String {
    aws_smithy_types::base64::encode(crc.to_be_bytes())
}

/// The CRC64 a base64 S3 header carries, when it is one.
pub fn crc64_decode(text: &str) -> Option<u64> {
    aws_smithy_types::base64::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map(u64::from_be_bytes)
}

/// Maps a failed `CompleteMultipartUpload`. A 412 is a condition that no
/// longer holds, as for any write; a 409 (`ConditionalRequestConflict`: a
/// conflicting write raced the completion) invalidates the upload itself, so
/// S3 says to start a new one rather than complete this one again: it is a
/// transient destination failure, never a [`CopyError::WriteConflict`] that
/// newest-wins would retry on the same upload. `InvalidPart` is transient
/// too: a retry lists the parts afresh.
pub(crate) fn complete_error<E>(destination: &Destination, error: SdkError<E>) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // `InvalidPart`: a part's ETag is not the one named. The parts were
    // sent again since they were listed (a fan-out segment delivered twice
    // re-uploads a part: under SSE-KMS its ETag changes); a retry lists
    // them afresh.
    let invalid_part = error.as_service_error().and_then(|e| e.code()) == Some("InvalidPart");
    if error.raw_response().map(|r| r.status().as_u16()) == Some(409) || invalid_part {
        return CopyError::Destination {
            operation: "complete multipart upload",
            bucket: destination.bucket.clone(),
            key: destination.key.clone(),
            class: FailureClass::Transient,
            source: Box::new(error) as SdkFailure,
        };
    }
    write_error("complete multipart upload", destination, error)
}

pub(crate) fn write_error<E>(
    operation: &'static str,
    destination: &Destination,
    error: SdkError<E>,
) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.as_service_error().and_then(|e| e.code());
    if matches!(status, Some(412) | Some(409))
        || matches!(
            code,
            Some("PreconditionFailed") | Some("ConditionalRequestConflict")
        )
    {
        return CopyError::WriteConflict {
            bucket: destination.bucket.clone(),
            key: destination.key.clone(),
        };
    }
    if code == Some("NoSuchBucket") {
        return CopyError::DestinationBucketMissing {
            bucket: destination.bucket.clone(),
        };
    }
    CopyError::Destination {
        operation,
        bucket: destination.bucket.clone(),
        key: destination.key.clone(),
        class: FailureClass::of_sdk(&error),
        source: Box::new(error) as SdkFailure,
    }
}

/// What a write of ours left in the destination: its CRC64NVME and the
/// source it records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// The object's full CRC64NVME, when known.
    pub crc: Option<u64>,
    /// What the object records of its source ([`condition::recorded_origin`]).
    pub origin: &'a std::collections::HashMap<String, String>,
}

/// Whether the destination holds the write whose answer was ambiguous: a
/// retried write refused by the condition its first attempt had already
/// met (412), or a retried completion of an upload that the first attempt
/// completed (`NoSuchUpload`), after S3 answered that attempt 500. It does
/// when its CRC64NVME is the one we wrote and it records the same source
/// (sequencer, version, ETag) as ours: alike bytes of another event are a
/// newer write, for newest wins to judge. Without a known checksum nothing
/// can tell, and the error stands.
///
/// # Cancellation
///
/// One `HeadObject`, raced against `cancel`: cancelled, the error stands
/// and the caller's abort starts at once.
pub(crate) async fn landed(
    client: &Client,
    destination: &Destination,
    expected: &Expected<'_>,
    parts: u64,
    cancel: &CancellationToken,
) -> Option<Written> {
    let crc = expected.crc?;
    let head = client
        .head_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send();
    let head = tokio::select! {
        () = cancel.cancelled() => return None,
        head = head => head.ok()?,
    };
    let stored = head.checksum_crc64_nvme().and_then(crc64_decode)?;
    let recorded = head
        .metadata()
        .map(condition::recorded_origin)
        .unwrap_or_default();
    if stored != crc || recorded != *expected.origin {
        return None;
    }
    tracing::warn!(
        "s3://{}/{} already holds the write whose answer was lost (crc64nvme {crc:016x}): \
         s3 carried it out before its error",
        destination.bucket,
        destination.key
    );
    Some(Written {
        etag: head.e_tag()?.to_owned(),
        version_id: head.version_id().map(str::to_owned),
        crc64nvme: Some(stored),
        parts,
    })
}

/// What S3 holds of an upload, by one `ListParts` of at most one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UploadState {
    /// `NoSuchUpload`: completed or aborted.
    Gone,
    /// Open, without a part.
    Empty,
    /// Open, with at least one part.
    HasParts,
}

/// The state of `upload_id` of `destination`; other answers are errors.
pub(crate) async fn upload_state(
    client: &Client,
    destination: &Destination,
    upload_id: &str,
) -> Result<UploadState, SdkError<aws_sdk_s3::operation::list_parts::ListPartsError>> {
    let answer = client
        .list_parts()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .upload_id(upload_id)
        .max_parts(1)
        .send()
        .await;
    match answer {
        Ok(parts) if parts.parts().is_empty() => Ok(UploadState::Empty),
        Ok(_) => Ok(UploadState::HasParts),
        Err(error) if error.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload") => {
            Ok(UploadState::Gone)
        }
        Err(error) => Err(error),
    }
}

/// Sets metadata and options on a `PutObject` or `CreateMultipartUpload` builder.
macro_rules! with_metadata {
    ($builder:expr, $metadata:expr, $options:expr) => {{
        let metadata: &ObjectMetadata = $metadata;
        let options: &UploadOptions = $options;
        let expires = metadata.expires.as_deref().and_then(|text| {
            aws_smithy_types::date_time::DateTime::from_str(
                text,
                aws_smithy_types::date_time::Format::HttpDate,
            )
            .ok()
        });
        $builder
            .set_content_type(metadata.content_type.clone())
            .set_content_encoding(metadata.content_encoding.clone())
            .set_content_disposition(metadata.content_disposition.clone())
            .set_content_language(metadata.content_language.clone())
            .set_cache_control(metadata.cache_control.clone())
            .set_expires(expires)
            .set_metadata((!metadata.user.is_empty()).then(|| metadata.user.clone()))
            .set_tagging(metadata.tagging.clone())
            .set_storage_class(options.storage_class.clone())
            .set_server_side_encryption(options.sse.clone())
            .set_ssekms_key_id(options.kms_key_id.clone())
            .set_acl(options.acl.clone())
            .set_expected_bucket_owner(options.expected_bucket_owner.clone())
    }};
}

pub mod multipart;
pub(crate) use with_metadata;

/// Where and how a single `PutObject` writes.
#[derive(Debug, Clone, Copy)]
pub struct PutTarget<'a> {
    /// The client.
    pub client: &'a Client,
    /// The destination.
    pub destination: &'a Destination,
    /// The carried metadata.
    pub metadata: &'a ObjectMetadata,
    /// Destination options.
    pub options: &'a UploadOptions,
}

pub use multipart::{MultipartUpload, UploadedPart};

/// Writes `data` with one `PutObject` carrying its CRC64NVME under
/// `condition`, once `check` has accepted that checksum (nothing is written
/// when it refuses).
///
/// # Cancellation
///
/// The `PutObject` is raced against `cancel`: a cancellation returns
/// `CopyError::Cancelled` (with zero byte counts for the caller to fill in);
/// a PUT S3 had already received may still land whole.
pub async fn put_single(
    target: &PutTarget<'_>,
    data: bytes::Bytes,
    cancel: &CancellationToken,
    check: impl FnOnce(u64) -> Result<(), CopyError>,
    condition: &condition::WriteCondition,
) -> Result<Written, CopyError> {
    let PutTarget {
        client,
        destination,
        metadata,
        options,
    } = *target;
    let crc = crc64nvme(&data);
    check(crc)?;
    let put = client
        .put_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .set_if_match(condition.if_match())
        .set_if_none_match(condition.if_none_match())
        .content_length(data.len() as i64)
        // The algorithm beside its value: some stores (moto) keep the
        // checksum only when the request names its algorithm too.
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc64Nvme)
        .checksum_crc64_nvme(crc64_base64(crc))
        .body(ByteStream::from(data));
    let request = with_metadata!(put, metadata, options)
        .customize()
        .disable_payload_signing()
        .send();
    let output = tokio::select! {
        () = cancel.cancelled() => {
            return Err(CopyError::Cancelled { bytes_read: 0, bytes_written: 0 });
        }
        output = request => output,
    }
    .map_err(|e| write_error("put object", destination, e));
    let output = match output {
        Ok(output) => output,
        Err(error @ CopyError::WriteConflict { .. }) => {
            let expected = Expected {
                crc: Some(crc),
                origin: &condition::recorded_origin(&metadata.user),
            };
            return match landed(client, destination, &expected, 1, cancel).await {
                Some(written) => Ok(written),
                None => Err(error),
            };
        }
        Err(error) => return Err(error),
    };
    let etag = destination.required("put object", "etag", output.e_tag())?;
    Ok(Written {
        etag: etag.to_owned(),
        version_id: output.version_id().map(str::to_owned),
        crc64nvme: Some(crc),
        parts: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_part_checksums_equal_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let (a, b) = data.split_at(37_000);
        let combined = crc_fast::checksum_combine(
            crc_fast::CrcAlgorithm::Crc64Nvme,
            crc64nvme(a),
            crc64nvme(b),
            b.len() as u64,
        );
        assert_eq!(combined, crc64nvme(&data));
    }
}
