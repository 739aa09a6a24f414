//! The server's configuration and the S3 limits it enforces, each a named constant.

use std::time::Duration;

/// Largest body one `PutObject` or `UploadPart` accepts: S3's 5 GiB single-request limit.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Smallest size of every part but the last of a multipart upload: S3's 5 MiB minimum.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Highest part number S3 accepts (parts are numbered 1 to 10,000).
pub const MAX_PART_NUMBER: u32 = 10_000;

/// Largest object a multipart upload may assemble: S3's 5 TiB object limit.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Uploaded objects and parts up to this size keep their bytes so tests can read them
/// back; larger ones keep only length, checksums and ETag. 1 MiB keeps memory bounded
/// (a few thousand small objects at most) while covering every "small object" case.
pub const KEEP_BYTES_LIMIT: u64 = 1024 * 1024;

/// Largest XML request body read (CompleteMultipartUpload, PutObjectTagging): 10,000
/// parts at about 200 bytes each is 2 MB, so 8 MiB leaves room without being unbounded.
pub const MAX_XML_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// Size of each frame of an object body served: large enough that per-frame overhead
/// vanishes at GB/s, small enough to pace smoothly and to stay in cache while filled.
pub const SERVE_CHUNK_BYTES: u64 = 512 * 1024;

/// Region reported by default: the one the SDK tests use.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct SyntheticS3Config {
    /// Bytes per second each connection may move, request and response bodies together
    /// (a token bucket per connection); `None` runs at loopback speed. S3 gives a single
    /// connection roughly 85–90 MB/s.
    pub per_connection_rate: Option<u64>,
    /// Region named by `HeadBucket`'s `x-amz-bucket-region`.
    pub region: String,
    /// When set, every write gets a fresh version id (returned as `x-amz-version-id`);
    /// otherwise every object's version is `"null"`. Only the latest version is kept.
    pub versioning: bool,
    /// How long each UploadPartCopy waits before it answers; `None` answers at once.
    /// Real S3 copies a 5 GiB part in tens of seconds, while this server checksums a
    /// periodic object's range in milliseconds: the delay restores S3's pace, so a test
    /// can make a TiB-class server-side copy outlast one Lambda invocation and check
    /// that it resumes across several. The wait is asynchronous (no thread is held).
    pub part_copy_delay: Option<Duration>,
}

impl Default for SyntheticS3Config {
    fn default() -> SyntheticS3Config {
        SyntheticS3Config {
            per_connection_rate: None,
            region: DEFAULT_REGION.to_owned(),
            versioning: false,
            part_copy_delay: None,
        }
    }
}

impl SyntheticS3Config {
    /// Paces each connection to `bytes_per_second`.
    pub fn with_per_connection_rate(mut self, bytes_per_second: u64) -> SyntheticS3Config {
        self.per_connection_rate = Some(bytes_per_second);
        self
    }

    /// Names the region `HeadBucket` reports.
    pub fn with_region(mut self, region: impl Into<String>) -> SyntheticS3Config {
        self.region = region.into();
        self
    }

    /// Gives every write a fresh version id.
    pub fn with_versioning(mut self, versioning: bool) -> SyntheticS3Config {
        self.versioning = versioning;
        self
    }

    /// Makes each UploadPartCopy wait `delay` before it answers (see
    /// [`SyntheticS3Config::part_copy_delay`]).
    pub fn with_part_copy_delay(mut self, delay: Duration) -> SyntheticS3Config {
        self.part_copy_delay = Some(delay);
        self
    }
}
