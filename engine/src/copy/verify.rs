//! Whether an identity copy ended with the source's own checksum.

use super::error::CopyError;
use super::source::{ResolvedSource, SourceChecksum};
use super::upload::crc64_base64;

/// What the copy's full-object CRC64NVME must equal, and the report's word for it.
#[derive(Debug, Clone)]
pub(crate) enum Verify {
    /// An identity copy of a source with a full-object CRC64NVME.
    Equal {
        bucket: String,
        key: String,
        crc: u64,
    },
    /// Not compared, with the reason reported in `verified`.
    Skipped(&'static str),
}

/// `verified` when the copy's checksum was compared and equal.
pub const VERIFIED_SOURCE_CRC64NVME: &str = "source-crc64nvme";
/// `verified` when the source has no full-object CRC64NVME to compare with.
pub const VERIFIED_NO_SOURCE_CHECKSUM: &str = "no-source-checksum";
/// `verified` when the source's checksum is composite (of its parts).
pub const VERIFIED_COMPOSITE: &str = "composite-source-checksum";
/// `verified` when the store reported no checksum of a server-side copy.
pub const VERIFIED_UNREPORTED: &str = "copy-checksum-unreported";
/// `verified` when the transform changes the bytes.
pub const VERIFIED_TRANSFORMED: &str = "transformed";

impl Verify {
    pub(crate) fn new(identity: bool, resolved: &ResolvedSource) -> Verify {
        if !identity {
            return Verify::Skipped(VERIFIED_TRANSFORMED);
        }
        match &resolved.checksum {
            SourceChecksum::FullObjectCrc64Nvme(crc) => Verify::Equal {
                bucket: resolved.spec.bucket.clone(),
                key: resolved.spec.key.clone(),
                crc: *crc,
            },
            SourceChecksum::Composite => Verify::Skipped(VERIFIED_COMPOSITE),
            SourceChecksum::Other(_) | SourceChecksum::None => {
                Verify::Skipped(VERIFIED_NO_SOURCE_CHECKSUM)
            }
        }
    }

    /// Accepts `got` or names the mismatch.
    pub(crate) fn check(&self, got: u64) -> Result<(), CopyError> {
        match self {
            Verify::Equal { bucket, key, crc } if *crc != got => Err(CopyError::ChecksumMismatch {
                bucket: bucket.clone(),
                key: key.clone(),
                expected: crc64_base64(*crc),
                got: crc64_base64(got),
            }),
            _ => Ok(()),
        }
    }

    /// The CRC64NVME the copy must end with, when there is one to compare.
    pub(crate) fn expected_crc(&self) -> Option<u64> {
        match self {
            Verify::Equal { crc, .. } => Some(*crc),
            Verify::Skipped(_) => None,
        }
    }

    pub(crate) fn word(&self) -> &'static str {
        match self {
            Verify::Equal { .. } => VERIFIED_SOURCE_CRC64NVME,
            Verify::Skipped(word) => word,
        }
    }
}
