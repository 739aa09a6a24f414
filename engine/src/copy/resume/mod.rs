//! Copies that outlive one invocation: the upload kept at the deadline, its state in S3, the next attempt copying only what is missing.
//!
//! A multipart copy (piped or server-side parts) opens its upload through
//! [`open`]: the first attempt creates the upload and a [`checkpoint`]
//! object with `If-None-Match: *` (concurrent first attempts elect one
//! upload); a later attempt reads the checkpoint, checks that the source is
//! the same object and that every part S3 lists (paginated) has the size
//! the recorded plan gives it, counts itself (`If-Match` on the checkpoint),
//! and copies only the missing parts. At its deadline an attempt that is
//! not the last keeps the upload and fails with [`CopyError::Continue`]
//! (transient: the source redelivers); the last aborts it (`Copy.Timeout`).
//! The completed object's CRC64NVME, combined from every attempt's parts or
//! checked by S3 at completion, must be the source's.

pub mod checkpoint;
mod listed;
mod restart_writer;

use super::context::CopyContext;
use super::error::CopyError;
use super::fan_out::Segment;
use super::source::ObjectMetadata;
use super::upload::MultipartUpload;
use super::upload::abort::{ABORT_BUDGET, AbortTarget};
use super::upload::condition::{Decision, compare_sequencers, source_origin};
use super::upload::multipart::COMPLETE_GRACE;
use super::upload::{Expected, Written, landed};
use checkpoint::{
    Checkpoint, Claim, Expect, PartPlan, Read, Restart, SourceRecord, Stored, Transformed,
    WriteFailed,
};
use listed::Listed;
use restart_writer::RestartWriter;
pub use restart_writer::{RESTART_FLUSH_BUDGET, RESTART_WRITE_INTERVAL};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Attempts a copy may take by default: Lambda's asynchronous invocation
/// (the first delivery and its two retries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Times [`open`] reads the checkpoint again after another attempt changed
/// it under a conditional write: concurrent deliveries of one record are
/// few, and each round lets one of them through.
const ELECTION_ROUNDS: usize = 4;

/// What stopping at the margin needs once the copy's token fires: the
/// parts in flight are dropped at once (the checkpoint was written when the
/// attempt began), and what ambiguous creates left open is aborted within
/// the upload's cleanup budget. The configuration asserts it fits the
/// margin an aborted copy needs.
pub const STOP_BUDGET: Duration = super::upload::multipart::CLEANUP_BUDGET;

/// How much slower than the slowest part so far a part may run and still
/// be started before the stop: a quarter, for a network share that varies.
const PACE_HEADROOM: f64 = 1.25;

/// How a copy resumes across invocations (`None` in [`super::CopySettings`]:
/// every copy aborts at its deadline).
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeSettings {
    /// Attempts a copy may take in all (`RESUME_MAX_ATTEMPTS`); the attempt
    /// that reaches it aborts at its deadline. Below 2 nothing resumes.
    pub max_attempts: u32,
    /// When the copy's token fires (the invocation's deadline margin):
    /// parts not expected to finish by then are not started.
    pub stop_at: Option<Instant>,
}

/// What [`open`] gives a multipart method.
pub(crate) struct Opened {
    /// The upload to add parts to.
    pub upload: MultipartUpload,
    /// The plan to follow: the recorded one when resuming.
    pub plan: PartPlan,
    /// Parts S3 already holds, verified against the plan.
    pub done: BTreeSet<u64>,
    /// The attempt's state when the copy can resume.
    pub session: Option<Session>,
    /// For a transformed copy that can resume: where its output restarts
    /// (the start, for a new upload).
    pub restart: Option<Restart>,
}

/// One attempt of a resumable copy.
pub(crate) struct Session {
    checkpoint_key: String,
    /// The upload this attempt works on: its checkpoint is removed only
    /// while it still names this upload (not another attempt's).
    upload_id: String,
    attempt: u32,
    max_attempts: u32,
    plan: PartPlan,
    bytes_at_start: Vec<u64>,
    stop_at: Option<Instant>,
    /// The longest part so far, in microseconds.
    longest_part: Arc<AtomicU64>,
    /// Set once every part is in S3: a stop after that drops nothing.
    all_parts_done: bool,
    /// For a transformed copy: writes its restart points.
    restarts: Option<RestartWriter>,
    /// For a fan-out segment: its parts (the upload is shared; the
    /// checkpoint is read, and written only to claim the completion).
    segment: Option<Segment>,
    /// A fan-out segment's claim token ([`Segment::claim_token`]).
    token: String,
}

/// A completion claim's time past its claimant's stop: the clocks of two
/// sandboxes may differ by this much (Lambda's hosts keep NTP time).
pub const CLAIM_CLOCK_SLACK: Duration = Duration::from_secs(1);

/// How long a claim lasts when the claimant knows no deadline (a command
/// line run): Lambda's longest invocation.
pub const CLAIM_WITHOUT_DEADLINE: Duration = Duration::from_secs(900);

/// Milliseconds since the Unix epoch at `time`.
fn unix_ms(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a multipart method does once its parts are in S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Complete the upload.
    Complete,
    /// A fan-out segment whose copy is not (or no longer) for it to
    /// complete: another segment's parts are missing, or the upload is gone.
    Deferred,
    /// A segment that found every part but has too little time left to
    /// complete: it stops, and its next hop completes.
    NoTime,
    /// A segment whose upload S3 no longer knows: completed, completing,
    /// or aborted ([`super::fan_out::gone`] tells which).
    Gone,
}

/// The time a fan-out segment keeps for the completion: a `ListParts` page
/// and `CompleteMultipartUpload`'s share per thousand parts (S3 takes a
/// few seconds for 10,000), and never less than one.
pub const COMPLETION_BUDGET_PER_THOUSAND_PARTS: Duration = Duration::from_secs(1);

/// The time a segment keeps to complete `parts` parts.
pub fn completion_budget(parts: u64) -> Duration {
    COMPLETION_BUDGET_PER_THOUSAND_PARTS.mul_f64((parts as f64 / 1000.0).max(1.0))
}

/// Reads the checkpoint, racing the copy's token.
async fn raced<T>(
    copy: &CopyContext<'_>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, CopyError> {
    tokio::select! {
        () = copy.cancel.cancelled() => Err(copy.cancelled()),
        done = work => Ok(done),
    }
}

async fn create(
    copy: &CopyContext<'_>,
    metadata: &ObjectMetadata,
) -> Result<MultipartUpload, CopyError> {
    MultipartUpload::create(
        copy.client,
        copy.destination,
        metadata,
        &copy.settings.options,
        Arc::clone(&copy.progress.bytes_written),
        copy.cancel,
    )
    .await
    .map_err(|error| copy.counted(error))
}

/// What a checkpoint says of this copy.
enum Judged {
    /// The copy of a newer event of the key holds the checkpoint.
    Newer,
    /// Resume its upload.
    Resume,
    /// Abort its upload and start over, for this reason.
    Replace(&'static str),
}

fn judge(
    previous: &Checkpoint,
    ours: &SourceRecord,
    plan: &PartPlan,
    transformed: Option<&Transformed>,
    max: u32,
) -> Judged {
    if !previous.source.same_object(ours) {
        if let (Some(theirs), Some(mine)) = (&previous.source.sequencer, &ours.sequencer)
            && compare_sequencers(theirs, mine).is_gt()
        {
            return Judged::Newer;
        }
        return Judged::Replace("the source changed since it was made");
    }
    if !previous.plan.is_valid() {
        return Judged::Replace("its plan is not one s3 accepts (a damaged checkpoint)");
    }
    if previous.plan.method != plan.method || previous.plan.size != plan.size {
        return Judged::Replace("it was made by another copy method");
    }
    let same_output = match (&previous.transformed, transformed) {
        (None, None) => true,
        (Some(theirs), Some(ours)) => theirs.same_plan(ours),
        _ => false,
    };
    if !same_output {
        return Judged::Replace("it was made by another transform or part schedule");
    }
    if previous.attempts >= max {
        return Judged::Replace(
            "its attempts are spent (its last attempt ended without cleaning up)",
        );
    }
    Judged::Resume
}

/// The parts S3 lists, if every one fits `plan`.
fn trusted(
    parts: Vec<super::upload::UploadedPart>,
    plan: &PartPlan,
) -> Option<Vec<super::upload::UploadedPart>> {
    parts
        .iter()
        .all(|part| plan.part_len(part.number) == Some(part.len) && !part.etag.is_empty())
        .then_some(parts)
}

/// For a transformed copy, the parts its restart point counts on, if S3
/// holds every one with the size the schedule gives it (the last one may
/// be short only when the restart is at the input's end); later parts are
/// made again.
fn trusted_prefix(
    parts: Vec<super::upload::UploadedPart>,
    transformed: &Transformed,
    source_size: u64,
) -> Option<Vec<super::upload::UploadedPart>> {
    let restart = transformed.restart;
    let prefix: Vec<_> = parts
        .into_iter()
        .filter(|part| part.number <= restart.parts_done)
        .collect();
    let at_end = restart.input_offset >= source_size;
    let sized = |index: usize, part: &super::upload::UploadedPart| {
        let planned = transformed.schedule.part_size(part.number);
        let last = index + 1 == prefix.len();
        part.number == index as u64 + 1
            && !part.etag.is_empty()
            && (part.len == planned || (last && at_end && part.len <= planned))
    };
    let whole = prefix.len() as u64 == restart.parts_done
        && prefix
            .iter()
            .enumerate()
            .all(|(index, part)| sized(index, part))
        && prefix.iter().map(|part| part.len).sum::<u64>() == restart.bytes_done;
    whole.then_some(prefix)
}

/// Logs why a copy goes on without resuming: S3 refused its checkpoint
/// (typically a policy that does not let the function read or write
/// `.s3-stream-lambda/` in the destination bucket). The copy itself is
/// unaffected; it aborts at its deadline, as a copy that cannot resume.
fn not_resumable(error: &CopyError) {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    tracing::warn!(
        "{message}: this copy will not resume across invocations \
         (grant s3:GetObject, s3:PutObject and s3:DeleteObject on {} in the destination bucket)",
        checkpoint::RESERVED_PREFIX
    );
}

/// Opens the copy's multipart upload: a new one, or (when the copy can
/// resume and a checkpoint says so) the one an earlier attempt left open,
/// with the parts it finished. `proposed` is today's plan; a resumed copy
/// follows the recorded one.
///
/// # Cancellation
///
/// Every request is raced against the copy's token; an upload created here
/// is aborted before `CopyError::Cancelled` returns.
pub(crate) async fn open(
    copy: &CopyContext<'_>,
    metadata: &ObjectMetadata,
    proposed: PartPlan,
    transformed: Option<Transformed>,
) -> Result<Opened, CopyError> {
    let fresh = |upload| Opened {
        upload,
        plan: proposed,
        done: BTreeSet::new(),
        session: None,
        restart: None,
    };
    if let Some(segment) = &copy.settings.segment {
        return Box::pin(open_segment(copy, metadata, segment)).await;
    }
    let Some(settings) = copy.settings.resume.as_ref().filter(|r| r.max_attempts > 1) else {
        return Ok(fresh(create(copy, metadata).await?));
    };
    let bucket = copy.destination.bucket.as_str();
    let key = checkpoint::key(copy.source, copy.destination);
    let ours = SourceRecord::of(copy.source);
    // A transformed copy's session writes its restart points into the
    // checkpoint it wrote (with `etag`).
    let session = |written: &Checkpoint, etag: String| Session {
        checkpoint_key: key.clone(),
        upload_id: written.upload_id.clone(),
        attempt: written.attempts,
        max_attempts: settings.max_attempts,
        plan: written.plan,
        bytes_at_start: written.bytes_at_start.clone(),
        stop_at: settings.stop_at,
        longest_part: Arc::new(AtomicU64::new(0)),
        all_parts_done: false,
        segment: None,
        token: String::new(),
        restarts: written.transformed.is_some().then(|| {
            RestartWriter::start(
                copy.client.clone(),
                bucket.to_owned(),
                key.clone(),
                written.clone(),
                etag,
            )
        }),
    };
    for _ in 0..ELECTION_ROUNDS {
        let read = match raced(copy, checkpoint::read(copy.client, bucket, &key)).await? {
            Err(error) if error.class().is_permanent() => {
                not_resumable(&error);
                return Ok(fresh(create(copy, metadata).await?));
            }
            Err(error) => return Err(error),
            Ok(read) => read,
        };
        let (expect, previous) = match read {
            Read::Missing => (None, None),
            Read::Unreadable { etag } => {
                tracing::warn!("checkpoint s3://{bucket}/{key} is unreadable: replacing it");
                (Some(etag), None)
            }
            Read::Found(stored) => {
                let Stored { checkpoint, etag } = *stored;
                (Some(etag), Some(checkpoint))
            }
        };
        // Attempts an earlier upload of this same object used: a new upload
        // goes on counting them, so the copy still ends within its deliveries.
        let mut carried = 0;
        if let Some(previous) = previous {
            if !previous.names(copy.destination) {
                tracing::warn!(
                    "checkpoint s3://{bucket}/{key} belongs to s3://{}/{}: this copy will not resume",
                    previous.destination_bucket,
                    previous.destination_key
                );
                return Ok(fresh(create(copy, metadata).await?));
            }
            let target = AbortTarget {
                client: copy.client.clone(),
                destination: copy.destination.clone(),
                upload_id: previous.upload_id.clone(),
            };
            let judged = judge(
                &previous,
                &ours,
                &proposed,
                transformed.as_ref(),
                settings.max_attempts,
            );
            let reason = match judged {
                Judged::Newer => {
                    return Err(CopyError::Superseded {
                        bucket: copy.source.spec.bucket.clone(),
                        key: copy.source.spec.key.clone(),
                    });
                }
                Judged::Resume => {
                    let listed = raced(
                        copy,
                        listed::parts(copy.client, copy.destination, &previous.upload_id),
                    )
                    .await??;
                    match listed {
                        Listed::Gone => {
                            carried = previous.attempts;
                            "its upload is gone (completed, aborted or expired)"
                        }
                        Listed::Open(parts) => match match &previous.transformed {
                            Some(theirs) => trusted_prefix(parts, theirs, copy.source.size),
                            None => trusted(parts, &previous.plan),
                        } {
                            None => {
                                target.run().await;
                                carried = previous.attempts;
                                "its upload holds parts the plan does not give"
                            }
                            Some(parts) => {
                                let bytes: u64 = parts.iter().map(|part| part.len).sum();
                                let mut next = previous.clone();
                                next.attempts += 1;
                                next.bytes_at_start.push(bytes);
                                let etag = expect.as_deref().unwrap_or_default();
                                let written = checkpoint::write(
                                    copy.client,
                                    bucket,
                                    &key,
                                    &next,
                                    Expect::Etag(etag),
                                );
                                let etag = match raced(copy, written).await? {
                                    Ok(etag) => etag,
                                    Err(WriteFailed::Raced) => continue,
                                    Err(WriteFailed::Failed(error)) => return Err(error),
                                };
                                tracing::info!(
                                    "resuming multipart upload {} of s3://{}/{}: attempt {} of {}, {} of {} parts ({bytes} of {} bytes) in s3",
                                    previous.upload_id,
                                    copy.destination.bucket,
                                    copy.destination.key,
                                    next.attempts,
                                    settings.max_attempts,
                                    parts.len(),
                                    next.plan.parts,
                                    next.plan.size
                                );
                                let done = parts.iter().map(|part| part.number).collect();
                                let mut upload = MultipartUpload::resumed(
                                    copy.client,
                                    copy.destination,
                                    &previous.upload_id,
                                    parts,
                                    &copy.destination_metadata(metadata),
                                    Arc::clone(&copy.progress.bytes_written),
                                    copy.cancel,
                                );
                                let session = session(&next, etag);
                                upload.keep_on_cancel(!session.is_last());
                                return Ok(Opened {
                                    upload,
                                    plan: next.plan,
                                    done,
                                    session: Some(session),
                                    restart: next.transformed.map(|t| t.restart),
                                });
                            }
                        },
                    }
                }
                Judged::Replace(reason) => {
                    target.run().await;
                    reason
                }
            };
            tracing::warn!(
                "checkpoint s3://{bucket}/{key}: not resuming upload {}: {reason}; starting over",
                previous.upload_id
            );
        }
        let mut upload = create(copy, metadata).await?;
        let first = Checkpoint {
            version: checkpoint::FORMAT_VERSION,
            source: ours.clone(),
            destination_bucket: copy.destination.bucket.clone(),
            destination_key: copy.destination.key.clone(),
            upload_id: upload.upload_id().to_owned(),
            plan: proposed,
            attempts: carried + 1,
            bytes_at_start: vec![0; carried as usize + 1],
            transformed: transformed.clone(),
            completing: None,
        };
        let condition = match &expect {
            None => Expect::Absent,
            Some(etag) => Expect::Etag(etag),
        };
        let written = checkpoint::write(copy.client, bucket, &key, &first, condition);
        let etag = match raced(copy, written).await {
            Err(cancelled) => return Err(upload.abort(cancelled).await),
            Ok(Ok(etag)) => etag,
            Ok(Err(WriteFailed::Raced)) => {
                // Another attempt elected its upload first: join it.
                upload.abort(copy.cancelled()).await;
                continue;
            }
            Ok(Err(WriteFailed::Failed(error))) if error.class().is_permanent() => {
                not_resumable(&error);
                return Ok(fresh(upload));
            }
            Ok(Err(WriteFailed::Failed(error))) => return Err(upload.abort(error).await),
        };
        let session = session(&first, etag);
        upload.keep_on_cancel(!session.is_last());
        return Ok(Opened {
            upload,
            plan: proposed,
            done: BTreeSet::new(),
            session: Some(session),
            restart: first.transformed.map(|t| t.restart),
        });
    }
    Err(CopyError::Checkpoint {
        operation: "elect an upload with",
        bucket: bucket.to_owned(),
        key,
        class: super::FailureClass::Transient,
        source: format!("other attempts changed it {ELECTION_ROUNDS} times in a row").into(),
    })
}

/// The destination already holds the copy of this event or a newer one: an
/// upload an earlier attempt of this same object kept is aborted and its
/// checkpoint removed, so nothing waits for the lifecycle rule. A checkpoint
/// of another object (a newer copy in progress) is left alone.
///
/// Returns what the earlier attempt wrote when the destination is its
/// completion (it landed while the deadline cut its answer off): this
/// object's origin and the source's full-object CRC64NVME, so the record is
/// copied and verified, not superseded.
pub(crate) async fn settle_superseded(copy: &CopyContext<'_>) -> Option<LandedEarlier> {
    let resumable = copy
        .settings
        .resume
        .as_ref()
        .is_some_and(|r| r.max_attempts > 1);
    if !resumable || copy.source.size <= super::part_size::MIN_PART_SIZE {
        return None;
    }
    let bucket = &copy.destination.bucket;
    let key = checkpoint::key(copy.source, copy.destination);
    let settle = async {
        let Ok(Read::Found(stored)) = checkpoint::read(copy.client, bucket, &key).await else {
            return None;
        };
        let previous = stored.checkpoint;
        if !previous.names(copy.destination)
            || !previous.source.same_object(&SourceRecord::of(copy.source))
        {
            return None;
        }
        let origin = source_origin(copy.source).unwrap_or_default();
        let expected = Expected {
            crc: copy.verify.expected_crc(),
            origin: &origin,
        };
        let parts = previous.plan.parts;
        let target = AbortTarget {
            client: copy.client.clone(),
            destination: copy.destination.clone(),
            upload_id: previous.upload_id.clone(),
        };
        let landed = landed(copy.client, copy.destination, &expected, parts, copy.cancel).await;
        if landed.is_none() {
            target.run().await;
        }
        checkpoint::remove(copy.client, bucket, &key).await;
        let mut marks = previous.bytes_at_start;
        marks.push(copy.source.size);
        Some(LandedEarlier {
            written: landed?,
            plan: previous.plan,
            attempts: bytes_per_attempt(&marks, copy.source.size),
        })
    };
    tokio::select! {
        () = copy.cancel.cancelled() => None,
        landed = settle => landed,
    }
}

/// Bytes each attempt put in S3, from the bytes S3 had when each began
/// (`marks`) and the `total` at the end.
fn bytes_per_attempt(marks: &[u64], total: u64) -> Vec<u64> {
    marks
        .iter()
        .chain([&total])
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1].saturating_sub(*w[0]))
        .collect()
}

/// A copy an earlier attempt completed as its deadline cut the answer off.
#[derive(Debug)]
pub(crate) struct LandedEarlier {
    /// What S3 holds.
    pub written: Written,
    /// The plan it followed.
    pub plan: PartPlan,
    /// Bytes each attempt put in S3, this one's (none) included.
    pub attempts: Vec<u64>,
}

/// The parts S3 holds of `upload_id` (`None`: the upload is gone).
pub(crate) async fn list_parts(
    copy: &CopyContext<'_>,
    upload_id: &str,
) -> Result<Option<Vec<super::upload::UploadedPart>>, CopyError> {
    match listed::parts(copy.client, copy.destination, upload_id).await? {
        Listed::Gone => Ok(None),
        Listed::Open(parts) => Ok(Some(parts)),
    }
}

/// Opens a fan-out segment's share of its copy: the checkpoint must name
/// the segment's upload and this object, and S3 must still hold it; parts
/// outside the segment count as done (they are other segments' work).
/// [`CopyError::FanOutGone`] otherwise.
///
/// # Cancellation
///
/// Each request is raced against the copy's token.
async fn open_segment(
    copy: &CopyContext<'_>,
    metadata: &ObjectMetadata,
    segment: &Segment,
) -> Result<Opened, CopyError> {
    let gone = || CopyError::FanOutGone {
        bucket: copy.destination.bucket.clone(),
        key: copy.destination.key.clone(),
        upload_id: segment.upload_id.clone(),
    };
    let bucket = copy.destination.bucket.as_str();
    let key = checkpoint::key(copy.source, copy.destination);
    let Read::Found(stored) = raced(copy, checkpoint::read(copy.client, bucket, &key)).await??
    else {
        return Err(gone());
    };
    let checkpoint = stored.checkpoint;
    if checkpoint.upload_id != segment.upload_id
        || !checkpoint.names(copy.destination)
        || !checkpoint
            .source
            .same_object(&SourceRecord::of(copy.source))
        || !checkpoint.plan.is_valid()
    {
        return Err(gone());
    }
    let listed = raced(
        copy,
        listed::parts(copy.client, copy.destination, &segment.upload_id),
    )
    .await??;
    let Listed::Open(parts) = listed else {
        return Err(gone());
    };
    let Some(parts) = trusted(parts, &checkpoint.plan) else {
        return Err(gone());
    };
    let plan = checkpoint.plan;
    let mut done: BTreeSet<u64> = parts.iter().map(|part| part.number).collect();
    done.extend((1..=plan.parts).filter(|number| !segment.holds(*number)));
    let mut upload = MultipartUpload::resumed(
        copy.client,
        copy.destination,
        &segment.upload_id,
        parts,
        &copy.destination_metadata(metadata),
        Arc::clone(&copy.progress.bytes_written),
        copy.cancel,
    );
    upload.share();
    upload.keep_on_cancel(true);
    let resume = copy.settings.resume.as_ref();
    let session = Session {
        checkpoint_key: key,
        upload_id: segment.upload_id.clone(),
        attempt: checkpoint.attempts,
        max_attempts: resume.map_or(DEFAULT_MAX_ATTEMPTS, |r| r.max_attempts),
        plan,
        bytes_at_start: Vec::new(),
        stop_at: resume.and_then(|r| r.stop_at),
        longest_part: Arc::new(AtomicU64::new(0)),
        all_parts_done: false,
        restarts: None,
        segment: Some(segment.clone()),
        token: segment.claim_token.clone(),
    };
    Ok(Opened {
        upload,
        plan,
        done,
        session: Some(session),
        restart: None,
    })
}

/// A multipart method's failure path: the session's ([`Session::fail`])
/// when the copy can resume, else the upload's one abort path.
pub(crate) async fn fail(
    session: Option<&Session>,
    copy: &CopyContext<'_>,
    upload: MultipartUpload,
    error: CopyError,
) -> CopyError {
    match session {
        Some(session) => session.fail(copy, upload, error).await,
        None => upload.abort(error).await,
    }
}

/// Starts a part task on `upload`, timed for the session's pace.
pub(crate) fn spawn<F>(session: Option<&Session>, upload: &mut MultipartUpload, task: F)
where
    F: std::future::Future<Output = Result<super::upload::UploadedPart, CopyError>>
        + Send
        + 'static,
{
    match session {
        Some(session) => upload.spawn_task(session.timed(task)),
        None => upload.spawn_task(task),
    }
}

impl Session {
    /// Whether this attempt is the copy's last: its deadline aborts the upload.
    pub fn is_last(&self) -> bool {
        self.segment.is_none() && self.attempt >= self.max_attempts
    }

    /// Once the attempt's parts are in S3: whether to complete. A fan-out
    /// segment lists the upload: it completes only when every part of the
    /// plan is there (its own were the last) and the completion's budget
    /// ([`completion_budget`]) is left before the stop; `upload` then holds
    /// every segment's parts.
    pub async fn ready_to_complete(
        &self,
        copy: &CopyContext<'_>,
        upload: &mut MultipartUpload,
    ) -> Result<Ready, CopyError> {
        let Some(segment) = &self.segment else {
            return Ok(Ready::Complete);
        };
        let listed = raced(
            copy,
            listed::parts(copy.client, copy.destination, &segment.upload_id),
        )
        .await??;
        let Listed::Open(parts) = listed else {
            return Ok(Ready::Gone);
        };
        let every = parts.len() as u64 == self.plan.parts;
        let Some(parts) = trusted(parts, &self.plan).filter(|_| every) else {
            return Ok(Ready::Deferred);
        };
        if let Some(stop_at) = self.stop_at
            && stop_at.saturating_duration_since(Instant::now())
                < completion_budget(self.plan.parts)
        {
            return Ok(Ready::NoTime);
        }
        if !Box::pin(self.claim_completion(copy, segment)).await? {
            return Ok(Ready::Deferred);
        }
        tracing::info!(
            "segment {} of upload {} found all {} parts in s3: completing the copy",
            segment.range(),
            segment.upload_id,
            self.plan.parts
        );
        upload.adopt(parts);
        Ok(Ready::Complete)
    }

    /// Whether a part started now is expected to finish before the stop,
    /// judged by the slowest part so far (with [`PACE_HEADROOM`]). The last
    /// attempt never stops early: its deadline aborts anyway.
    pub fn may_start(&self) -> bool {
        let Some(stop_at) = self.stop_at else {
            return true;
        };
        if self.is_last() {
            return true;
        }
        let now = Instant::now();
        let longest = Duration::from_micros(self.longest_part.load(Ordering::Relaxed));
        now + longest.mul_f64(PACE_HEADROOM) < stop_at
    }

    /// `part`, timed: its duration feeds [`Self::may_start`].
    pub fn timed<F, T>(&self, part: F) -> impl std::future::Future<Output = T> + Send + 'static
    where
        F: std::future::Future<Output = T> + Send + 'static,
    {
        let longest = Arc::clone(&self.longest_part);
        async move {
            let started = Instant::now();
            let output = part.await;
            let micros = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
            longest.fetch_max(micros, Ordering::Relaxed);
            output
        }
    }

    /// Every part is in S3: only the completion is left.
    pub fn all_parts_done(&mut self) {
        self.all_parts_done = true;
    }

    /// Bytes each attempt put in S3, this one included (its share of
    /// `total`).
    pub fn bytes_per_attempt(&self, total: u64) -> Vec<u64> {
        if self.segment.is_some() {
            return Vec::new();
        }
        bytes_per_attempt(&self.bytes_at_start, total)
    }

    /// A transformed copy: `restart` is the point it reached (parts
    /// `1..=restart.parts_done` are in S3); the writer records it in the
    /// checkpoint.
    pub fn record_restart(&self, restart: Restart) {
        if let Some(restarts) = &self.restarts {
            restarts.record(restart);
        }
    }

    /// How far the copy got: source bytes whose output S3 holds, and parts
    /// (of how many, when known). A transformed copy counts from the
    /// restart point its checkpoint holds, which is where the next attempt
    /// goes on.
    fn progress(
        &self,
        parts: u64,
        bytes: u64,
        restart: Option<Restart>,
    ) -> (u64, u64, Option<std::num::NonZeroU64>) {
        match restart {
            Some(restart) => (
                restart.parts_done,
                restart.input_offset.min(self.plan.size),
                None,
            ),
            None => (parts, bytes, std::num::NonZeroU64::new(self.plan.parts)),
        }
    }

    fn continue_error(
        &self,
        copy: &CopyContext<'_>,
        parts: u64,
        bytes: u64,
        dropped: u64,
        restart: Option<Restart>,
    ) -> CopyError {
        let (parts, bytes, parts_total) = self.progress(parts, bytes, restart);
        CopyError::Continue {
            bucket: copy.source.spec.bucket.clone(),
            key: copy.source.spec.key.clone(),
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            bytes_done: bytes,
            bytes_total: self.plan.size,
            percent: bytes * 100 / self.plan.size.max(1),
            parts: super::error::PartCount {
                done: parts,
                total: parts_total,
            },
            dropped,
            bytes_read: copy.progress.bytes_read.load(Ordering::Relaxed),
            bytes_written: copy.progress.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// Ends this attempt early or at its deadline: the upload stays open
    /// with the parts S3 finished, and the copy fails with
    /// [`CopyError::Continue`] saying how far it got.
    ///
    /// A transformed copy writes its newest restart point beside the
    /// upload's cleanup, within [`RESTART_FLUSH_BUDGET`].
    pub async fn stop(&self, copy: &CopyContext<'_>, upload: MultipartUpload) -> CopyError {
        let (kept, restart) = match &self.restarts {
            Some(restarts) => {
                let (kept, restart) =
                    tokio::join!(upload.keep(), restarts.flush(RESTART_FLUSH_BUDGET));
                (kept, Some(restart))
            }
            None => (upload.keep().await, None),
        };
        self.continue_error(copy, kept.parts, kept.bytes, kept.dropped, restart)
    }

    /// The error of a segment whose upload is gone ([`Ready::Gone`]).
    pub fn gone(&self, copy: &CopyContext<'_>) -> CopyError {
        CopyError::FanOutGone {
            bucket: copy.destination.bucket.clone(),
            key: copy.destination.key.clone(),
            upload_id: self.upload_id.clone(),
        }
    }

    /// Claims a fan-out's completion for `segment` in the checkpoint
    /// (`If-Match`): true when this segment is (or, retried, was) the one
    /// to complete; false when another segment claimed it, or the copy is
    /// over (its checkpoint gone or naming another upload). Some stores
    /// complete an upload twice, S3 answers the second `NoSuchUpload`: the
    /// claim makes one completion either way.
    async fn claim_completion(
        &self,
        copy: &CopyContext<'_>,
        segment: &Segment,
    ) -> Result<bool, CopyError> {
        // A claim whose write raced (another segment's claim, a re-split, or
        // our own write whose answer was lost and retried) is decided by
        // reading the checkpoint again.
        for _ in 0..ELECTION_ROUNDS {
            if let Some(claimed) = self.try_claim(copy, segment).await? {
                return Ok(claimed);
            }
        }
        Ok(false)
    }

    /// One round of [`Self::claim_completion`]; `None` when the write raced.
    async fn try_claim(
        &self,
        copy: &CopyContext<'_>,
        segment: &Segment,
    ) -> Result<Option<bool>, CopyError> {
        let bucket = copy.destination.bucket.as_str();
        let read = raced(
            copy,
            checkpoint::read(copy.client, bucket, &self.checkpoint_key),
        )
        .await??;
        let Read::Found(stored) = read else {
            return Ok(Some(false));
        };
        let Stored { checkpoint, etag } = *stored;
        if checkpoint.upload_id != segment.upload_id {
            return Ok(Some(false));
        }
        let now = unix_ms(std::time::SystemTime::now());
        if let Some(claim) = &checkpoint.completing
            && (claim.until_unix_ms > now || claim.by == self.token)
        {
            return Ok(Some(claim.by == self.token));
        }
        let left = self.stop_at.map_or(CLAIM_WITHOUT_DEADLINE, |stop| {
            stop.saturating_duration_since(Instant::now())
        });
        let until = now + (left + COMPLETE_GRACE + CLAIM_CLOCK_SLACK).as_millis() as u64;
        let claimed = Checkpoint {
            completing: Some(Claim {
                by: self.token.clone(),
                until_unix_ms: until,
            }),
            ..checkpoint
        };
        tracing::info!(
            "segment {} claims the completion of upload {} until {until} (unix ms)",
            segment.range(),
            segment.upload_id
        );
        let written = checkpoint::write(
            copy.client,
            bucket,
            &self.checkpoint_key,
            &claimed,
            Expect::Etag(&etag),
        );
        match raced(copy, written).await? {
            Ok(_) => Ok(Some(true)),
            Err(WriteFailed::Raced) => Ok(None),
            Err(WriteFailed::Failed(error)) => Err(error),
        }
    }

    /// A failed attempt: the upload is kept when the deadline stopped an
    /// attempt that is not the last, else aborted. The checkpoint goes when
    /// nothing will resume (a permanent failure, the last attempt); after a
    /// transient one it stays, so the next attempt, starting over, goes on
    /// counting attempts.
    pub async fn fail(
        &self,
        copy: &CopyContext<'_>,
        upload: MultipartUpload,
        error: CopyError,
    ) -> CopyError {
        if matches!(error, CopyError::Cancelled { .. }) && !self.is_last() {
            return self.stop(copy, upload).await;
        }
        if self.segment.is_some() {
            // A shared upload: only a permanent failure ends the copy.
            if !error.class().is_permanent() {
                return upload.fail(error).await;
            }
            tracing::error!(
                "a segment of the fanned-out copy to s3://{}/{} failed permanently: aborting upload {} ({error})",
                copy.destination.bucket,
                copy.destination.key,
                self.upload_id
            );
            let (error, ()) = tokio::join!(upload.abort(error), self.forget(copy));
            return error;
        }
        if !matches!(error, CopyError::Cancelled { .. })
            && let Some(superseded) = self.taken_over(copy).await
        {
            // The newer copy aborted this upload already (an abort of our
            // own finds it gone); the checkpoint goes if it is still ours.
            let (error, ()) = tokio::join!(upload.abort(superseded), self.forget(copy));
            return error;
        }
        if !(self.is_last() || error.class().is_permanent()) {
            return upload.abort(error).await;
        }
        // Side by side: at a deadline both fit the abort's budget.
        let (error, ()) = tokio::join!(upload.abort(error), self.forget(copy));
        error
    }

    /// [`CopyError::Superseded`] when a newer object of the key overtook
    /// this copy: its copy took the checkpoint over (aborting this attempt's
    /// upload: two versions copied at once share the key's checkpoint), or
    /// already landed (its copy done and its checkpoint removed). So the
    /// record ends as newest-wins says instead of failing transiently and
    /// being retried only to learn the same. A checkpoint read, and then the
    /// destination's `HeadObject`, raced against the copy's token.
    async fn taken_over(&self, copy: &CopyContext<'_>) -> Option<CopyError> {
        let superseded = || CopyError::Superseded {
            bucket: copy.source.spec.bucket.clone(),
            key: copy.source.spec.key.clone(),
        };
        let ours = SourceRecord::of(copy.source);
        let checked = async {
            if let Ok(Read::Found(stored)) =
                checkpoint::read(copy.client, &copy.destination.bucket, &self.checkpoint_key).await
            {
                let theirs = &stored.checkpoint;
                let newer = match (&theirs.source.sequencer, &ours.sequencer) {
                    (Some(theirs), Some(mine)) => compare_sequencers(theirs, mine).is_gt(),
                    _ => false,
                };
                if theirs.upload_id != self.upload_id
                    && theirs.names(copy.destination)
                    && newer
                    && !theirs.source.same_object(&ours)
                {
                    return true;
                }
            }
            match &copy.write_plan.newest {
                Some(newest) => matches!(newest.decide().await, Ok(Decision::Superseded)),
                None => false,
            }
        };
        let overtaken = tokio::select! {
            () = copy.cancel.cancelled() => false,
            overtaken = checked => overtaken,
        };
        overtaken.then(superseded)
    }

    /// After `complete`: a cancellation there kept the upload (all parts in
    /// S3) unless this was the last attempt; any other failure aborted it.
    pub async fn completed_with(&self, copy: &CopyContext<'_>, error: CopyError) -> CopyError {
        let cancelled = matches!(error, CopyError::Cancelled { .. });
        if cancelled && !self.is_last() && self.all_parts_done {
            let restart = self.restarts.as_ref().map(RestartWriter::written);
            return self.continue_error(copy, self.plan.parts, self.plan.size, 0, restart);
        }
        if !cancelled && let Some(superseded) = self.taken_over(copy).await {
            self.forget(copy).await;
            return superseded;
        }
        // After a deadline the abort spent the budget: the checkpoint stays
        // (its upload gone, harmless).
        if !cancelled && (self.is_last() || error.class().is_permanent()) {
            self.forget(copy).await;
        }
        error
    }

    /// The copy is over (written, superseded, or failed with its upload
    /// aborted): its checkpoint goes, within [`ABORT_BUDGET`] (at a deadline
    /// it runs beside the abort). One left behind is harmless: its upload is
    /// gone, so the next attempt starts over, and the lifecycle rule
    /// expires it.
    pub async fn forget(&self, copy: &CopyContext<'_>) {
        let bucket = &copy.destination.bucket;
        let remove = async {
            match checkpoint::read(copy.client, bucket, &self.checkpoint_key).await {
                Ok(Read::Missing) => return,
                Ok(Read::Found(stored)) if stored.checkpoint.upload_id != self.upload_id => {
                    // Another attempt (a newer object's copy) holds it now.
                    return;
                }
                _ => {}
            }
            checkpoint::remove(copy.client, bucket, &self.checkpoint_key).await;
        };
        if tokio::time::timeout(ABORT_BUDGET, remove).await.is_err() {
            tracing::warn!(
                "checkpoint s3://{}/{} was not removed within {ABORT_BUDGET:?} (harmless: the lifecycle rule expires it)",
                copy.destination.bucket,
                self.checkpoint_key
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::CopyMethod;
    use crate::copy::upload::UploadedPart;

    const MIB: u64 = 1 << 20;

    const PLAN: PartPlan = PartPlan {
        method: CopyMethod::Stream,
        part_size: 10 * MIB,
        parts: 3,
        size: 25 * MIB,
    };

    fn source(etag: &str, sequencer: &str) -> SourceRecord {
        SourceRecord {
            bucket: "a".into(),
            key: "k".into(),
            version_id: None,
            etag: Some(etag.into()),
            size: 25 * MIB,
            sequencer: Some(sequencer.into()),
        }
    }

    fn checkpoint(source: SourceRecord, attempts: u32) -> Checkpoint {
        Checkpoint {
            version: checkpoint::FORMAT_VERSION,
            source,
            destination_bucket: "b".into(),
            destination_key: "k".into(),
            upload_id: "u".into(),
            plan: PLAN,
            attempts,
            bytes_at_start: vec![0; attempts as usize],
            transformed: None,
            completing: None,
        }
    }

    fn part(number: u64, len: u64) -> UploadedPart {
        UploadedPart {
            number,
            etag: format!("\"e{number}\""),
            crc: None,
            len: len * MIB,
        }
    }

    #[test]
    fn a_checkpoint_is_resumed_only_for_the_same_object_method_and_budget() {
        let ours = source("e1", "01");
        assert!(matches!(
            judge(&checkpoint(ours.clone(), 1), &ours, &PLAN, None, 3),
            Judged::Resume
        ));
        // Another object: a newer event's copy wins, an older one's is replaced.
        assert!(matches!(
            judge(&checkpoint(source("e2", "02"), 1), &ours, &PLAN, None, 3),
            Judged::Newer
        ));
        assert!(matches!(
            judge(&checkpoint(source("e0", "00"), 1), &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
        let server = PartPlan {
            method: CopyMethod::Server,
            ..PLAN
        };
        assert!(matches!(
            judge(&checkpoint(ours.clone(), 1), &ours, &server, None, 3),
            Judged::Replace(_)
        ));
        // The recorded part size wins over today's.
        let other_size = PartPlan {
            part_size: 5 * MIB,
            parts: 5,
            ..PLAN
        };
        assert!(matches!(
            judge(&checkpoint(ours.clone(), 1), &ours, &other_size, None, 3),
            Judged::Resume
        ));
        // A damaged plan is never trusted.
        let mut damaged = checkpoint(ours.clone(), 1);
        damaged.plan.parts = 4;
        assert!(matches!(
            judge(&damaged, &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
        damaged.plan = PartPlan {
            part_size: 0,
            ..PLAN
        };
        assert!(matches!(
            judge(&damaged, &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
        // The same bytes uploaded again: another event, not resumed.
        assert!(matches!(
            judge(&checkpoint(source("e1", "00"), 1), &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
        // Spent: its last attempt ended without cleaning up.
        assert!(matches!(
            judge(&checkpoint(ours.clone(), 3), &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
    }

    #[test]
    fn listed_parts_are_trusted_only_when_each_has_its_planned_size() {
        assert!(trusted(vec![part(1, 10), part(3, 5)], &PLAN).is_some());
        assert!(trusted(vec![], &PLAN).is_some());
        assert!(trusted(vec![part(1, 10), part(3, 10)], &PLAN).is_none());
        assert!(trusted(vec![part(4, 10)], &PLAN).is_none());
        assert!(trusted(vec![part(0, 10)], &PLAN).is_none());
    }

    fn gzip(restart: Restart) -> Transformed {
        Transformed {
            transform: "gzip".into(),
            unit: MIB,
            schedule: crate::copy::part_size::PartSchedule::new(10 * MIB, Some(25 * MIB), false),
            restart,
        }
    }

    #[test]
    fn a_transformed_checkpoint_is_resumed_only_by_the_same_transform_and_schedule() {
        let ours = source("e1", "01");
        let mut transformed = checkpoint(ours.clone(), 1);
        transformed.transformed = Some(gzip(Restart::default()));
        let same = gzip(Restart {
            parts_done: 2,
            ..Restart::default()
        });
        assert!(matches!(
            judge(&transformed, &ours, &PLAN, Some(&same), 3),
            Judged::Resume
        ));
        let other = Transformed {
            transform: "zstd".into(),
            ..same.clone()
        };
        assert!(matches!(
            judge(&transformed, &ours, &PLAN, Some(&other), 3),
            Judged::Replace(_)
        ));
        // An identity copy never resumes a transformed one, nor the reverse.
        assert!(matches!(
            judge(&transformed, &ours, &PLAN, None, 3),
            Judged::Replace(_)
        ));
        assert!(matches!(
            judge(&checkpoint(ours.clone(), 1), &ours, &PLAN, Some(&same), 3),
            Judged::Replace(_)
        ));
    }

    #[test]
    fn a_transformed_copy_trusts_the_parts_its_restart_point_counts_on() {
        let restart = Restart {
            parts_done: 2,
            bytes_done: 20 * MIB,
            input_offset: 30 * MIB,
            skip: 1_000,
            skip_crc64nvme: 7,
        };
        let plan = gzip(restart);
        // Later parts (made again) are dropped.
        let trusted = trusted_prefix(vec![part(1, 10), part(2, 10), part(3, 10)], &plan, 60 * MIB);
        assert_eq!(
            trusted.map(|parts| parts.iter().map(|p| p.number).collect::<Vec<_>>()),
            Some(vec![1, 2])
        );
        assert!(trusted_prefix(vec![part(1, 10)], &plan, 60 * MIB).is_none());
        assert!(trusted_prefix(vec![part(1, 10), part(2, 5)], &plan, 60 * MIB).is_none());
        // A short last part only at the input's end.
        let at_end = gzip(Restart {
            bytes_done: 15 * MIB,
            input_offset: 60 * MIB,
            skip: 0,
            ..restart
        });
        assert!(trusted_prefix(vec![part(1, 10), part(2, 5)], &at_end, 60 * MIB).is_some());
        assert!(trusted_prefix(vec![], &gzip(Restart::default()), 60 * MIB).is_some());
    }

    fn session(attempt: u32, max_attempts: u32, stop_in: Duration, longest: Duration) -> Session {
        Session {
            checkpoint_key: String::new(),
            upload_id: String::new(),
            attempt,
            max_attempts,
            plan: PLAN,
            bytes_at_start: vec![0, 10],
            stop_at: Some(Instant::now() + stop_in),
            longest_part: Arc::new(AtomicU64::new(longest.as_micros() as u64)),
            all_parts_done: false,
            restarts: None,
            segment: None,
            token: String::new(),
        }
    }

    #[test]
    fn a_part_starts_only_when_the_slowest_so_far_would_finish_before_the_stop() {
        let second = Duration::from_secs(1);
        assert!(session(1, 3, 10 * second, 5 * second).may_start());
        assert!(
            !session(1, 3, 6 * second, 5 * second).may_start(),
            "5 s × 1.25 > 6 s"
        );
        // Nothing measured yet: start.
        assert!(session(1, 3, second, Duration::ZERO).may_start());
        // The last attempt never stops early: its deadline aborts anyway.
        assert!(session(3, 3, second, 5 * second).may_start());
    }

    #[test]
    fn each_attempt_is_credited_with_what_it_added() {
        let session = session(2, 3, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(session.bytes_per_attempt(25), vec![10, 15]);
        assert!(PLAN.is_valid());
    }
}
