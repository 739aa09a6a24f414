//! Object records: what the server keeps of an object, and the spec of a generated one.

use super::checksum::{ChecksumAlgorithm, ChecksumType};
use super::response::ObjectBytes;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// S3's content type for objects uploaded without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// The headers an upload sets and every GET and HEAD returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding` (without the transfer-only `aws-chunked`).
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    pub expires: Option<String>,
    /// User metadata: `x-amz-meta-NAME: value` as `NAME` (lowercase) to `value`.
    pub metadata: BTreeMap<String, String>,
    /// The tag set (`x-amz-tagging` or PutObjectTagging), in order.
    pub tags: Vec<(String, String)>,
}

/// What the server keeps of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Bucket name.
    pub bucket: String,
    /// Key, decoded.
    pub key: String,
    /// Length in bytes.
    pub len: u64,
    /// ETag, quoted as S3 returns it (`"<hex>"` or `"<hex>-N"`).
    pub etag: String,
    /// Full-object CRC64NVME, when known (always for uploads; generated objects opt in).
    pub crc64nvme: Option<u64>,
    /// How the object's checksum covers it; `FULL_OBJECT` whenever the CRC64NVME is known.
    pub checksum_type: Option<ChecksumType>,
    /// The checksum of another algorithm the object was uploaded with, base64 as S3
    /// returns it (composite values end in `-N`).
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// The bytes, kept for uploads up to `KEEP_BYTES_LIMIT`.
    pub bytes: Option<Bytes>,
    /// The seed of a generated object.
    pub generated_seed: Option<u64>,
    /// The period of a generated object whose bytes repeat (see
    /// [`GeneratedObject::period`]); `None` for one that never repeats.
    pub generated_period: Option<u64>,
    /// Content headers, user metadata and tags.
    pub headers: ObjectHeaders,
    /// Version id; `None` is S3's `"null"` version.
    pub version_id: Option<String>,
    /// When it was written.
    pub last_modified: SystemTime,
    /// Part lengths of a multipart object, in part order (empty otherwise).
    pub part_lengths: Vec<u64>,
}

impl StoredObject {
    /// The version id S3 would name: the generated one or `"null"`.
    pub fn version(&self) -> &str {
        self.version_id.as_deref().unwrap_or("null")
    }

    /// The content type served.
    pub fn content_type(&self) -> &str {
        self.headers
            .content_type
            .as_deref()
            .unwrap_or(DEFAULT_CONTENT_TYPE)
    }

    /// Where GET reads the bytes from; `None` when they were discarded on upload.
    pub fn source(&self) -> Option<ObjectBytes> {
        match (&self.bytes, self.generated_seed) {
            (Some(bytes), _) => Some(ObjectBytes::Kept(bytes.clone())),
            (None, Some(seed)) => Some(ObjectBytes::Generated {
                seed,
                period: self.generated_period,
            }),
            (None, None) => None,
        }
    }
}

/// A generated object to add: its bytes are a function of `(seed, offset)`, or of
/// `(seed, offset % period)` when it has a period.
#[derive(Debug, Clone)]
pub struct GeneratedObject {
    /// Bucket name (created if missing).
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Length in bytes; any size, since nothing is stored.
    pub size: u64,
    /// Seed of the bytes.
    pub seed: u64,
    /// Whether to compute the full-object CRC64NVME now (on the calling thread: one
    /// pass over the bytes, seconds per 10 GB; with a period, one pass over a period
    /// and a few dozen CRC combines), so checksum-mode reads return it.
    pub crc64nvme: bool,
    /// When set (and non-zero), the bytes repeat every `period` bytes: the byte at `o`
    /// is the non-periodic object's byte at `o % period`. Checksumming a range (the
    /// whole object, an UploadPartCopy's range) then costs O(period) hashing instead of
    /// O(range), which is what lets a test serve TiB-class server-side copies on a
    /// couple of cores. `None` (the default) never repeats; `Some(0)` is the same.
    pub period: Option<u64>,
    /// Content headers, metadata and tags.
    pub headers: ObjectHeaders,
}

impl GeneratedObject {
    /// A generated object without a known CRC64NVME.
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        size: u64,
        seed: u64,
    ) -> GeneratedObject {
        GeneratedObject {
            bucket: bucket.into(),
            key: key.into(),
            size,
            seed,
            crc64nvme: false,
            period: None,
            headers: ObjectHeaders::default(),
        }
    }

    /// Opts in to (or out of) computing the full-object CRC64NVME.
    pub fn with_crc64nvme(mut self, compute: bool) -> GeneratedObject {
        self.crc64nvme = compute;
        self
    }

    /// Makes the bytes repeat every `period` bytes (see [`GeneratedObject::period`]).
    pub fn with_period(mut self, period: u64) -> GeneratedObject {
        self.period = Some(period);
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> GeneratedObject {
        self.headers.content_type = Some(content_type.into());
        self
    }

    /// Adds user metadata `x-amz-meta-NAME: value`.
    pub fn with_metadata(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> GeneratedObject {
        self.headers
            .metadata
            .insert(name.into().to_ascii_lowercase(), value.into());
        self
    }
}
