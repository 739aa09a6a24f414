//! The streaming method: part-aligned ranged GETs → transform → [`PartAssembler`] → bounded-memory multipart upload.
//!
//! Each part takes an upload permit *before* the input that fills it is
//! read, and keeps it until S3 has the part; output that fits one part is a
//! single `PutObject`. Any failure takes the one abort path in
//! [`MultipartUpload::abort`]; any other exit (a panic, a dropped future) is
//! caught by the upload's guard.

pub mod assembler;
mod read_window;
mod restart;

use super::content_headers;
use super::context::CopyContext;
use super::error::CopyError;
use super::memory::{self, MemoryPlan};
use super::part_size;
use super::report::{CopyReport, StreamedCounts};
use super::resume::checkpoint::{PartPlan, Restart, Transformed};
use super::resume::{self, Opened, Session};
use super::source::{self, Block, ObjectMetadata, ReadCounters, ResolvedSource, tags};
use super::upload::condition::{Completion, write_newest};
use super::upload::{self, MultipartUpload};
use crate::transform::{Transform, TransformError};
use assembler::{Part, PartAssembler};
use bytes::Bytes;
use read_window::ReadWindow;
use restart::RestartTracker;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Upload permits count KiB, so parts of any size share one semaphore.
const PERMIT_UNIT: u64 = memory::KIB;

/// Where the first part goes until we know whether more output follows.
enum Sink {
    Undecided(Option<(Part, OwnedSemaphorePermit)>),
    Multipart(Box<MultipartUpload>),
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
    /// The destination's metadata is known before the first read (a
    /// resumable copy opens its upload first).
    metadata_known: bool,
    /// A resumable transformed copy's attempt.
    session: Option<Session>,
    /// Its restart points, for the parts cut and not yet all done.
    tracker: Option<RestartTracker>,
    restarts: BTreeMap<u64, Restart>,
    /// The session stopped starting parts before the deadline.
    stopped: bool,
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

    /// Records the restart point after part `done` (parts `1..=done` in
    /// S3) with the session, when the copy can resume.
    fn record_restart(&mut self, done: u64) {
        if let Some(session) = &self.session
            && let Some(restart) = self.restarts.get(&done)
        {
            session.record_restart(*restart);
            self.restarts = self.restarts.split_off(&done);
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
                if let Some(session) = &self.session
                    && !session.may_start()
                {
                    // The part would not finish before the margin: it is
                    // made again next time.
                    self.stopped = true;
                    return Ok(());
                }
                let task = upload.part_task(part, permit);
                resume::spawn(self.session.as_ref(), upload, task);
                upload.collect_finished()?;
                let done = upload.contiguous_done();
                self.record_restart(done);
                Ok(())
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
                self.sink = Sink::Multipart(Box::new(upload));
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
    async fn finish(&mut self) -> Result<Completion, CopyError> {
        let copy = self.copy;
        let verify = copy.verify;
        let condition = copy.write_plan.condition.clone();
        match std::mem::replace(&mut self.sink, Sink::Undecided(None)) {
            Sink::Multipart(upload) => {
                if let Some(session) = &mut self.session {
                    session.all_parts_done();
                }
                let completion = upload
                    .complete(
                        copy.cancel,
                        |crc| verify.check(crc),
                        copy.write_plan.newest.as_ref(),
                        condition,
                    )
                    .await
                    .map_err(|e| copy.counted(e));
                match (&self.session, completion) {
                    (Some(session), Err(error)) => Err(session.completed_with(copy, error).await),
                    (Some(session), Ok(completion)) => {
                        session.forget(copy).await;
                        Ok(completion)
                    }
                    (None, completion) => completion,
                }
            }
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
        metadata_known: false,
        session: None,
        tracker: None,
        restarts: BTreeMap::new(),
        stopped: false,
    };
    let start = match Box::pin(open_resumable(&mut pipeline, transform.as_mut(), &plan)).await {
        Ok(start) => start,
        Err(error) => return Err(copy.counted(error)),
    };
    let reads = Arc::new(ReadCounters::default());
    // Restarted at the input's end (every part in S3, the completion cut
    // off): nothing is left to read or transform.
    let result = if start.parts_done > 0 && start.input_offset >= resolved.size {
        Ok(())
    } else {
        pump(
            &mut pipeline,
            resolved,
            &plan,
            &mut transform,
            &reads,
            start,
        )
        .await
    };
    let verified = copy.verify.word().to_owned();
    let completion = match result {
        Ok(()) if pipeline.stopped => {
            let Sink::Multipart(mut upload) =
                std::mem::replace(&mut pipeline.sink, Sink::Undecided(None))
            else {
                return Err(CopyError::Task("a stopped copy without its upload".into()));
            };
            // The parts in flight were started to finish before the margin.
            let mut joined = Ok(());
            while joined.is_ok() && upload.in_flight() > 0 {
                joined = upload.join_one(copy.cancel).await;
            }
            pipeline.record_restart(upload.contiguous_done());
            let session = pipeline.session.as_ref();
            return Err(match (session, joined) {
                (Some(session), Ok(())) => session.stop(copy, *upload).await,
                (session, Err(error)) => {
                    resume::fail(session, copy, *upload, copy.counted(error)).await
                }
                (None, Ok(())) => upload.abort(copy.cancelled()).await,
            });
        }
        Ok(()) => pipeline.finish().await?,
        Err(error) => {
            let error = copy.counted(error);
            return Err(
                match std::mem::replace(&mut pipeline.sink, Sink::Undecided(None)) {
                    Sink::Multipart(mut upload) => {
                        // Parts that finished count toward the restart point.
                        let _ = upload.collect_finished();
                        pipeline.record_restart(upload.contiguous_done());
                        resume::fail(pipeline.session.as_ref(), copy, *upload, error).await
                    }
                    Sink::Undecided(_) => error,
                },
            );
        }
    };
    let written = match completion {
        Completion::Written(written) => written,
        Completion::Superseded | Completion::Deferred => {
            return Ok(CopyReport::superseded(resolved, started.elapsed()));
        }
    };
    let attempts = match (&pipeline.session, &pipeline.tracker) {
        (Some(session), Some(tracker)) => session.bytes_per_attempt(tracker.parts_end()),
        _ => Vec::new(),
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
    let mut report = CopyReport::streamed(resolved, &written, counted);
    report.attempts = attempts;
    Ok(report)
}

/// For a transform whose output can restart ([`Transform::restart_unit`])
/// and a copy that can resume, larger than a part: opens the upload before
/// the first read (a new one, or an earlier attempt's with its restart
/// point), with the destination's metadata from a `HeadObject`. The point
/// the stream starts from (the input's start otherwise).
///
/// # Cancellation
///
/// Every request is raced against the copy's token.
async fn open_resumable(
    pipeline: &mut Pipeline<'_>,
    transform: &mut dyn Transform,
    plan: &MemoryPlan,
) -> Result<Restart, CopyError> {
    let copy = pipeline.copy;
    let resolved = copy.source;
    let schedule = plan.schedule;
    let resumable = copy
        .settings
        .resume
        .as_ref()
        .is_some_and(|r| r.max_attempts > 1);
    let unit = match transform.restart_unit() {
        Some(unit) if resumable && resolved.size > schedule.base() => unit,
        _ => return Ok(Restart::default()),
    };
    let source_metadata = match &resolved.metadata {
        Some(metadata) => metadata.clone(),
        None => {
            let headed = source::resolve(copy.source_client, resolved.spec.clone(), true);
            tokio::select! {
                () = copy.cancel.cancelled() => return Err(copy.cancelled()),
                headed = headed => headed?.metadata.unwrap_or_default(),
            }
        }
    };
    let mut metadata =
        content_headers::for_output(source_metadata, &*transform, &copy.destination.key);
    let carried = tags::carry(
        copy.source_client,
        resolved,
        &mut metadata,
        copy.settings.copy_tags,
    );
    tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        carried = carried => carried?,
    }
    pipeline.metadata = metadata;
    pipeline.metadata_known = true;
    // The plan records the input's size; the output's parts follow the schedule.
    let proposed = PartPlan {
        method: super::CopyMethod::Stream,
        part_size: schedule.base(),
        parts: resolved.size.div_ceil(schedule.base()).max(1),
        size: resolved.size,
    };
    let transformed = Transformed {
        transform: transform.name().to_owned(),
        unit,
        schedule,
        restart: Restart::default(),
    };
    let Opened {
        upload,
        session,
        restart,
        ..
    } = resume::open(
        copy,
        &copy.destination_metadata(&pipeline.metadata),
        proposed,
        Some(transformed),
    )
    .await?;
    let start = restart.unwrap_or_default();
    if session.is_some() {
        pipeline.tracker = Some(RestartTracker::resuming(unit, &start));
        pipeline.restarts.insert(start.parts_done, start);
    }
    pipeline.session = session;
    pipeline.sink = Sink::Multipart(Box::new(upload));
    Ok(start)
}

/// The ranges to read from `offset` to `size` in blocks of `block`: the
/// whole object's plan from 0, else ranged reads from `offset` (none at
/// the end).
fn ranges_from(offset: u64, size: u64, block: u64) -> Vec<Option<(u64, u64)>> {
    if offset == 0 {
        return source::plan_ranges(size, block);
    }
    let block = block.max(1);
    std::iter::successors(Some(offset), |start| Some(start + block))
        .take_while(|start| *start < size)
        .map(|start| Some((start, (start + block).min(size) - 1)))
        .collect()
}

/// Hands the transform's output chunks to the assembler, through the
/// restart tracker when the copy can resume.
fn feed(
    pipeline: &mut Pipeline<'_>,
    assembler: &mut PartAssembler,
    output: &mut Vec<Bytes>,
) -> Result<(), CopyError> {
    for chunk in output.drain(..) {
        let chunk = match &mut pipeline.tracker {
            Some(tracker) => tracker
                .chunk(chunk)
                .map_err(|diverged| CopyError::Checkpoint {
                    operation: "resume the transform of",
                    bucket: pipeline.copy.destination.bucket.clone(),
                    key: pipeline.copy.destination.key.clone(),
                    class: super::FailureClass::Transient,
                    source: Box::new(diverged),
                })?,
            None => chunk,
        };
        assembler.push(chunk);
    }
    Ok(())
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
    start: Restart,
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
    let ranges = ranges_from(start.input_offset, resolved.size, schedule.base());
    let metadata_known = pipeline.metadata_known;
    let reads = ranges.into_iter().enumerate().map(|(index, range)| {
        source::fetch_block(
            client.clone(),
            resolved.clone(),
            range,
            index == 0 && !metadata_known,
            policy.clone(),
            Arc::clone(counters),
        )
    });
    let mut reads = ReadWindow::new(reads, plan.read_ahead);
    let mut assembler = PartAssembler::starting_at(schedule, start.parts_done + 1);
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
                    feed(pipeline, &mut assembler, &mut output)?;
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
            feed(pipeline, &mut assembler, &mut output)?;
            if ended {
                assembler.finish();
            }
        }
        while let Some(part) = assembler.pop() {
            if let Some(tracker) = &mut pipeline.tracker
                && let Some(restart) = tracker.after(&part)
            {
                pipeline.restarts.insert(part.number, restart);
            }
            let part_permit = match permit.take() {
                Some(permit) => permit,
                None => pipeline.permit(part.data.len() as u64).await?,
            };
            pipeline.dispatch(part, part_permit).await?;
            if pipeline.stopped {
                return Ok(());
            }
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
