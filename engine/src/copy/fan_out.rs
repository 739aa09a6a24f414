//! One object's copy split over many invocations: the split (upload, checkpoint, segments) and each segment's copy.
//!
//! A record for an identity copy above the fan-out threshold does not copy:
//! it opens the upload and its checkpoint as a resumable copy would (the
//! plan recorded), cuts the plan's parts into [`Segment`]s and reports them
//! ([`FannedOut`]); the handler sends one work-queue message per segment.
//! Each segment's invocation copies only its parts into that upload (the
//! method the plan records), resumable at its deadline like any copy; it
//! never counts attempts in the checkpoint (segments run side by side).
//! The segment that finds every part in S3 (`ListParts`, after its own are
//! done) completes the upload, verified against the source's CRC64NVME; a
//! segment that fails permanently aborts it, so every later segment fails
//! too ([`CopyError::FanOutGone`]) and their messages reach the dead-letter
//! queue. Deleting the checkpoint cancels a copy the same way.

use super::context::CopyContext;
use super::error::CopyError;
use super::report::CopyReport;
use super::resume::checkpoint::{self, PartPlan, Read};
use super::resume::{self, Opened};
use super::server::{CopyMethod, CopyMode, PartCopyPlan};
use super::upload::abort::AbortTarget;
use super::upload::{Expected, landed};
use std::time::Duration;

/// How long a segment's invocation is planned to copy: a third of what it
/// has (at most 15 minutes), so a slow share still finishes without a hop.
pub const SEGMENT_SHARE_OF_TIMEOUT: f64 = 1.0 / 3.0;

/// What one part copy moves per second, for sizing segments: S3 copies a
/// part at 50–200 MB/s in a region; the low end keeps segments short.
pub const PART_COPY_BYTES_PER_SECOND: u64 = 50_000_000;

/// What one streamed connection moves per second inside Lambda (about
/// 90 MB/s measured; less, for headroom).
pub const STREAM_BYTES_PER_SECOND: u64 = 60_000_000;

/// The invocation time segments are sized for when the deadline is not
/// known (a command line run).
pub const DEFAULT_SEGMENT_TIME: Duration = Duration::from_secs(300);

/// Fan-out's settings (`FAN_OUT_THRESHOLD_MIB`, `FAN_OUT_SEGMENT_PARTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutSettings {
    /// Identity copies of more bytes than this fan out.
    pub threshold: u64,
    /// Parts per segment; `None`: sized from the method's pace and the
    /// invocation's time ([`segment_parts`]).
    pub segment_parts: Option<u64>,
}

/// One segment of a fanned-out copy: parts `first..=last` of upload
/// `upload_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The upload every segment writes into.
    pub upload_id: String,
    /// Its first part.
    pub first: u64,
    /// Its last part.
    pub last: u64,
    /// What names this delivery chain in a completion claim: the id of the
    /// message the split sent, kept by every hand-off (a retry of the
    /// message, or its next hop, recognises its own claim; a duplicate
    /// message is another chain).
    pub claim_token: String,
}

impl Segment {
    /// Whether part `number` is this segment's.
    pub fn holds(&self, number: u64) -> bool {
        (self.first..=self.last).contains(&number)
    }

    /// The segment as its message attribute carries it: `first-last`.
    pub fn range(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }

    /// The segment of `upload_id` that `range` (`first-last`) names, its
    /// claims made as `claim_token`.
    pub fn parse(upload_id: &str, range: &str, claim_token: &str) -> Option<Segment> {
        let (first, last) = range.split_once('-')?;
        let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
        (!upload_id.is_empty() && first >= 1 && first <= last).then(|| Segment {
            upload_id: upload_id.to_owned(),
            first,
            last,
            claim_token: claim_token.to_owned(),
        })
    }
}

/// A copy split into segments: what the handler sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FannedOut {
    /// The upload every segment writes into.
    pub upload_id: String,
    /// Parts in the plan.
    pub parts: u64,
    /// `(first, last)` part of each segment still to copy.
    pub segments: Vec<(u64, u64)>,
}

/// Parts per segment: what `concurrency` requests of `method` move in
/// [`SEGMENT_SHARE_OF_TIMEOUT`] of `time`, in parts of `part_size`, at
/// least one.
pub fn segment_parts(
    method: CopyMethod,
    concurrency: usize,
    time: Duration,
    part_size: u64,
) -> u64 {
    let pace = match method {
        CopyMethod::Server => PART_COPY_BYTES_PER_SECOND,
        CopyMethod::Stream => STREAM_BYTES_PER_SECOND,
    };
    let bytes =
        pace as f64 * concurrency.max(1) as f64 * time.as_secs_f64() * SEGMENT_SHARE_OF_TIMEOUT;
    ((bytes / part_size.max(1) as f64) as u64).max(1)
}

/// The segments of `parts` parts, `per_segment` each, leaving out those
/// whose parts are all in `done`.
pub fn segments(
    parts: u64,
    per_segment: u64,
    done: &std::collections::BTreeSet<u64>,
) -> Vec<(u64, u64)> {
    let per_segment = per_segment.max(1);
    (0..parts.div_ceil(per_segment))
        .map(|index| {
            let first = index * per_segment + 1;
            (first, (first + per_segment - 1).min(parts))
        })
        .filter(|(first, last)| !(*first..=*last).all(|number| done.contains(&number)))
        .collect()
}

/// Whether `copy` fans out: an identity copy of more than one part and
/// more than the threshold, that can resume (the checkpoint is what every
/// segment reads).
pub(crate) fn applies(copy: &CopyContext<'_>, identity: bool) -> bool {
    let settings = copy.settings;
    let resumable = settings.resume.as_ref().is_some_and(|r| r.max_attempts > 1);
    match settings.fan_out {
        Some(fan_out) => identity && resumable && copy.source.size > fan_out.threshold,
        None => false,
    }
}

/// The method a fanned-out copy takes: server-side unless `COPY_MODE=stream`
/// (a segment cannot fall back mid-copy), and its plan.
fn proposed(copy: &CopyContext<'_>) -> Result<(PartPlan, usize), CopyError> {
    let too_large = || CopyError::TooLarge {
        limit: super::part_size::MAX_OBJECT_SIZE,
    };
    if copy.settings.mode == CopyMode::Stream {
        let schedule = super::part_size::PartSchedule::new(
            copy.settings.part_size,
            Some(copy.source.size),
            true,
        );
        let plan = PartPlan {
            method: CopyMethod::Stream,
            part_size: schedule.base(),
            parts: copy.source.size.div_ceil(schedule.base()).max(1),
            size: copy.source.size,
        };
        let pipes = super::memory::plan_piped(copy.settings, copy.settings.memory_budget)?.pipes;
        return Ok((plan, pipes));
    }
    let plan = PartCopyPlan::new(copy.source.size, copy.settings.server.part_size)
        .ok_or_else(too_large)?;
    Ok((
        PartPlan {
            method: CopyMethod::Server,
            part_size: plan.part_size,
            parts: plan.parts(),
            size: plan.size,
        },
        copy.settings.server.concurrency,
    ))
}

/// Splits the copy: opens its upload and checkpoint (or finds the ones an
/// earlier delivery of this record opened: the segments still to copy are
/// sent again, which segments make harmless) and reports the segments.
/// `None` when S3 refuses the checkpoint: the copy goes on in this
/// invocation instead.
///
/// # Cancellation
///
/// Every request is raced against the copy's token; an upload created here
/// is aborted before `CopyError::Cancelled` returns.
pub(crate) async fn split(copy: &CopyContext<'_>) -> Result<Option<CopyReport>, CopyError> {
    let (proposed, concurrency) = proposed(copy)?;
    let (upload_id, plan, done) = match Box::pin(split_before(copy, &proposed)).await? {
        Some(split) => split,
        None => {
            let mut metadata =
                copy.destination_metadata(&copy.source.metadata.clone().unwrap_or_default());
            if copy.settings.copy_tags {
                metadata.tagging = tokio::select! {
                    () = copy.cancel.cancelled() => return Err(copy.cancelled()),
                    tagging = super::source::tags::read(copy.source_client, copy.source) => tagging?,
                };
            }
            let Opened {
                upload,
                plan,
                done,
                session,
                ..
            } = Box::pin(resume::open(copy, &metadata, proposed, None)).await?;
            if session.is_none() {
                // S3 refused the checkpoint segments would read: the copy
                // goes on in this invocation, as one that cannot resume.
                upload.abort(copy.cancelled()).await;
                tracing::warn!(
                    "s3://{}/{} is not fanned out: its checkpoint was refused",
                    copy.source.spec.bucket,
                    copy.source.spec.key
                );
                return Ok(None);
            }
            let upload_id = upload.upload_id().to_owned();
            upload.release();
            (upload_id, plan, done)
        }
    };
    let time = copy
        .settings
        .resume
        .as_ref()
        .and_then(|r| r.stop_at)
        .map(|stop| stop.saturating_duration_since(tokio::time::Instant::now()))
        .filter(|left| !left.is_zero())
        .unwrap_or(DEFAULT_SEGMENT_TIME);
    let per_segment = copy
        .settings
        .fan_out
        .and_then(|f| f.segment_parts)
        .unwrap_or_else(|| segment_parts(plan.method, concurrency, time, plan.part_size));
    let fanned = FannedOut {
        upload_id,
        parts: plan.parts,
        segments: segments(plan.parts, per_segment, &done),
    };
    tracing::info!(
        "copy of s3://{}/{} to s3://{}/{} fans out: upload {}, {} segments of {} of its {} parts",
        copy.source.spec.bucket,
        copy.source.spec.key,
        copy.destination.bucket,
        copy.destination.key,
        fanned.upload_id,
        fanned.segments.len(),
        per_segment,
        fanned.parts
    );
    Ok(Some(CopyReport::split(
        copy.source,
        plan,
        fanned,
        copy.started.elapsed(),
    )))
}

/// The upload an earlier delivery of this record split, still open with
/// the same plan (its id, plan and the parts S3 holds): it is split again
/// as it is, without counting an attempt (a count that reached
/// `RESUME_MAX_ATTEMPTS` would replace the upload its segments write into).
async fn split_before(
    copy: &CopyContext<'_>,
    proposed: &PartPlan,
) -> Result<Option<(String, PartPlan, std::collections::BTreeSet<u64>)>, CopyError> {
    let key = checkpoint::key(copy.source, copy.destination);
    let read = tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        read = checkpoint::read(copy.client, &copy.destination.bucket, &key) => read?,
    };
    let Read::Found(stored) = read else {
        return Ok(None);
    };
    let previous = stored.checkpoint;
    let ours = checkpoint::SourceRecord::of(copy.source);
    if !previous.names(copy.destination)
        || !previous.source.same_object(&ours)
        || !previous.plan.is_valid()
        || previous.plan.method != proposed.method
        || previous.transformed.is_some()
    {
        return Ok(None);
    }
    let listed = tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        listed = resume::list_parts(copy, &previous.upload_id) => listed?,
    };
    let Some(parts) = listed else {
        return Ok(None);
    };
    let done = parts.iter().map(|part| part.number).collect();
    Ok(Some((previous.upload_id, previous.plan, done)))
}

/// Copies `segment`'s parts with the method its checkpoint records; the
/// segment that finds every part in S3 completes the copy.
///
/// A segment whose upload is gone succeeds when the destination holds the
/// copy (another segment completed it), else fails permanently
/// ([`CopyError::FanOutGone`]: a segment failed, or the copy was cancelled),
/// aborting the upload if it is still open.
///
/// # Cancellation
///
/// As the method's: a segment stopped at its deadline keeps the upload.
pub(crate) async fn copy_segment(
    copy: &CopyContext<'_>,
    segment: &Segment,
) -> Result<CopyReport, CopyError> {
    let key = checkpoint::key(copy.source, copy.destination);
    let read = tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        read = checkpoint::read(copy.client, &copy.destination.bucket, &key) => read?,
    };
    let plan = match read {
        Read::Found(stored)
            if stored.checkpoint.upload_id == segment.upload_id
                && stored.checkpoint.names(copy.destination) =>
        {
            stored.checkpoint.plan
        }
        _ => return gone(copy, segment).await,
    };
    let copied = match plan.method {
        CopyMethod::Server => {
            let parts = PartCopyPlan {
                size: plan.size,
                part_size: plan.part_size,
            };
            match Box::pin(super::server::copy_parts(copy, &parts)).await {
                Ok(copied) => super::server::segment_report(copy, copied).await,
                Err(error) => Err(error),
            }
        }
        CopyMethod::Stream => Box::pin(super::piped::copy(copy)).await,
    };
    match copied {
        Err(CopyError::FanOutGone { .. }) => gone(copy, segment).await,
        // A part sent again (a duplicate segment) into an upload another
        // segment just completed: S3 no longer knows the upload.
        Err(error)
            if !matches!(error, CopyError::Continue { .. }) && holds_the_copy(copy).await =>
        {
            tracing::info!(
                "segment {} of upload {}: {error}, but the copy is complete",
                segment.range(),
                segment.upload_id
            );
            Ok(CopyReport::segment(
                copy.source,
                true,
                copy.started.elapsed(),
            ))
        }
        copied => copied,
    }
}

/// A segment whose destination holds this event's copy or a newer one:
/// complete (another segment completed it), or superseded by a newer
/// object's copy, its upload aborted.
pub(crate) async fn superseded(copy: &CopyContext<'_>, segment: &Segment) -> CopyReport {
    if holds_the_copy(copy).await {
        return CopyReport::segment(copy.source, true, copy.started.elapsed());
    }
    abort(copy, segment).await;
    CopyReport::superseded(copy.source, copy.started.elapsed())
}

/// Aborts `segment`'s upload (an abort of one already gone is logged).
async fn abort(copy: &CopyContext<'_>, segment: &Segment) {
    AbortTarget {
        client: copy.client.clone(),
        destination: copy.destination.clone(),
        upload_id: segment.upload_id.clone(),
    }
    .run()
    .await;
}

/// Whether the destination holds this object's copy: its origin, and the
/// source's CRC64NVME.
///
/// A source without a full-object CRC64NVME is recognised by the origin
/// alone: the completing segment verified the parts it completed with.
async fn holds_the_copy(copy: &CopyContext<'_>) -> bool {
    let origin = super::upload::condition::source_origin(copy.source).unwrap_or_default();
    if copy.verify.expected_crc().is_none() {
        return records_origin(copy, &origin).await;
    }
    let expected = Expected {
        crc: copy.verify.expected_crc(),
        origin: &origin,
    };
    landed(copy.client, copy.destination, &expected, 0, copy.cancel)
        .await
        .is_some()
}

/// Whether the destination records `origin` (this source object) as what
/// it was copied from.
async fn records_origin(
    copy: &CopyContext<'_>,
    origin: &std::collections::HashMap<String, String>,
) -> bool {
    let head = copy
        .client
        .head_object()
        .bucket(&copy.destination.bucket)
        .key(&copy.destination.key)
        .send();
    let head = tokio::select! {
        () = copy.cancel.cancelled() => return false,
        head = head => head,
    };
    let Ok(head) = head else {
        return false;
    };
    !origin.is_empty()
        && head
            .metadata()
            .map(super::upload::condition::recorded_origin)
            .is_some_and(|recorded| recorded == *origin)
}

/// The upload of `segment` is not the checkpoint's: done if the
/// destination holds this object's copy, else gone for good.
pub(crate) async fn gone(
    copy: &CopyContext<'_>,
    segment: &Segment,
) -> Result<CopyReport, CopyError> {
    if copy.cancel.is_cancelled() {
        // Nothing can be told for sure at the deadline: the message's retry
        // decides.
        return Err(copy.cancelled());
    }
    if holds_the_copy(copy).await {
        tracing::info!(
            "segment {} of upload {}: the copy of s3://{}/{} is complete",
            segment.range(),
            segment.upload_id,
            copy.destination.bucket,
            copy.destination.key
        );
        return Ok(CopyReport::segment(
            copy.source,
            true,
            copy.started.elapsed(),
        ));
    }
    if completion_claimed(copy, segment).await {
        // Every part was in S3 when the claimant listed them; S3 may stop
        // listing an upload while it completes it. The claimant (or its
        // message's retry) completes it: this segment is done.
        tracing::info!(
            "segment {} of upload {}: another segment is completing the copy",
            segment.range(),
            segment.upload_id
        );
        return Ok(CopyReport::segment(
            copy.source,
            false,
            copy.started.elapsed(),
        ));
    }
    abort(copy, segment).await;
    Err(CopyError::FanOutGone {
        bucket: copy.destination.bucket.clone(),
        key: copy.destination.key.clone(),
        upload_id: segment.upload_id.clone(),
    })
}

/// Whether the copy's checkpoint names `segment`'s upload with a
/// completion claimed (a segment found every part and is completing it).
async fn completion_claimed(copy: &CopyContext<'_>, segment: &Segment) -> bool {
    let key = checkpoint::key(copy.source, copy.destination);
    let read = tokio::select! {
        () = copy.cancel.cancelled() => return false,
        read = checkpoint::read(copy.client, &copy.destination.bucket, &key) => read,
    };
    matches!(
        read,
        Ok(Read::Found(stored))
            if stored.checkpoint.upload_id == segment.upload_id
                && stored.checkpoint.completing.is_some()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn segments_cover_every_part_once_and_skip_finished_ones() {
        assert_eq!(
            segments(10, 4, &BTreeSet::new()),
            vec![(1, 4), (5, 8), (9, 10)]
        );
        let done: BTreeSet<u64> = (5..=8).chain([1]).collect();
        assert_eq!(segments(10, 4, &done), vec![(1, 4), (9, 10)]);
        assert_eq!(
            segments(3, 0, &BTreeSet::new()),
            vec![(1, 1), (2, 2), (3, 3)]
        );
    }

    #[test]
    fn segments_parse_from_their_attribute() {
        let segment = Segment::parse("u", "5-8", "m").expect("a segment");
        assert!(segment.holds(5) && segment.holds(8) && !segment.holds(9));
        assert_eq!(segment.range(), "5-8");
        for bad in ["8-5", "0-3", "x-2", "4", ""] {
            assert_eq!(Segment::parse("u", bad, "m"), None, "{bad}");
        }
        assert_eq!(Segment::parse("", "1-2", "m"), None);
    }

    #[test]
    fn a_segment_is_a_third_of_the_time_at_the_methods_pace() {
        let minute = Duration::from_secs(60);
        // 16 part copies at 50 MB/s for 20 s: 16 GB, in parts of 100 MB.
        assert_eq!(
            segment_parts(CopyMethod::Server, 16, minute, 100_000_000),
            160
        );
        assert_eq!(
            segment_parts(CopyMethod::Stream, 1, Duration::ZERO, 8 << 20),
            1
        );
    }
}
