//! One piped part: its ranged GET streams into its `UploadPart`, re-sent whole when the upload fails transiently.

use super::body::{self, PipeClosed};
use crate::copy::error::CopyError;
use crate::copy::source::{self, RangeReader, ReadCounters, ReadRetryPolicy, ResolvedSource};
use crate::copy::upload::abort::AbortTarget;
use crate::copy::upload::{UploadedPart, crc64_base64, write_error};
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::upload_part::UploadPartError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What every part of one piped copy shares.
#[derive(Debug, Clone)]
pub(crate) struct PartContext {
    /// Reads the source.
    pub source_client: aws_sdk_s3::Client,
    pub source: ResolvedSource,
    /// The upload the parts belong to.
    pub target: AbortTarget,
    /// Attempts and backoff, for reads and for re-sent parts alike.
    pub policy: ReadRetryPolicy,
    pub reads: Arc<ReadCounters>,
    /// Parts re-sent after a failed upload.
    pub upload_retries: Arc<AtomicU64>,
    /// Source bytes of finished parts.
    pub bytes_read: Arc<AtomicU64>,
    /// Destination bytes S3 acknowledged.
    pub bytes_written: Arc<AtomicU64>,
    /// Bytes one part may buffer between its GET and its upload.
    pub buffer: u64,
}

/// A part attempt that failed: worth sending again, or final.
enum Attempt {
    Retry(Box<SdkError<UploadPartError>>),
    Fatal(CopyError),
}

/// Copies bytes `range` (`[start, end]`) of the source into part `number`.
/// `first` is a reader already opened for this range (the copy opens the
/// first part's to learn the source's metadata), used for the first attempt.
///
/// The body goes out aws-chunked, its CRC64NVME a trailing checksum that S3
/// checks; its length is announced up front, so S3 refuses a short body.
/// The SDK cannot replay a streamed body, so a transient upload failure
/// (no response, a timeout, 5xx, `SlowDown`, `RequestTimeout`, `BadDigest`)
/// re-sends the part from a new GET of its range, under `policy`.
///
/// # Cancellation
///
/// Safe: dropping the future drops the GET and the upload in flight.
pub(crate) async fn copy_part(
    context: PartContext,
    number: u64,
    range: (u64, u64),
    mut first: Option<RangeReader>,
) -> Result<UploadedPart, CopyError> {
    let len = range.1 - range.0 + 1;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let reader = match first.take() {
            Some(reader) => reader,
            None => {
                RangeReader::open(
                    context.source_client.clone(),
                    context.source.clone(),
                    Some(range),
                    context.policy.clone(),
                    Arc::clone(&context.reads),
                )
                .await?
            }
        };
        let failure = match attempt(&context, number, len, reader).await {
            Ok(part) => {
                context.bytes_read.fetch_add(len, Ordering::Relaxed);
                context.bytes_written.fetch_add(len, Ordering::Relaxed);
                return Ok(part);
            }
            Err(Attempt::Fatal(error)) => return Err(error),
            Err(Attempt::Retry(failure)) => failure,
        };
        let destination = &context.target.destination;
        if attempts >= context.policy.max_attempts.max(1) {
            return Err(write_error("upload part", destination, *failure));
        }
        tracing::warn!(
            bucket = %destination.bucket,
            key = %destination.key,
            part = number,
            attempt = attempts + 1,
            cause = %DisplayErrorContext(failure.as_ref()),
            "re-sending part upload"
        );
        context.upload_retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(source::backoff(&context.policy, attempts, source::jitter())).await;
    }
}

/// One GET → `UploadPart` run of the part.
async fn attempt(
    context: &PartContext,
    number: u64,
    len: u64,
    mut reader: RangeReader,
) -> Result<UploadedPart, Attempt> {
    let (sender, part_body) = body::pipe(len, context.buffer);
    let target = &context.target;
    let upload = target
        .client
        .upload_part()
        .bucket(&target.destination.bucket)
        .key(&target.destination.key)
        .upload_id(&target.upload_id)
        .part_number(number as i32)
        .content_length(len as i64)
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from_body_1_x(part_body))
        .customize()
        // The clients send checksums only where required (buffered bodies
        // carry ours as a header); a streamed body needs the SDK to compute
        // its trailer.
        .config_override(
            aws_sdk_s3::config::Builder::default()
                .request_checksum_calculation(RequestChecksumCalculation::WhenSupported),
        )
        .send();
    // The checksum of what was fed; `None` when the upload stopped taking
    // bytes before all of them were fed (its own result says why).
    let feed = async move {
        let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        let mut fed = 0;
        loop {
            let chunk = tokio::select! {
                () = sender.closed() => return Ok((fed == len).then(|| digest.finalize())),
                chunk = reader.next_chunk() => chunk?,
            };
            let Some(chunk) = chunk else {
                return Ok(Some(digest.finalize()));
            };
            digest.update(&chunk);
            let size = chunk.len() as u64;
            if sender.send(chunk).await == Err(PipeClosed) {
                return Ok(None);
            }
            fed += size;
        }
    };
    let (fed, sent): (Result<Option<u64>, CopyError>, _) = tokio::join!(feed, upload);
    // A read that failed is the cause of whatever the upload saw.
    let crc = fed.map_err(Attempt::Fatal)?;
    let output = sent.map_err(|error| classify(context, error))?;
    let Some(crc) = crc else {
        return Err(Attempt::Fatal(CopyError::Task(format!(
            "part {number} was acknowledged before its body was sent"
        ))));
    };
    if let Some(reported) = output
        .checksum_crc64_nvme()
        .and_then(crate::copy::upload::crc64_decode)
        .filter(|reported| *reported != crc)
    {
        return Err(Attempt::Fatal(CopyError::Task(format!(
            "s3 stored part {number} with crc64nvme {} where {} was read",
            crc64_base64(reported),
            crc64_base64(crc)
        ))));
    }
    let etag = target
        .destination
        .required("upload part", "etag", output.e_tag())
        .map_err(Attempt::Fatal)?;
    Ok(UploadedPart {
        number,
        etag: etag.to_owned(),
        crc: Some(crc),
        len,
    })
}

/// Transient failures are sent again; S3's answers about the request itself are final.
fn classify(context: &PartContext, error: SdkError<UploadPartError>) -> Attempt {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.as_service_error().and_then(|e| e.code());
    let transient = match &error {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(_) => {
            matches!(status, Some(429) | Some(500..))
                || matches!(code, Some("SlowDown" | "RequestTimeout" | "BadDigest"))
        }
        _ => status.is_none_or(|status| status == 429 || status >= 500),
    };
    if transient {
        Attempt::Retry(Box::new(error))
    } else {
        Attempt::Fatal(write_error(
            "upload part",
            &context.target.destination,
            error,
        ))
    }
}
