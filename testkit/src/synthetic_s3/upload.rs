//! Multipart upload records (an open upload and its parts) and write preconditions.

use super::checksum::{ChecksumAlgorithm, ChecksumType};
use super::error::S3Error;
use super::object::{ObjectHeaders, StoredObject};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One uploaded part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Length in bytes.
    pub len: u64,
    /// CRC64NVME of the part.
    pub crc64nvme: u64,
    /// ETag, quoted.
    pub etag: String,
    /// The checksum in the upload's algorithm (base64), when sent or computed.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// The bytes, kept for parts up to `KEEP_BYTES_LIMIT`.
    pub bytes: Option<Bytes>,
    /// When it was stored (`LastModified` in ListParts).
    pub stored: SystemTime,
}

/// One open multipart upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Destination bucket.
    pub bucket: String,
    /// Destination key.
    pub key: String,
    /// Headers the object will have.
    pub headers: ObjectHeaders,
    /// `x-amz-checksum-algorithm` given at creation.
    pub algorithm: Option<ChecksumAlgorithm>,
    /// The checksum type in force (given or S3's default for the algorithm).
    pub checksum_type: Option<ChecksumType>,
    /// When it was created.
    pub initiated: SystemTime,
    /// Parts uploaded so far by number; a re-upload replaces.
    pub parts: BTreeMap<u32, Part>,
}

impl Upload {
    /// A copy without the parts, cheap however many were uploaded.
    pub fn without_parts(&self) -> Upload {
        Upload {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            headers: self.headers.clone(),
            algorithm: self.algorithm,
            checksum_type: self.checksum_type,
            initiated: self.initiated,
            parts: BTreeMap::new(),
        }
    }
}

/// A write's precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional.
    Always,
    /// `If-None-Match: *`: only if the key is absent.
    IfAbsent,
    /// `If-Match: etag`: only if the key exists with this ETag.
    IfMatch(String),
}

impl WriteCondition {
    pub fn check(&self, existing: Option<&StoredObject>) -> Result<(), S3Error> {
        let holds = match self {
            WriteCondition::Always => true,
            WriteCondition::IfAbsent => existing.is_none(),
            WriteCondition::IfMatch(etag) => {
                existing.is_some_and(|object| super::request::etag_matches(etag, &object.etag))
            }
        };
        match (holds, self) {
            (true, _) => Ok(()),
            (false, WriteCondition::IfMatch(_)) => Err(S3Error::PreconditionFailed {
                condition: "If-Match",
            }),
            (false, _) => Err(S3Error::PreconditionFailed {
                condition: "If-None-Match",
            }),
        }
    }
}
