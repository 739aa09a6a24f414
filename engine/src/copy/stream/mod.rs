//! The streaming method: part-aligned ranged GETs → transform → [`PartAssembler`] → bounded-memory multipart upload.
//!
//! Each part takes an upload permit *before* the input that fills it is
//! read, and keeps it until S3 has the part; output that fits one part is a
//! single `PutObject`. Any failure takes the one abort path in
//! [`MultipartUpload::abort`]; any other exit (a panic, a dropped future) is
//! caught by the upload's guard.

pub mod assembler;
mod read_window;

use super::content_headers;
use super::context::CopyContext;
use super::error::CopyError;
use super::memory::{self, MemoryPlan};
use super::part_size;
use super::report::{CopyReport, StreamedCounts};
use super::source::{self, Block, ObjectMetadata, ReadCounters, ResolvedSource, tags};
use super::upload::condition::{Completion, write_newest};
use super::upload::{self, MultipartUpload};
use crate::transform::{Transform, TransformError};
use assembler::{Part, PartAssembler};
use bytes::Bytes;
use read_window::ReadWindow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Upload permits count KiB, so parts of any size share one semaphore.
const PERMIT_UNIT: u64 = memory::KIB;

/// Where the first part goes until we know whether more output follows.
enum Sink {
    Undecided(Option<(Part, OwnedSemaphorePermit)>),
    Multipart(MultipartUpload),
}

/// Everything one copy run holds.
struct Pipeline<'a> {
    copy: &'a CopyContext<'a>,
    slots: Arc<Semaphore>,
    slot_capacity: u32,
    /// The source's metadata, once the first block brought it.
    metadata: ObjectMetadata,
    sink: Sink,
    output_known_multipart: Option<bool>,
    /// For output of unknown length: the most the memory plan can upload.
    output_limit: Option<u64>,
}

impl Pipeline<'_> {
    /// Takes the upload permit for a part of `size` bytes.
    async fn permit(&self, size: u64) -> Result<OwnedSemaphorePermit, CopyError> {
        let units = u32::try_from(size.div_ceil(PERMIT_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.slot_capacity);
        tokio::select! {
            () = self.copy.cancel.cancelled() => Err(self.copy.cancelled()),
            permit = Arc::clone(&self.slots).acquire_many_owned(units) => {
                permit.map_err(|_| CopyError::Task("upload permits closed".into()))
            }
        }
    }

    /// Sends a complete part to the destination.
    async fn dispatch(
        &mut self,
        part: Part,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), CopyError> {
        if part.number > part_size::MAX_PARTS {
            return Err(match self.output_limit {
                Some(limit) => CopyError::OutputTooLargeForMemory {
                    limit,
                    budget: self.copy.settings.memory_budget,
                },
                None => CopyError::TooLarge {
                    limit: part_size::MAX_OBJECT_SIZE,
                },
            });
        }
        match &mut self.sink {
            Sink::Multipart(upload) => {
                upload.spawn_part(part, permit);
                upload.collect_finished()
            }
            Sink::Undecided(first)
                if first.is_none() && self.output_known_multipart != Some(true) =>
            {
                *first = Some((part, permit));
                Ok(())
            }
            Sink::Undecided(first) => {
                let held = first.take();
                let copy = self.copy;
                let mut upload = MultipartUpload::create(
                    copy.client,
                    copy.destination,
                    &copy.destination_metadata(&self.metadata),
                    &copy.settings.options,
                    Arc::clone(&copy.progress.bytes_written),
                    copy.cancel,
                )
                .await
                .map_err(|e| copy.counted(e))?;
                if let Some((held_part, held_permit)) = held {
                    upload.spawn_part(held_part, held_permit);
                }
                upload.spawn_part(part, permit);
                self.sink = Sink::Multipart(upload);
                Ok(())
            }
        }
    }

    /// Finishes the destination once the input has ended, once the copy's
    /// checksum has passed [`Verify::check`].
    ///
    /// # Cancellation
    ///
    /// Every await is raced against the copy's token; a multipart upload is
    /// aborted before `CopyError::Cancelled` returns.
    async fn finish(mut self) -> Result<Completion, CopyError> {
        let copy = self.copy;
        let verify = copy.verify;
        let condition = copy.write_plan.condition.clone();
        match std::mem::replace(&mut self.sink, Sink::Undecided(None)) {
            Sink::Multipart(upload) => upload
                .complete(
                    copy.cancel,
                    |crc| verify.check(crc),
                    copy.write_plan.newest.as_ref(),
                    condition,
                )
                .await
                .map_err(|e| copy.counted(e)),
            Sink::Undecided(first) => {
                let data = first.map(|(part, _permit)| part.data).unwrap_or_default();
                let metadata = copy.destination_metadata(&self.metadata);
                let completion = write_newest(
                    copy.write_plan.newest.as_ref(),
                    condition,
                    copy.cancel,
                    || copy.cancelled(),
                    |condition| {
                        let data = data.clone();
                        let metadata = &metadata;
                        async move {
                            let target = upload::PutTarget {
                                client: copy.client,
                                destination: copy.destination,
                                metadata,
                                options: &copy.settings.options,
                            };
                            upload::put_single(
                                &target,
                                data,
                                copy.cancel,
                                |crc| verify.check(crc),
                                &condition,
                            )
                            .await
                        }
                    },
                )
                .await
                .map_err(|e| copy.counted(e))?;
                if let Completion::Written(_) = completion {
                    copy.progress
                        .bytes_written
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Ok(completion)
            }
        }
    }
}

/// Streams the resolved source through `transform` into the destination,
/// within the copy's memory plan (reserved from the shared memory pool, if
/// any, before the first read).
///
/// # Cancellation
///
/// Every await is raced against `copy.cancel`: the copy aborts its upload
/// and returns `CopyError::Cancelled`. Dropping the future instead leaves
/// the abort to the upload's guard (spawned, best effort).
pub(crate) async fn copy(
    copy: &CopyContext<'_>,
    mut transform: Box<dyn Transform>,
) -> Result<CopyReport, CopyError> {
    let (resolved, settings, progress, started) =
        (copy.source, copy.settings, copy.progress, copy.started);
    let output_known = transform.preserves_length();
    if output_known && resolved.size > part_size::MAX_OBJECT_SIZE {
        return Err(CopyError::TooLarge {
            limit: part_size::MAX_OBJECT_SIZE,
        });
    }
    // The transform's own window counts against the copy's budget, never beside it.
    let window = transform.window();
    let plan = memory::plan(
        settings,
        Some(resolved.size),
        memory::Output::of(transform.as_ref()),
        settings.memory_budget.saturating_sub(window),
    )?;
    let _reserved = match &settings.memory_pool {
        Some(pool) => Some(pool.reserve(plan.reservation + window, copy.cancel).await?),
        None => None,
    };
    let schedule = plan.schedule;
    let slot_capacity = u32::try_from(plan.upload_capacity / PERMIT_UNIT).unwrap_or(u32::MAX);
    let mut pipeline = Pipeline {
        copy,
        slots: Arc::new(Semaphore::new(slot_capacity as usize)),
        slot_capacity,
        metadata: ObjectMetadata::default(),
        sink: Sink::Undecided(None),
        output_known_multipart: output_known.then(|| resolved.size > schedule.base()),
        output_limit: (!output_known).then(|| plan.max_output()),
    };
    let reads = Arc::new(ReadCounters::default());
    let result = pump(&mut pipeline, resolved, &plan, &mut transform, &reads).await;
    let verified = copy.verify.word().to_owned();
    let completion = match result {
        Ok(()) => pipeline.finish().await?,
        Err(error) => {
            let error = copy.counted(error);
            return Err(
                match std::mem::replace(&mut pipeline.sink, Sink::Undecided(None)) {
                    Sink::Multipart(upload) => upload.abort(error).await,
                    Sink::Undecided(_) => error,
                },
            );
        }
    };
    let written = match completion {
        Completion::Written(written) => written,
        Completion::Superseded => return Ok(CopyReport::superseded(resolved, started.elapsed())),
    };
    let counted = StreamedCounts {
        bytes_read: progress.bytes_read.load(Ordering::Relaxed),
        bytes_written: progress.bytes_written.load(Ordering::Relaxed),
        part_size: schedule.base(),
        elapsed: started.elapsed(),
        read_retries: reads.retries.load(Ordering::Relaxed),
        upload_retries: 0,
        verified,
    };
    Ok(CopyReport::streamed(resolved, &written, counted))
}

/// Reads, transforms and dispatches until the input ends or something fails.
/// One call into a transform.
enum Step {
    /// `push` this input.
    Push(Bytes),
    /// `drain` output it held back.
    Drain,
    /// `finish`: the input has ended.
    Finish,
    /// Not a call: read the next block.
    Read,
}

/// Runs one [`Step`] of `transform`, on a
/// blocking thread when the transform is CPU-heavy so the async workers keep
/// driving the GETs and uploads.
///
/// # Cancellation
///
/// A push on a blocking thread runs to its end (one block's work) even when
/// the copy stops waiting for it: the wait is raced against the copy's token,
/// so the abort starts at once, and the transform is lost with the copy.
async fn run_transform(
    pipeline: &Pipeline<'_>,
    transform: &mut Box<dyn Transform>,
    step: Step,
    output: &mut Vec<Bytes>,
) -> Result<(), CopyError> {
    let apply = |transform: &mut dyn Transform, output: &mut Vec<Bytes>, step: Step| match step {
        Step::Push(input) => transform.push(input, output),
        Step::Drain => transform.drain(output),
        Step::Finish => transform.finish(output),
        Step::Read => Ok(()),
    };
    if !transform.is_cpu_heavy() {
        return Ok(apply(transform.as_mut(), output, step)?);
    }
    let mut moved = std::mem::replace(transform, Box::new(crate::transform::Identity));
    let mut out = std::mem::take(output);
    let work = tokio::task::spawn_blocking(move || {
        let result = apply(moved.as_mut(), &mut out, step);
        (moved, out, result)
    });
    let (moved, out, result) = tokio::select! {
        () = pipeline.copy.cancel.cancelled() => return Err(pipeline.copy.cancelled()),
        joined = work => joined,
    }
    .map_err(|e| CopyError::Task(format!("the transform's thread failed: {e}")))?;
    *transform = moved;
    *output = out;
    Ok(result?)
}

async fn pump(
    pipeline: &mut Pipeline<'_>,
    resolved: &ResolvedSource,
    plan: &MemoryPlan,
    transform: &mut Box<dyn Transform>,
    counters: &Arc<ReadCounters>,
) -> Result<(), CopyError> {
    let max_push = transform.max_push();
    // The rest of the current block, not yet pushed (a transform that
    // expands takes it in pieces of `max_push`, each drained before the next).
    let mut unpushed = Bytes::new();
    // `finish` was called; the copy's input ends once nothing is held back.
    let mut finished = false;
    let schedule = plan.schedule;
    let known_output = transform.preserves_length().then_some(resolved.size);
    let client = pipeline.copy.source_client.clone();
    let policy = pipeline.copy.settings.read_retry.clone();
    let ranges = source::plan_ranges(resolved.size, schedule.base());
    let reads = ranges.into_iter().enumerate().map(|(index, range)| {
        source::fetch_block(
            client.clone(),
            resolved.clone(),
            range,
            index == 0,
            policy.clone(),
            Arc::clone(counters),
        )
    });
    let mut reads = ReadWindow::new(reads, plan.read_ahead);
    let mut assembler = PartAssembler::new(schedule);
    let mut output = Vec::new();
    let mut ended = false;
    while !ended || assembler.has_held() {
        // The permit for the next part is taken before its input is read (or
        // its held input copied into a buffer); a known-length output's last
        // part takes only what it will hold.
        let next = assembler.next_part_size();
        let next = known_output.map_or(next, |total| {
            next.min(total.saturating_sub(assembler.bytes_in()))
        });
        // Nothing left of a known-length output: only the input's end remains
        // to be read, and it needs no room.
        let mut permit = match next {
            0 => None,
            _ => Some(pipeline.permit(next).await?),
        };
        assembler.resume();
        while assembler.ready_len() == 0 && !ended {
            // Held-back output first, then the rest of the block, then the next block.
            let step = if transform.has_pending() {
                Some(Step::Drain)
            } else if !unpushed.is_empty() {
                Some(Step::Push(match max_push {
                    Some(max) if unpushed.len() > max => unpushed.split_to(max),
                    _ => std::mem::take(&mut unpushed),
                }))
            } else if finished {
                None
            } else {
                Some(Step::Read)
            };
            match step {
                Some(Step::Read) => {}
                Some(step) => {
                    // An inline step (gunzip, ndjson) does not await: the
                    // token is checked before each, so a cancelled copy stops
                    // within one step, not one part.
                    if pipeline.copy.cancel.is_cancelled() {
                        return Err(pipeline.copy.cancelled());
                    }
                    run_transform(pipeline, transform, step, &mut output).await?;
                    for chunk in output.drain(..) {
                        assembler.push(chunk);
                    }
                    if finished && !transform.has_pending() {
                        ended = true;
                        assembler.finish();
                    }
                    continue;
                }
                None => {
                    ended = true;
                    assembler.finish();
                    continue;
                }
            }
            let next = tokio::select! {
                () = pipeline.copy.cancel.cancelled() => return Err(pipeline.copy.cancelled()),
                next = reads.next() => next,
            };
            match next {
                Some(read) => {
                    let block: Block = read?;
                    if let Some(metadata) = block.metadata {
                        let mut metadata = content_headers::for_output(
                            metadata,
                            transform.as_ref(),
                            &pipeline.copy.destination.key,
                        );
                        let carried = tags::carry(
                            &client,
                            resolved,
                            &mut metadata,
                            pipeline.copy.settings.copy_tags,
                        );
                        tokio::select! {
                            () = pipeline.copy.cancel.cancelled() => return Err(pipeline.copy.cancelled()),
                            carried = carried => carried?,
                        }
                        pipeline.metadata = metadata;
                    }
                    pipeline
                        .copy
                        .progress
                        .bytes_read
                        .fetch_add(block.data.len() as u64, Ordering::Relaxed);
                    unpushed = block.data;
                }
                None => {
                    run_transform(pipeline, transform, Step::Finish, &mut output).await?;
                    finished = true;
                    ended = !transform.has_pending();
                }
            }
            for chunk in output.drain(..) {
                assembler.push(chunk);
            }
            if ended {
                assembler.finish();
            }
        }
        while let Some(part) = assembler.pop() {
            let part_permit = match permit.take() {
                Some(permit) => permit,
                None => pipeline.permit(part.data.len() as u64).await?,
            };
            pipeline.dispatch(part, part_permit).await?;
        }
    }
    if let Some(total) = known_output
        && assembler.bytes_in() != total
    {
        return Err(CopyError::Transform(TransformError {
            name: transform.name(),
            message: format!(
                "declares that it keeps the length, but wrote {} bytes for the {total} it read",
                assembler.bytes_in()
            ),
        }));
    }
    tracing::debug!(
        "read window ended at {} of {} reads in flight",
        reads.depth(),
        plan.read_ahead.max(1)
    );
    Ok(())
}
