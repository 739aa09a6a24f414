//! The piped method for identity copies of more than one part: each part's ranged GET streams into its `UploadPart`.
//!
//! No part sits whole in memory: a part's bytes pass through a pipe of
//! [`memory::PIPE_BUFFER`] on their way from the GET to the upload, sent
//! aws-chunked with the part's CRC64NVME as a trailing checksum. Memory is
//! parts in flight × [`memory::PIPE_RESERVATION`] whatever the part size, so
//! objects up to S3's 48.8 TiB (10,000 parts of 5 GiB) stream at any memory
//! size. The parts' checksums combine into the full-object CRC64NVME that
//! is compared with the source's before `CompleteMultipartUpload`.

use super::context::CopyContext;
use super::error::CopyError;
use super::memory;
use super::part_size::{self, PartSchedule};
use super::report::{CopyReport, StreamedCounts};
use super::resume::{self, Opened, Ready, checkpoint::PartPlan};
use super::server::CopyMethod;
use super::source::{self, RangeReader, ReadCounters, tags};
use super::upload::condition::Completion;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod body;
mod part;

/// True when `copy` goes piped: an identity copy of more than one part.
pub(crate) fn applies(copy: &CopyContext<'_>, identity: bool) -> bool {
    identity
        && copy.source.size
            > PartSchedule::new(copy.settings.part_size, Some(copy.source.size), true).base()
}

/// Copies the resolved source part by part, each part's GET piped into its
/// upload, at most [`memory::PipedPlan::pipes`] at once (reserved from the
/// shared memory pool, if any, before the first read).
///
/// # Cancellation
///
/// Every await is raced against `copy.cancel`: the copy aborts its upload
/// (cancelling the parts in flight) and returns `CopyError::Cancelled`.
/// Dropping the future instead leaves the abort to the upload's guard.
pub(crate) async fn copy(copy: &CopyContext<'_>) -> Result<CopyReport, CopyError> {
    let CopyContext {
        source_client,
        source: resolved,
        settings,
        write_plan,
        verify,
        cancel,
        progress,
        started,
        ..
    } = *copy;
    if resolved.size > part_size::MAX_OBJECT_SIZE {
        return Err(CopyError::TooLarge {
            limit: part_size::MAX_OBJECT_SIZE,
        });
    }
    let schedule = PartSchedule::new(settings.part_size, Some(resolved.size), true);
    let plan = memory::plan_piped(settings, settings.memory_budget)?;
    let _reserved = match &settings.memory_pool {
        Some(pool) => Some(pool.reserve(plan.reservation, cancel).await?),
        None => None,
    };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let cancelled = || CopyError::Cancelled {
        bytes_read: bytes_read.load(Ordering::Relaxed),
        bytes_written: progress.bytes_written.load(Ordering::Relaxed),
    };
    let counted = |error: CopyError| match error {
        CopyError::Cancelled { .. } => cancelled(),
        other => other,
    };
    let ranges: Vec<(u64, u64)> = source::plan_ranges(resolved.size, schedule.base())
        .into_iter()
        .flatten()
        .collect();
    let reads = Arc::new(ReadCounters::default());
    // The source's metadata goes on the upload when it is created: from the
    // HeadObject when one was sent, else from the first part's GET.
    let mut first = None;
    let metadata = match (&resolved.metadata, ranges.first()) {
        (Some(metadata), _) => metadata.clone(),
        (None, first_range) => {
            let open = RangeReader::open(
                source_client.clone(),
                resolved.clone(),
                first_range.copied(),
                settings.read_retry.clone(),
                Arc::clone(&reads),
            );
            let reader = tokio::select! {
                () = cancel.cancelled() => return Err(cancelled()),
                reader = open => reader?,
            };
            let metadata = reader.metadata();
            first = Some(reader);
            metadata
        }
    };
    let mut metadata = copy.destination_metadata(&metadata);
    if settings.copy_tags {
        metadata.tagging = tokio::select! {
            () = cancel.cancelled() => return Err(cancelled()),
            tagging = tags::read(source_client, resolved) => tagging?,
        };
    }
    let proposed = PartPlan {
        method: CopyMethod::Stream,
        part_size: schedule.base(),
        parts: ranges.len() as u64,
        size: resolved.size,
    };
    let Opened {
        mut upload,
        plan: recorded,
        done,
        mut session,
        ..
    } = Box::pin(resume::open(copy, &metadata, proposed, None))
        .await
        .map_err(counted)?;
    // A resumed copy follows the plan its parts were cut by (the first
    // part's reader, opened for the metadata, may read another range then).
    if recorded.part_size != schedule.base() {
        first = None;
    }
    let ranges: Vec<(u64, u64)> = source::plan_ranges(resolved.size, recorded.part_size)
        .into_iter()
        .flatten()
        .collect();
    // Parts listed without their checksum (stores that report none): S3
    // checks the whole object against the source's on completion instead.
    upload.expect_crc(verify.expected_crc());
    let upload_retries = Arc::new(AtomicU64::new(0));
    let context = part::PartContext {
        source_client: source_client.clone(),
        source: resolved.clone(),
        target: upload.target().clone(),
        policy: settings.read_retry.clone(),
        reads: Arc::clone(&reads),
        upload_retries: Arc::clone(&upload_retries),
        bytes_read: Arc::clone(&bytes_read),
        bytes_written: Arc::clone(&progress.bytes_written),
        buffer: memory::PIPE_BUFFER,
    };
    let mut stopped = false;
    for (index, range) in ranges.into_iter().enumerate() {
        let number = index as u64 + 1;
        if done.contains(&number) {
            // The first part's reader, opened for the metadata, is not needed.
            if number == 1 {
                first = None;
            }
            continue;
        }
        let mut joined = Ok(());
        while joined.is_ok() && upload.in_flight() >= plan.pipes {
            joined = upload.join_one(cancel).await;
        }
        if joined.is_ok() && session.as_ref().is_some_and(|s| !s.may_start()) {
            stopped = true;
            break;
        }
        progress
            .bytes_read
            .store(bytes_read.load(Ordering::Relaxed), Ordering::Relaxed);
        if let Err(error) = joined {
            return Err(resume::fail(session.as_ref(), copy, upload, counted(error)).await);
        }
        let task = part::copy_part(context.clone(), number, range, first.take());
        resume::spawn(session.as_ref(), &mut upload, task);
    }
    let mut joined = Ok(());
    while joined.is_ok() && upload.in_flight() > 0 {
        joined = upload.join_one(cancel).await;
    }
    progress
        .bytes_read
        .store(bytes_read.load(Ordering::Relaxed), Ordering::Relaxed);
    if let Err(error) = joined {
        return Err(resume::fail(session.as_ref(), copy, upload, counted(error)).await);
    }
    if let Some(session) = &mut session {
        if stopped {
            return Err(session.stop(copy, upload).await);
        }
        match Box::pin(session.ready_to_complete(copy, &mut upload)).await {
            Ok(Ready::Complete) => {}
            Ok(Ready::Deferred) => {
                upload.release();
                progress
                    .bytes_read
                    .store(bytes_read.load(Ordering::Relaxed), Ordering::Relaxed);
                return Ok(CopyReport::segment(resolved, false, started.elapsed()));
            }
            Ok(Ready::NoTime) => return Err(session.stop(copy, upload).await),
            Ok(Ready::Gone) => {
                upload.release();
                return Err(session.gone(copy));
            }
            Err(error) => return Err(session.fail(copy, upload, counted(error)).await),
        }
        session.all_parts_done();
    }
    let completion = upload
        .complete(
            cancel,
            |crc| verify.check(crc),
            write_plan.newest.as_ref(),
            write_plan.condition.clone(),
        )
        .await
        .map_err(counted);
    let attempts = match (&session, completion) {
        (Some(session), Err(error)) => return Err(session.completed_with(copy, error).await),
        (_, Err(error)) => return Err(error),
        (Some(session), Ok(completion)) => {
            session.forget(copy).await;
            (completion, session.bytes_per_attempt(resolved.size))
        }
        (None, Ok(completion)) => (completion, Vec::new()),
    };
    let (completion, attempts) = attempts;
    let written = match completion {
        Completion::Written(written) => written,
        Completion::Superseded => return Ok(CopyReport::superseded(resolved, started.elapsed())),
        Completion::Deferred => {
            return Ok(CopyReport::segment(resolved, false, started.elapsed()));
        }
    };
    // Parts of earlier attempts listed without checksums were checked by
    // S3 at completion: the object's reported checksum must be the source's.
    let verified = super::server::settle(copy, &written).await?;
    let bytes_read = bytes_read.load(Ordering::Relaxed);
    progress.bytes_read.store(bytes_read, Ordering::Relaxed);
    let counted = StreamedCounts {
        bytes_read,
        bytes_written: progress.bytes_written.load(Ordering::Relaxed),
        part_size: recorded.part_size,
        elapsed: started.elapsed(),
        read_retries: reads.retries.load(Ordering::Relaxed),
        upload_retries: upload_retries.load(Ordering::Relaxed),
        verified: verified.to_owned(),
    };
    let mut report = CopyReport::streamed(resolved, &written, counted);
    report.attempts = attempts;
    Ok(report)
}
