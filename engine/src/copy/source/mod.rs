//! The source: pinned GetObject reads, one stream or part-aligned ranges, in order.

use super::error::{CopyError, SdkFailure};
use super::failure_class::FailureClass;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;

/// The object an event announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSpec {
    /// Bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// The version the event announced (versioned buckets).
    pub version_id: Option<String>,
    /// The eTag the event announced (used with `If-Match` when there is no version).
    pub etag: Option<String>,
    /// The size the event announced.
    pub size: Option<u64>,
    /// The event's sequencer (S3 notifications, EventBridge): with one, a
    /// copy never overwrites the copy of a newer event of the same key.
    pub sequencer: Option<String>,
}

/// How every read is pinned to the announced object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// `versionId=…`.
    Version(String),
    /// `If-Match: "etag"`.
    ETag(String),
}

/// HTTP metadata carried from source to destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMetadata {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, as the HTTP date S3 sent.
    pub expires: Option<String>,
    /// `x-amz-meta-*`.
    pub user: HashMap<String, String>,
    /// `x-amz-tagging-count`: how many tags the source has (S3 leaves the
    /// header out when it has none).
    pub tag_count: Option<i32>,
    /// The tags the destination gets (`k=v&…`, URL-encoded), once read.
    pub tagging: Option<String>,
}

/// The [`ObjectMetadata`] a `HeadObject` or `GetObject` output carries in
/// its headers (both outputs have the same accessors).
macro_rules! metadata_of {
    ($output:expr) => {{
        let output = $output;
        $crate::copy::source::ObjectMetadata {
            content_type: output.content_type().map(str::to_owned),
            content_encoding: output.content_encoding().map(str::to_owned),
            content_disposition: output.content_disposition().map(str::to_owned),
            content_language: output.content_language().map(str::to_owned),
            cache_control: output.cache_control().map(str::to_owned),
            expires: output.expires_string().map(str::to_owned),
            user: output.metadata().cloned().unwrap_or_default(),
            tag_count: output.tag_count(),
            tagging: None,
        }
    }};
}

/// What S3 stores as the source's checksum (`HeadObject` with checksum mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChecksum {
    /// A full-object CRC64NVME: an identity copy must end with the same value.
    FullObjectCrc64Nvme(u64),
    /// A checksum of part checksums, which a copy with other parts cannot reproduce.
    Composite,
    /// A full-object checksum of another algorithm (its name).
    Other(String),
    /// No checksum, or it was not asked for.
    None,
}

/// A resolved source: its size and pin are known.
#[derive(Debug, Clone)]
pub struct ResolvedSource {
    /// What the event said.
    pub spec: SourceSpec,
    /// The object's size.
    pub size: u64,
    /// How reads are pinned.
    pub pin: Pin,
    /// The checksum S3 stores for it (`None` unless asked to verify).
    pub checksum: SourceChecksum,
    /// Its metadata, when a `HeadObject` was sent (always when verifying).
    pub metadata: Option<ObjectMetadata>,
}

/// One GET's whole body, and the object's metadata when it is the first block.
#[derive(Debug)]
pub struct Block {
    /// The bytes.
    pub data: Bytes,
    /// Metadata, present on the first block.
    pub metadata: Option<ObjectMetadata>,
}

fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// Maps an SDK error of a read onto the copy's error classes.
pub(crate) fn read_error<E>(spec: &SourceSpec, error: SdkError<E>) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("");
    let message = error
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or("");
    let bucket = spec.bucket.clone();
    let key = spec.key.clone();
    match (status, code) {
        (Some(412), _) | (_, "PreconditionFailed") => CopyError::Superseded { bucket, key },
        (Some(404), "NoSuchBucket") => CopyError::Source {
            bucket,
            key,
            class: FailureClass::Permanent,
            source: Box::new(error) as SdkFailure,
        },
        (Some(404), _) | (_, "NoSuchKey") | (_, "NoSuchVersion") => {
            CopyError::SourceGone { bucket, key }
        }
        (_, code) if ARCHIVED_CODES.contains(&code) => CopyError::SourceArchived {
            bucket,
            key,
            storage_class: code.to_owned(),
        },
        (Some(400), "InvalidRequest") if names_customer_key(message) => {
            CopyError::SourceCustomerKey { bucket, key }
        }
        _ => CopyError::Source {
            bucket,
            key,
            class: FailureClass::of_sdk(&error),
            source: Box::new(error) as SdkFailure,
        },
    }
}

/// Maps a failed `HeadObject`. A HEAD answer has no body, so a 400 carries
/// no error code, and S3 answers the HEAD of an SSE-C object without its key
/// so: one one-byte GET of the same pinned object learns S3's reason.
async fn head_error(
    client: &Client,
    spec: &SourceSpec,
    pin: &Option<Pin>,
    error: SdkError<HeadObjectError>,
) -> CopyError {
    if error.raw_response().map(|r| r.status().as_u16()) == Some(400) {
        let mut probe = client
            .get_object()
            .bucket(&spec.bucket)
            .key(&spec.key)
            .range("bytes=0-0");
        probe = match pin {
            Some(Pin::Version(version)) => probe.version_id(version),
            Some(Pin::ETag(etag)) => probe.if_match(etag),
            None => probe,
        };
        if let Err(probe_error) = probe.send().await {
            let reason = read_error(spec, probe_error);
            if matches!(
                reason,
                CopyError::SourceCustomerKey { .. } | CopyError::SourceArchived { .. }
            ) {
                return reason;
            }
        }
    }
    read_error(spec, error)
}

/// The codes S3 answers a GET or copy of an archived, unrestored object with.
pub(crate) const ARCHIVED_CODES: [&str; 2] = ["InvalidObjectState", "ObjectNotInActiveTierError"];

/// True when S3's message says the object needs its SSE-C key ("The object
/// was stored using a form of Server Side Encryption. The correct parameters
/// must be provided to retrieve the object.").
pub(crate) fn names_customer_key(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("server side encryption")
}

/// The storage classes whose objects must be restored before they can be read.
const ARCHIVE_STORAGE_CLASSES: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// Why a `HeadObject` says the object cannot be read now: an archive storage
/// class without a finished restore, or an Intelligent-Tiering archive tier.
fn archived(output: &HeadObjectOutput) -> Option<String> {
    if let Some(status) = output.archive_status() {
        return Some(status.as_str().to_owned());
    }
    let class = output.storage_class()?.as_str();
    let restored = output
        .restore()
        .is_some_and(|restore| restore.contains("ongoing-request=\"false\""));
    (ARCHIVE_STORAGE_CLASSES.contains(&class) && !restored).then(|| class.to_owned())
}

/// The version pin of `version`: `"null"` (unversioned or suspended
/// buckets) names no version, so it is no pin.
fn version_pin(version: Option<&str>) -> Option<Pin> {
    version
        .filter(|version| !version.is_empty() && *version != "null")
        .map(|version| Pin::Version(version.to_owned()))
}

/// The checksum a `HeadObject` with checksum mode reported.
fn checksum_of(output: &HeadObjectOutput) -> SourceChecksum {
    let composite = output.checksum_type() == Some(&ChecksumType::Composite);
    if let Some(crc) = output.checksum_crc64_nvme() {
        if composite {
            return SourceChecksum::Composite;
        }
        return match aws_smithy_types::base64::decode(crc)
            .ok()
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        {
            Some(bytes) => SourceChecksum::FullObjectCrc64Nvme(u64::from_be_bytes(bytes)),
            None => SourceChecksum::Other(format!("CRC64NVME (unreadable: {crc})")),
        };
    }
    let other = [
        ("CRC32", output.checksum_crc32()),
        ("CRC32C", output.checksum_crc32_c()),
        ("SHA1", output.checksum_sha1()),
        ("SHA256", output.checksum_sha256()),
    ]
    .into_iter()
    .find_map(|(name, value)| value.map(|_| name));
    match other {
        Some(_) if composite => SourceChecksum::Composite,
        Some(name) => SourceChecksum::Other(name.to_owned()),
        None => SourceChecksum::None,
    }
}

/// Learns size and pin, with a pinned `HeadObject` when the event lacks
/// them. With `verify`, the `HeadObject` is always sent, with checksum mode,
/// to learn the source's stored checksum.
pub async fn resolve(
    client: &Client,
    spec: SourceSpec,
    verify: bool,
) -> Result<ResolvedSource, CopyError> {
    let known_pin = match (version_pin(spec.version_id.as_deref()), &spec.etag) {
        (Some(pin), _) => Some(pin),
        (None, Some(etag)) => Some(Pin::ETag(quoted(etag))),
        (None, None) => None,
    };
    if let (false, Some(size), Some(pin)) = (verify, spec.size, known_pin.clone()) {
        return Ok(ResolvedSource {
            spec,
            size,
            pin,
            checksum: SourceChecksum::None,
            metadata: None,
        });
    }
    let mut head = client.head_object().bucket(&spec.bucket).key(&spec.key);
    head = match &known_pin {
        Some(Pin::Version(version)) => head.version_id(version),
        Some(Pin::ETag(etag)) => head.if_match(etag),
        None => head,
    };
    if verify {
        head = head.checksum_mode(ChecksumMode::Enabled);
    }
    let output = match head.send().await {
        Ok(output) => output,
        Err(error) => return Err(head_error(client, &spec, &known_pin, error).await),
    };
    if let Some(storage_class) = archived(&output) {
        return Err(CopyError::SourceArchived {
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
            storage_class,
        });
    }
    let size = output
        .content_length()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let pin = match known_pin {
        Some(pin) => pin,
        None => match (version_pin(output.version_id()), output.e_tag()) {
            (Some(pin), _) => pin,
            (None, Some(etag)) => Pin::ETag(quoted(etag)),
            (None, None) => {
                return Err(CopyError::Source {
                    bucket: spec.bucket.clone(),
                    key: spec.key.clone(),
                    class: FailureClass::Permanent,
                    source: "head object returned neither a version id nor an etag".into(),
                });
            }
        },
    };
    let checksum = if verify {
        checksum_of(&output)
    } else {
        SourceChecksum::None
    };
    Ok(ResolvedSource {
        spec,
        size,
        pin,
        checksum,
        metadata: Some(metadata_of!(&output)),
    })
}

/// The byte ranges to read: one unranged GET when `size <= block_size`,
/// otherwise `[start, end]` ranges of `block_size` (the last shorter).
pub fn plan_ranges(size: u64, block_size: u64) -> Vec<Option<(u64, u64)>> {
    if size <= block_size {
        return vec![None];
    }
    (0..size.div_ceil(block_size))
        .map(|i| {
            let start = i * block_size;
            Some((start, (start + block_size).min(size) - 1))
        })
        .collect()
}

mod backoff;
mod content_range;
mod range_reader;
mod stall;
pub(crate) mod tags;

pub(crate) use backoff::{backoff, jitter};
pub use range_reader::{
    DEFAULT_MIN_THROUGHPUT, DEFAULT_READ_ATTEMPTS, DEFAULT_READ_BASE_BACKOFF,
    DEFAULT_READ_MAX_BACKOFF, DEFAULT_THROUGHPUT_WINDOW, RangeReader, ReadCounters,
    ReadRetryPolicy,
};
pub use stall::Stall;

/// Reads one block in full: the whole object (checksum validated where S3
/// offers it) or one byte range, pinned to the announced object. A body that
/// fails mid-way is resumed by the [`RangeReader`] under `policy`.
///
/// # Cancellation
///
/// Safe: dropping the future drops the GET in flight.
pub async fn fetch_block(
    client: Client,
    source: ResolvedSource,
    range: Option<(u64, u64)>,
    with_metadata: bool,
    policy: ReadRetryPolicy,
    counters: std::sync::Arc<ReadCounters>,
) -> Result<Block, CopyError> {
    let mut reader = RangeReader::open(client, source, range, policy, counters).await?;
    let mut buffer = BytesMut::with_capacity(usize::try_from(reader.len()).unwrap_or(0));
    while let Some(chunk) = reader.next_chunk().await? {
        buffer.extend_from_slice(&chunk);
    }
    Ok(Block {
        data: buffer.freeze(),
        metadata: with_metadata.then(|| reader.metadata()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_part_aligned_ranges() {
        assert_eq!(plan_ranges(0, 8), vec![None]);
        assert_eq!(plan_ranges(8, 8), vec![None]);
        assert_eq!(
            plan_ranges(17, 8),
            vec![Some((0, 7)), Some((8, 15)), Some((16, 16))]
        );
    }

    #[test]
    fn a_null_version_is_no_pin() {
        assert_eq!(version_pin(Some("null")), None);
        assert_eq!(version_pin(Some("")), None);
        assert_eq!(version_pin(None), None);
        assert_eq!(version_pin(Some("v1")), Some(Pin::Version("v1".into())));
    }

    #[test]
    fn quotes_bare_etags_once() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
    }
}
