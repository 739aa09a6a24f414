//! The destination: a single `PutObject`, or a multipart upload with one abort path.

use super::assembler::Part;
use super::error::{CopyError, SdkFailure};
use super::source::ObjectMetadata;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
    StorageClass,
};
use aws_smithy_types::date_time::{DateTime, Format};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

/// Where the copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
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
}

/// What S3 reported for the written object.
#[derive(Debug, Clone)]
pub struct Written {
    /// ETag.
    pub etag: String,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// Full-object CRC64NVME of the bytes sent.
    pub crc64nvme: u64,
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

fn write_error<E>(
    operation: &'static str,
    destination: &Destination,
    error: SdkError<E>,
) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error.as_service_error().and_then(|e| e.code()) == Some("NoSuchBucket") {
        return CopyError::DestinationBucketMissing {
            bucket: destination.bucket.clone(),
        };
    }
    CopyError::Destination {
        operation,
        bucket: destination.bucket.clone(),
        key: destination.key.clone(),
        source: Box::new(error) as SdkFailure,
    }
}

/// Sets metadata and options on a `PutObject` or `CreateMultipartUpload` builder.
macro_rules! with_metadata {
    ($builder:expr, $metadata:expr, $options:expr) => {{
        let metadata: &ObjectMetadata = $metadata;
        let options: &UploadOptions = $options;
        let expires = metadata
            .expires
            .as_deref()
            .and_then(|text| DateTime::from_str(text, Format::HttpDate).ok());
        $builder
            .set_content_type(metadata.content_type.clone())
            .set_content_encoding(metadata.content_encoding.clone())
            .set_content_disposition(metadata.content_disposition.clone())
            .set_content_language(metadata.content_language.clone())
            .set_cache_control(metadata.cache_control.clone())
            .set_expires(expires)
            .set_metadata((!metadata.user.is_empty()).then(|| metadata.user.clone()))
            .set_storage_class(options.storage_class.clone())
            .set_server_side_encryption(options.sse.clone())
            .set_ssekms_key_id(options.kms_key_id.clone())
    }};
}

/// Writes `data` with one `PutObject` carrying its CRC64NVME.
pub async fn put_single(
    client: &Client,
    destination: &Destination,
    metadata: &ObjectMetadata,
    options: &UploadOptions,
    data: bytes::Bytes,
) -> Result<Written, CopyError> {
    let crc = crc64nvme(&data);
    let put = client
        .put_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .content_length(data.len() as i64)
        .checksum_crc64_nvme(crc64_base64(crc))
        .body(ByteStream::from(data));
    let output = with_metadata!(put, metadata, options)
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| write_error("put object", destination, e))?;
    let etag = output
        .e_tag()
        .ok_or_else(|| CopyError::IncompleteResponse {
            operation: "put object",
            bucket: destination.bucket.clone(),
            key: destination.key.clone(),
        })?;
    Ok(Written {
        etag: etag.to_owned(),
        version_id: output.version_id().map(str::to_owned),
        crc64nvme: crc,
        parts: 1,
    })
}

#[derive(Debug)]
struct UploadedPart {
    number: u64,
    etag: String,
    crc: u64,
    len: u64,
}

/// A multipart upload in progress: parts upload concurrently, each holding
/// its budget permit until S3 has it.
pub struct MultipartUpload {
    client: Client,
    destination: Destination,
    upload_id: String,
    tasks: JoinSet<Result<UploadedPart, CopyError>>,
    done: Vec<UploadedPart>,
    uploaded: Arc<AtomicU64>,
}

impl MultipartUpload {
    /// `CreateMultipartUpload` with a full-object CRC64NVME checksum.
    pub async fn create(
        client: &Client,
        destination: &Destination,
        metadata: &ObjectMetadata,
        options: &UploadOptions,
        uploaded: Arc<AtomicU64>,
    ) -> Result<MultipartUpload, CopyError> {
        let create = client
            .create_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject);
        let output = with_metadata!(create, metadata, options)
            .send()
            .await
            .map_err(|e| write_error("create multipart upload", destination, e))?;
        let upload_id = output
            .upload_id()
            .ok_or_else(|| CopyError::IncompleteResponse {
                operation: "create multipart upload",
                bucket: destination.bucket.clone(),
                key: destination.key.clone(),
            })?;
        Ok(MultipartUpload {
            client: client.clone(),
            destination: destination.clone(),
            upload_id: upload_id.to_owned(),
            tasks: JoinSet::new(),
            done: Vec::new(),
            uploaded,
        })
    }

    /// Starts uploading `part`; `permit` is released when S3 has it.
    pub fn spawn_part(&mut self, part: Part, permit: OwnedSemaphorePermit) {
        let client = self.client.clone();
        let destination = self.destination.clone();
        let upload_id = self.upload_id.clone();
        let uploaded = Arc::clone(&self.uploaded);
        self.tasks.spawn(async move {
            let _permit = permit;
            let len = part.data.len() as u64;
            let crc = crc64nvme(&part.data);
            let output = client
                .upload_part()
                .bucket(&destination.bucket)
                .key(&destination.key)
                .upload_id(&upload_id)
                .part_number(part.number as i32)
                .content_length(len as i64)
                .checksum_crc64_nvme(crc64_base64(crc))
                .body(ByteStream::from(part.data))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| write_error("upload part", &destination, e))?;
            let etag = output
                .e_tag()
                .ok_or_else(|| CopyError::IncompleteResponse {
                    operation: "upload part",
                    bucket: destination.bucket.clone(),
                    key: destination.key.clone(),
                })?;
            uploaded.fetch_add(len, Ordering::Relaxed);
            Ok(UploadedPart {
                number: part.number,
                etag: etag.to_owned(),
                crc,
                len,
            })
        });
    }

    fn record(
        &mut self,
        joined: Result<Result<UploadedPart, CopyError>, tokio::task::JoinError>,
    ) -> Result<(), CopyError> {
        match joined {
            Ok(Ok(part)) => {
                self.done.push(part);
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(join_error) => Err(CopyError::Task(join_error.to_string())),
        }
    }

    /// Takes the results of finished part uploads without waiting; the first
    /// failure is returned.
    pub fn collect_finished(&mut self) -> Result<(), CopyError> {
        while let Some(joined) = self.tasks.try_join_next() {
            self.record(joined)?;
        }
        Ok(())
    }

    /// Waits for every part, then `CompleteMultipartUpload` with the parts in
    /// order and the full-object CRC64NVME. Aborts on any failure.
    pub async fn complete(mut self) -> Result<Written, CopyError> {
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = self.record(joined) {
                return Err(self.abort(error).await);
            }
        }
        self.done.sort_by_key(|part| part.number);
        let mut full: Option<u64> = None;
        for part in &self.done {
            full = Some(match full {
                None => part.crc,
                Some(so_far) => crc_fast::checksum_combine(
                    crc_fast::CrcAlgorithm::Crc64Nvme,
                    so_far,
                    part.crc,
                    part.len,
                ),
            });
        }
        let crc = full.unwrap_or_else(|| crc64nvme(&[]));
        let parts: Vec<CompletedPart> = self
            .done
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(part.number as i32)
                    .e_tag(&part.etag)
                    .checksum_crc64_nvme(crc64_base64(part.crc))
                    .build()
            })
            .collect();
        let part_count = parts.len() as u64;
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.destination.bucket)
            .key(&self.destination.key)
            .upload_id(&self.upload_id)
            .checksum_type(ChecksumType::FullObject)
            .checksum_crc64_nvme(crc64_base64(crc))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let error = write_error("complete multipart upload", &self.destination, error);
                return Err(self.abort(error).await);
            }
        };
        let Some(etag) = output.e_tag() else {
            let error = CopyError::IncompleteResponse {
                operation: "complete multipart upload",
                bucket: self.destination.bucket.clone(),
                key: self.destination.key.clone(),
            };
            return Err(self.abort(error).await);
        };
        Ok(Written {
            etag: etag.to_owned(),
            version_id: output.version_id().map(str::to_owned),
            crc64nvme: crc,
            parts: part_count,
        })
    }

    /// The one abort path: cancel in-flight parts, drain them,
    /// `AbortMultipartUpload`, log an abort failure, return `error`.
    pub async fn abort(mut self, error: CopyError) -> CopyError {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.destination.bucket)
            .key(&self.destination.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        match aborted {
            Ok(_) => tracing::info!(
                "aborted multipart upload of s3://{}/{}",
                self.destination.bucket,
                self.destination.key
            ),
            Err(abort_error) => tracing::error!(
                "failed to abort multipart upload {} of s3://{}/{}: {} (a lifecycle rule must clean it up)",
                self.upload_id,
                self.destination.bucket,
                self.destination.key,
                aws_smithy_types::error::display::DisplayErrorContext(&abort_error)
            ),
        }
        error
    }
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
