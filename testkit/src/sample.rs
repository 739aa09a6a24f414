//! Deterministic sample objects for tests, benches and the local stack (never used in Lambda).

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};

/// Part size of sample uploads: the product's default part size.
pub const SAMPLE_PART_SIZE: u64 = 8 * 1024 * 1024;

/// `len` pseudo-random bytes from `seed` (xorshift64): cheap, incompressible,
/// and the same every run, so failures reproduce.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// CRC64NVME of `data`.
pub fn crc64nvme(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data)
}

/// The base64 of a CRC64 as S3 headers carry it (big-endian bytes).
pub fn crc64_base64(crc: u64) -> String {
    aws_smithy_types::base64::encode(crc.to_be_bytes())
}

/// A sample object as S3 stored it.
#[derive(Debug, Clone)]
pub struct SampleObject {
    /// Its ETag.
    pub etag: String,
    /// CRC64NVME of its bytes.
    pub crc64nvme: u64,
}

/// Uploads `size` sample bytes to `bucket/key` as a multipart upload of
/// [`SAMPLE_PART_SIZE`] parts (part `n` is `sample_bytes(len, n)`), so objects
/// of any size never sit in memory whole.
pub async fn upload_sample(
    client: &Client,
    bucket: &str,
    key: &str,
    size: u64,
) -> Result<SampleObject, String> {
    let fail = |what: &str, error: &dyn std::fmt::Debug| {
        format!("failed to {what} s3://{bucket}/{key}: {error:?}")
    };
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/octet-stream")
        // A full-object CRC64NVME, as S3 stores for most new objects: the
        // copy can then be verified against the source end to end.
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .map_err(|e| fail("create the upload of", &e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_owned();
    let mut parts = Vec::new();
    let mut crc: Option<u64> = None;
    for number in 1..=size.div_ceil(SAMPLE_PART_SIZE).max(1) {
        let len = SAMPLE_PART_SIZE.min(size - (number - 1) * SAMPLE_PART_SIZE);
        let data = sample_bytes(len as usize, number);
        let part_crc = crc64nvme(&data);
        crc = Some(match crc {
            None => part_crc,
            Some(so_far) => {
                crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Nvme, so_far, part_crc, len)
            }
        });
        let uploaded = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number as i32)
            .checksum_crc64_nvme(crc64_base64(part_crc))
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| fail("upload a part of", &e))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number as i32)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .checksum_crc64_nvme(crc64_base64(part_crc))
                .build(),
        );
    }
    let completed = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .checksum_type(ChecksumType::FullObject)
        .checksum_crc64_nvme(crc64_base64(crc.unwrap_or_else(|| crc64nvme(&[]))))
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail("complete the upload of", &e))?;
    Ok(SampleObject {
        etag: completed.e_tag().unwrap_or_default().to_owned(),
        crc64nvme: crc.unwrap_or_else(|| crc64nvme(&[])),
    })
}
