//! Server-side copy: S3 copies the bytes itself, with one `CopyObject` or a
//! multipart upload of `UploadPartCopy` ranges; the function moves no object bytes.
//!
//! The same promises as streaming: reads pinned to the announced object (a
//! changed source ends `superseded`), newest wins on the destination, one
//! abort path, every await raced against cancellation, and the copy's
//! CRC64NVME (as S3 reports it) compared with the source's.

mod outcome;
mod parts;
pub(crate) use parts::copy_parts;
pub mod plan;
pub(crate) mod refusal;
mod single;

pub(crate) use outcome::{report, settle};
pub use plan::{DEFAULT_PART_COPY_SIZE, PartCopyPlan};

use super::context::CopyContext;
use super::error::CopyError;
use super::source::{ObjectMetadata, Pin, ResolvedSource};
use super::upload::condition::Completion;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// Part copies in flight by default: they hold no memory here (S3 moves
/// the bytes), only a connection each, so far more than streamed parts;
/// 16 copies a 1 GiB object's 16 parts at once and keeps S3's per-prefix
/// request rates far away.
pub const DEFAULT_PART_COPY_CONCURRENCY: usize = 16;

/// How identity copies move their bytes (`COPY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyMode {
    /// Server-side when nothing is transformed, streaming when the store
    /// refuses the server-side copy for a reason streaming overcomes.
    #[default]
    Auto,
    /// Server-side only: a refusal fails the copy.
    Server,
    /// Always stream through the function.
    Stream,
}

impl CopyMode {
    /// Every mode, by its `COPY_MODE` name.
    pub const ALL: [(&'static str, CopyMode); 3] = [
        ("auto", CopyMode::Auto),
        ("server", CopyMode::Server),
        ("stream", CopyMode::Stream),
    ];

    /// The mode named `name`.
    pub fn parse(name: &str) -> Option<CopyMode> {
        CopyMode::ALL
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, mode)| *mode)
    }

    /// Its `COPY_MODE` name.
    pub fn name(self) -> &'static str {
        CopyMode::ALL
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("auto", |(name, _)| name)
    }
}

/// How a copy moved its bytes (the report's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CopyMethod {
    /// S3 copied the bytes (`CopyObject` / `UploadPartCopy`).
    Server,
    /// The bytes streamed through the function.
    #[default]
    Stream,
}

/// Tunables of server-side copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerCopySettings {
    /// Requested part copy size; objects up to it use one `CopyObject`.
    pub part_size: u64,
    /// Part copies in flight.
    pub concurrency: usize,
}

impl Default for ServerCopySettings {
    fn default() -> Self {
        ServerCopySettings {
            part_size: DEFAULT_PART_COPY_SIZE,
            concurrency: DEFAULT_PART_COPY_CONCURRENCY,
        }
    }
}

/// What a server-side copy did.
#[derive(Debug, Clone)]
pub(crate) struct ServerCopied {
    /// Written or superseded.
    pub completion: Completion,
    /// The plan it followed.
    pub plan: PartCopyPlan,
    /// Bytes each attempt copied, when the copy resumed across invocations.
    pub attempts: Vec<u64>,
}

/// `x-amz-copy-source`: `bucket/key` with the key URL-encoded, plus the
/// version when reads are pinned to one.
fn copy_source(source: &ResolvedSource) -> String {
    let spec = &source.spec;
    let key = utf8_percent_encode(&spec.key, COPY_SOURCE_KEY);
    match &source.pin {
        Pin::Version(version) => format!(
            "{}/{key}?versionId={}",
            spec.bucket,
            utf8_percent_encode(version, NON_ALPHANUMERIC)
        ),
        Pin::ETag(_) => format!("{}/{key}", spec.bucket),
    }
}

/// `x-amz-copy-source-if-match`, when reads are pinned by ETag.
fn copy_source_if_match(source: &ResolvedSource) -> Option<String> {
    match &source.pin {
        Pin::ETag(etag) => Some(etag.clone()),
        Pin::Version(_) => None,
    }
}

/// The destination's metadata: the source's (from its `HeadObject`), plus
/// the recorded origin.
fn destination_metadata(copy: &CopyContext<'_>) -> ObjectMetadata {
    copy.destination_metadata(&copy.source.metadata.clone().unwrap_or_default())
}

/// Key characters `x-amz-copy-source` keeps as they are: unreserved ones
/// and `/` (S3 decodes the rest).
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Copies `copy.source` to `copy.destination` server-side: one `CopyObject`
/// up to the part copy size, else `UploadPartCopy` ranges in a guarded
/// multipart upload. A refusal that streaming overcomes is
/// `CopyError::ServerCopyRefused` (any upload aborted first).
///
/// # Cancellation
///
/// Every await is raced against `copy.cancel`; an open multipart upload is
/// aborted before `CopyError::Cancelled` returns.
pub(crate) async fn copy(copy: &CopyContext<'_>) -> Result<ServerCopied, CopyError> {
    let plan = PartCopyPlan::new(copy.source.size, copy.settings.server.part_size).ok_or(
        CopyError::TooLarge {
            limit: super::part_size::MAX_OBJECT_SIZE,
        },
    )?;
    if plan.is_single() {
        let completion = single::copy_object(copy).await?;
        return Ok(ServerCopied {
            completion,
            plan,
            attempts: Vec::new(),
        });
    }
    parts::copy_parts(copy, &plan).await
}

/// The report of a fan-out segment's server-side parts: the copy's, when
/// it completed it, else the segment's.
///
/// # Cancellation
///
/// The checksum's settling is raced against the copy's token.
pub(crate) async fn segment_report(
    copy: &CopyContext<'_>,
    copied: ServerCopied,
) -> Result<crate::copy::CopyReport, CopyError> {
    Ok(match copied.completion {
        Completion::Written(written) => {
            let verified = settle(copy, &written).await?;
            report(copy.source, &written, &copied.plan, verified, copy.started)
        }
        Completion::Superseded => {
            crate::copy::CopyReport::superseded(copy.source, copy.started.elapsed())
        }
        Completion::Deferred => {
            crate::copy::CopyReport::segment(copy.source, false, copy.started.elapsed())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_name() {
        assert_eq!(CopyMode::parse("auto"), Some(CopyMode::Auto));
        assert_eq!(CopyMode::parse("SERVER"), Some(CopyMode::Server));
        assert_eq!(CopyMode::parse("stream"), Some(CopyMode::Stream));
        assert_eq!(CopyMode::parse("fast"), None);
        assert_eq!(CopyMode::Stream.name(), "stream");
    }

    #[test]
    fn copy_source_keys_keep_slashes_and_encode_the_rest() {
        let key = utf8_percent_encode("a b/c+d%é?.txt", COPY_SOURCE_KEY).to_string();
        assert_eq!(key, "a%20b/c%2Bd%25%C3%A9%3F.txt");
    }
}
