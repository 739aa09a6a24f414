//! The checksum algorithms S3 names, their headers and XML elements, and the CRCs
//! computed with crc-fast.

use crc_fast::{CrcAlgorithm, Digest};

/// A checksum algorithm an S3 request may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), `x-amz-checksum-crc32`.
    Crc32,
    /// CRC-32C (Castagnoli), `x-amz-checksum-crc32c`.
    Crc32c,
    /// CRC-64/NVME, `x-amz-checksum-crc64nvme`; S3's default full-object checksum.
    Crc64Nvme,
    /// SHA-1: accepted and stored as sent, never verified (no hash crate here).
    Sha1,
    /// SHA-256: accepted and stored as sent, never verified (no hash crate here).
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in the order headers are looked for.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The algorithm named `name` (`CRC64NVME`, `crc32c`, …), in any case.
    pub fn parse(name: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The name S3 uses, as in `x-amz-checksum-algorithm: CRC64NVME`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header (and aws-chunked trailer) carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The XML element carrying this checksum, as in `<ChecksumCRC64NVME>`.
    pub fn xml_element(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "ChecksumCRC32",
            ChecksumAlgorithm::Crc32c => "ChecksumCRC32C",
            ChecksumAlgorithm::Crc64Nvme => "ChecksumCRC64NVME",
            ChecksumAlgorithm::Sha1 => "ChecksumSHA1",
            ChecksumAlgorithm::Sha256 => "ChecksumSHA256",
        }
    }

    /// The crc-fast algorithm, for the CRCs this server computes.
    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// Whether this server computes (and so verifies) this checksum.
    pub fn is_crc(self) -> bool {
        self.crc().is_some()
    }

    /// Bytes of the checksum value on the wire (big-endian).
    fn width(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc64Nvme => 8,
            _ => 4,
        }
    }

    /// The base64 of a CRC value as S3 headers carry it (big-endian bytes).
    pub fn encode(self, value: u64) -> String {
        let bytes = value.to_be_bytes();
        aws_smithy_types::base64::encode(&bytes[8 - self.width()..])
    }

    /// The CRC value of a base64 header value, if it is one of this width.
    pub fn decode(self, text: &str) -> Option<u64> {
        let bytes = aws_smithy_types::base64::decode(text.trim()).ok()?;
        (bytes.len() == self.width()).then(|| {
            bytes
                .iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
        })
    }
}

/// How an object's checksum covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    /// The checksum of the whole object's bytes.
    FullObject,
    /// A checksum of the parts' checksums, suffixed `-N`.
    Composite,
}

impl ChecksumType {
    /// The type named `name` (`FULL_OBJECT` or `COMPOSITE`), in any case.
    pub fn parse(name: &str) -> Option<ChecksumType> {
        [ChecksumType::FullObject, ChecksumType::Composite]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The name S3 uses in `x-amz-checksum-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
}

/// The base64 of a CRC64NVME as S3 headers carry it.
pub fn crc64nvme_base64(value: u64) -> String {
    ChecksumAlgorithm::Crc64Nvme.encode(value)
}

/// The CRC64NVME of `data`.
pub fn crc64nvme(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data)
}

/// The CRC of `a ++ b` from the CRCs of `a` and `b` (`b_len` bytes); `None` for SHAs.
pub fn combine(algorithm: ChecksumAlgorithm, a: u64, b: u64, b_len: u64) -> Option<u64> {
    let crc = algorithm.crc()?;
    Some(crc_fast::checksum_combine(crc, a, b, b_len))
}

/// S3's composite checksum of parts: the CRC of their concatenated big-endian checksums.
pub fn composite(algorithm: ChecksumAlgorithm, parts: &[u64]) -> Option<u64> {
    let crc = algorithm.crc()?;
    let width = algorithm.width();
    let mut digest = Digest::new(crc);
    for value in parts {
        digest.update(&value.to_be_bytes()[8 - width..]);
    }
    Some(digest.finalize())
}

/// The digests of one request body: CRC64NVME always, plus the one CRC the request names.
pub struct BodyDigest {
    crc64nvme: Digest,
    other: Option<(ChecksumAlgorithm, Digest)>,
}

impl BodyDigest {
    /// Digests CRC64NVME and, if it is another CRC, `algorithm` too.
    pub fn new(algorithm: Option<ChecksumAlgorithm>) -> BodyDigest {
        let other = algorithm
            .filter(|algorithm| *algorithm != ChecksumAlgorithm::Crc64Nvme)
            .and_then(|algorithm| Some((algorithm, Digest::new(algorithm.crc()?))));
        BodyDigest {
            crc64nvme: Digest::new(CrcAlgorithm::Crc64Nvme),
            other,
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.crc64nvme.update(data);
        if let Some((_, digest)) = self.other.as_mut() {
            digest.update(data);
        }
    }

    /// The CRC64NVME so far.
    pub fn crc64nvme(&self) -> u64 {
        self.crc64nvme.finalize()
    }

    /// The value of `algorithm` so far, if it is computed.
    pub fn value(&self, algorithm: ChecksumAlgorithm) -> Option<u64> {
        match &self.other {
            _ if algorithm == ChecksumAlgorithm::Crc64Nvme => Some(self.crc64nvme()),
            Some((other, digest)) if *other == algorithm => Some(digest.finalize()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_each_width() {
        for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc64Nvme] {
            let value = 0x1234_5678u64;
            let text = algorithm.encode(value);
            assert_eq!(algorithm.decode(&text), Some(value));
        }
        assert_eq!(ChecksumAlgorithm::Crc32.encode(0xdead_beef), "3q2+7w==");
        assert_eq!(ChecksumAlgorithm::Crc32.decode("AAAAAAAAAAA="), None);
    }

    #[test]
    fn parses_names_in_any_case() {
        assert_eq!(
            ChecksumAlgorithm::parse("crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(
            ChecksumType::parse("FULL_OBJECT"),
            Some(ChecksumType::FullObject)
        );
        assert_eq!(ChecksumAlgorithm::parse("md5"), None);
    }

    #[test]
    fn combined_parts_equal_the_whole() {
        let data = b"hello, synthetic world";
        let (a, b) = data.split_at(9);
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let mut whole = BodyDigest::new(Some(algorithm));
            whole.update(data);
            let mut first = BodyDigest::new(Some(algorithm));
            first.update(a);
            let mut second = BodyDigest::new(Some(algorithm));
            second.update(b);
            let (Some(x), Some(y)) = (first.value(algorithm), second.value(algorithm)) else {
                panic!("crc not computed");
            };
            assert_eq!(
                combine(algorithm, x, y, b.len() as u64),
                whole.value(algorithm)
            );
        }
    }
}
