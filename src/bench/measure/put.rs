//! PUT-only: a multipart upload of the source's size from one block in memory, so many parts at once, completed, then deleted.

use super::{Bench, Failure, Payload};
use crate::bench::case::Case;
use crate::copy::upload::MultipartUpload;
use crate::copy::upload::condition::WriteCondition;
use crate::copy::{CopyError, Destination, ObjectMetadata, Part};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Uploads `size` bytes of `block` to `destination` in parts of
/// `part_size`, `concurrency` at a time, and completes the upload.
///
/// # Cancellation
///
/// A cancelled upload is aborted (the engine's abort path) before this
/// returns `CopyError::Cancelled`.
pub(crate) async fn upload_from_memory(
    client: &aws_sdk_s3::Client,
    destination: &Destination,
    payload: &Payload,
    size: u64,
    part_size: u64,
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<u64, CopyError> {
    let metadata = ObjectMetadata {
        user: payload.marker.clone(),
        ..ObjectMetadata::default()
    };
    let uploaded = Arc::new(AtomicU64::new(0));
    let mut upload = MultipartUpload::create(
        client,
        destination,
        &metadata,
        &payload.options,
        Arc::clone(&uploaded),
        cancel,
    )
    .await?;
    let permits = Arc::new(Semaphore::new(concurrency));
    for number in 1..=size.div_ceil(part_size).max(1) {
        let len = part_size.min(size - (number - 1) * part_size) as usize;
        let permit = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            permit = Arc::clone(&permits).acquire_owned() => permit.ok(),
        };
        let Some(permit) = permit else {
            return Err(upload.abort(cancelled()).await);
        };
        upload.spawn_part(
            Part {
                number,
                data: payload.block.slice(..len),
            },
            permit,
        );
        if let Err(error) = upload.collect_finished() {
            return Err(upload.abort(error).await);
        }
    }
    while upload.in_flight() > 0 {
        if let Err(error) = upload.join_one(cancel).await {
            return Err(upload.abort(error).await);
        }
    }
    upload
        .complete(cancel, |_| Ok(()), None, WriteCondition::Unconditional)
        .await?;
    Ok(size)
}

fn cancelled() -> CopyError {
    CopyError::Cancelled {
        bytes_read: 0,
        bytes_written: 0,
    }
}

/// Uploads the source's size and completes it ([`super::run`] deletes it
/// after the clock stops).
pub async fn multipart(
    bench: &Bench,
    case: &Case,
    cancel: &CancellationToken,
) -> Result<u64, Failure> {
    let destination = Destination {
        bucket: bench.bucket.clone(),
        key: super::written_key(bench, case.operation).unwrap_or_default(),
    };
    upload_from_memory(
        &bench.client,
        &destination,
        &bench.payload,
        bench.source.size,
        case.part_size,
        case.concurrency,
        cancel,
    )
    .await
    .map_err(|error| Failure::of_copy(case, error))
}
