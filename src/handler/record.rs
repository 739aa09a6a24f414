//! One record's copy: destination key, recursion guard, budget, and its result.

use crate::config::Config;
use crate::copy::fan_out::Segment;
use crate::copy::resume::ResumeSettings;
use crate::copy::resume::checkpoint::RESERVED_PREFIX;
use crate::copy::{
    CopyError, CopyMethod, CopyOutcome, CopyProgress, CopySettings, Destination, FailureClass,
    MemoryPool, SourceSpec, copy_object,
};
use crate::error_type::FunctionErrorType;
use crate::event::ObjectCreated;
use crate::regions::RegionalClients;
use crate::work_queue::WorkQueue;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// S3's longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Copied.
    Copied,
    /// Not an object-created record, or refused by the recursion guard.
    Skipped,
    /// The source changed since the event; the newer object has its own event.
    Superseded,
    /// Stopped at its deadline and handed to the work queue, where it
    /// continues (its own delivery succeeds).
    Continuing,
    /// Fanned out: its copy's segments were sent to the work queue, where
    /// many invocations copy them at once.
    Split,
    /// A fan-out segment's parts are in S3; the copy completes in the
    /// segment that finds every part (`verified` says `complete` when it
    /// already has).
    Segment,
    /// Failed; the invocation fails so Lambda retries.
    Failed,
}

/// An object's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// One record's entry in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordResult {
    /// What happened.
    pub outcome: Outcome,
    /// The source object.
    pub source: ObjectRef,
    /// The destination object, when a copy was attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<ObjectRef>,
    /// How the bytes moved (`server` or `stream`), when a copy was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<CopyMethod>,
    /// The transform the copy went through, when a copy was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    /// Why a server-side copy fell back to streaming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Source bytes read.
    pub bytes_in: u64,
    /// Destination bytes written.
    pub bytes_out: u64,
    /// Object bytes that passed through the function (0 when server-side).
    pub bytes_through_function: u64,
    /// S3 requests sent for this record, retries included.
    pub requests: u64,
    /// Parts uploaded.
    pub parts: u64,
    /// Part size.
    pub part_size: u64,
    /// Milliseconds the copy took.
    pub ms: u64,
    /// Throughput, MB/s.
    pub mb_per_s: f64,
    /// The destination's ETag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The destination's full-object CRC64NVME (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_crc64nvme: Option<String>,
    /// How the copy was checked end to end (`source-crc64nvme`, or why not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// Source GETs resumed or re-sent after a failed, short or stalled body.
    pub read_retries: u64,
    /// Streamed parts sent again after their upload failed transiently.
    pub upload_retries: u64,
    /// Bytes each attempt put in S3, for a copy that resumed across
    /// invocations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<u64>,
    /// The multipart upload a fanned-out copy's segments write into (its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Segments a split record sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<u64>,
    /// The parts a segment record copies (`first-last`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// What a split record sends (not reported: [`Self::segments`] counts it).
    #[serde(skip)]
    pub fanned_out: Option<crate::copy::fan_out::FannedOut>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure's stable error type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Whether retrying can succeed (`transient`) or not (`permanent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
    /// The failure, with its causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RecordResult {
    /// An entry with no copy work done.
    pub fn new(outcome: Outcome, bucket: &str, key: &str) -> RecordResult {
        RecordResult {
            outcome,
            source: ObjectRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version_id: None,
            },
            destination: None,
            method: None,
            transform: None,
            fallback: None,
            bytes_in: 0,
            bytes_out: 0,
            bytes_through_function: 0,
            requests: 0,
            parts: 0,
            part_size: 0,
            ms: 0,
            mb_per_s: 0.0,
            etag: None,
            checksum_crc64nvme: None,
            verified: None,
            read_retries: 0,
            upload_retries: 0,
            attempts: Vec::new(),
            upload_id: None,
            segments: None,
            segment: None,
            fanned_out: None,
            reason: None,
            error_type: None,
            failure_class: None,
            error: None,
        }
    }

    /// A skipped entry.
    pub fn skipped(bucket: &str, key: &str, reason: impl Into<String>) -> RecordResult {
        RecordResult {
            reason: Some(reason.into()),
            ..RecordResult::new(Outcome::Skipped, bucket, key)
        }
    }

    /// A failed entry.
    pub fn failed(
        bucket: &str,
        key: &str,
        error_type: &str,
        class: FailureClass,
        error: impl Into<String>,
    ) -> RecordResult {
        RecordResult {
            error_type: Some(error_type.to_owned()),
            failure_class: Some(class),
            error: Some(error.into()),
            ..RecordResult::new(Outcome::Failed, bucket, key)
        }
    }
}

/// Everything a record's copy shares with the others of its invocation.
pub struct RecordContext<'a> {
    /// The S3 clients, by region.
    pub clients: &'a RegionalClients,
    /// The configuration.
    pub config: &'a Config,
    /// The invocation's buffer budget, which streamed copies reserve from.
    pub memory: &'a MemoryPool,
    /// Fires before the deadline.
    pub cancel: &'a CancellationToken,
    /// When `cancel` fires for the deadline (`None`: no deadline known): a
    /// resumable copy starts no part that would not finish by then.
    pub stop_at: Option<Instant>,
    /// Every record's result is also kept here, for the invocation's metrics.
    pub results: Option<&'a Mutex<Vec<RecordResult>>>,
    /// Where a copy that stopped at its deadline goes on (`WORK_QUEUE_URL`).
    pub work_queue: Option<&'a WorkQueue>,
}

impl RecordContext<'_> {
    /// Keeps `result` for the invocation's metrics, when they are kept.
    pub fn observe(&self, result: &RecordResult) {
        if let Some(results) = self.results {
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(result.clone());
        }
    }
}

/// The stable error type of a refused recursive copy.
pub const RECURSION_ERROR_TYPE: &str = FunctionErrorType::Recursion.as_str();

/// The stable error type of a destination key longer than S3 allows.
pub const KEY_TOO_LONG_ERROR_TYPE: &str = FunctionErrorType::KeyTooLong.as_str();

/// The stable error type of a source bucket the allow-list refuses.
pub const SOURCE_NOT_ALLOWED_ERROR_TYPE: &str = FunctionErrorType::SourceNotAllowed.as_str();

/// Copies one object-created record.
pub async fn copy_record(
    context: &RecordContext<'_>,
    object: &ObjectCreated,
    onward: &super::handoff::Onward,
) -> RecordResult {
    let config = context.config;
    if let Some(refusal) = config.allow.source_refusal(&object.bucket) {
        tracing::error!("{refusal}");
        return RecordResult::failed(
            &object.bucket,
            &object.key,
            SOURCE_NOT_ALLOWED_ERROR_TYPE,
            FailureClass::Permanent,
            refusal,
        );
    }
    let transform =
        match crate::transform::by_name_with(&config.transform, &config.transform_options) {
            Some(transform) => transform,
            None => {
                return RecordResult::failed(
                    &object.bucket,
                    &object.key,
                    FunctionErrorType::InvalidConfiguration.as_str(),
                    FailureClass::Permanent,
                    "unknown transform",
                );
            }
        };
    let destination_key = format!(
        "{}{}",
        config.dst_prefix,
        transform.destination_key(&object.key)
    );
    if object.key.starts_with(RESERVED_PREFIX) {
        return RecordResult::skipped(
            &object.bucket,
            &object.key,
            format!(
                "recursion guard: {RESERVED_PREFIX} holds this function's own state (checkpoints of resumable copies)"
            ),
        );
    }
    if object.bucket == config.dst_bucket {
        if destination_key == object.key {
            let message = format!(
                "refusing to copy s3://{}/{} onto itself: it would trigger this function forever; set DST_PREFIX or another DST_BUCKET",
                object.bucket, object.key
            );
            return RecordResult::failed(
                &object.bucket,
                &object.key,
                RECURSION_ERROR_TYPE,
                FailureClass::Permanent,
                message,
            );
        }
        if object
            .key
            .strip_prefix(&config.dst_prefix)
            .is_some_and(|rest| transform.is_output_key(rest))
        {
            return RecordResult::skipped(
                &object.bucket,
                &object.key,
                "recursion guard: the key is this function's own output (DST_PREFIX in the source bucket)",
            );
        }
    }
    if destination_key.len() > MAX_KEY_BYTES {
        let message = format!(
            "destination key is {} bytes, over s3's {MAX_KEY_BYTES}",
            destination_key.len()
        );
        return RecordResult::failed(
            &object.bucket,
            &object.key,
            KEY_TOO_LONG_ERROR_TYPE,
            FailureClass::Permanent,
            message,
        );
    }
    let destination = Destination {
        bucket: config.dst_bucket.clone(),
        key: destination_key,
    };
    // A streamed copy reserves its memory plan from the invocation's pool
    // before it reads a byte (about its own size for an object within one
    // part), so the records of one invocation never hold more than the
    // budget; a server-side copy holds no object bytes and reserves nothing.
    let settings = CopySettings {
        memory_pool: Some(context.memory.clone()),
        resume: config.copy.resume.clone().map(|resume| ResumeSettings {
            stop_at: context.stop_at,
            ..resume
        }),
        // Only a record that can hand off may fan out (a Batch Operations
        // task's report must not say it succeeded before the copy did).
        fan_out: config.copy.fan_out.filter(|_| onward.may_fan_out()),
        segment: onward.segment().cloned(),
        ..config.copy.clone()
    };
    let source = SourceSpec {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version_id: object.version_id.clone(),
        etag: object.etag.clone(),
        size: object.size,
        sequencer: object.sequencer.clone(),
    };
    let clients = tokio::select! {
        () = context.cancel.cancelled() => {
            let error = CopyError::Cancelled { bytes_read: 0, bytes_written: 0 };
            return failure(object, &destination, &error);
        }
        clients = context.clients.for_copy(&object.bucket, object.region.as_deref(), &destination.bucket) => clients,
    };
    let progress = CopyProgress::default();
    let watch = config.progress_interval.map(|interval| Watch {
        copy_id: crate::copy::copy_id(&source, &destination),
        total: object.size,
        interval,
    });
    let copying = copy_object(
        &clients,
        source,
        &destination,
        transform,
        &settings,
        context.cancel,
        &progress,
    );
    let copied = match watch {
        Some(watch) => watch.run(copying, &progress, object, &destination).await,
        None => copying.await,
    };
    let segment = onward.segment();
    match copied {
        Ok(report) if report.outcome == CopyOutcome::Split => RecordResult {
            destination: Some(ObjectRef {
                bucket: destination.bucket,
                key: destination.key,
                version_id: None,
            }),
            method: Some(report.method),
            transform: Some(config.transform.clone()),
            requests: report.requests,
            parts: report.parts,
            part_size: report.part_size,
            ms: report.duration_ms,
            upload_id: report.fanned_out.as_ref().map(|f| f.upload_id.clone()),
            fanned_out: report.fanned_out,
            ..RecordResult::new(Outcome::Split, &object.bucket, &object.key)
        },
        Ok(report) if report.outcome == CopyOutcome::Segment => {
            let segment = segment.map(|s| (s.upload_id.clone(), s.range()));
            tracing::info!(
                "segment {} of upload {} of s3://{}/{}: parts in s3 ({} bytes in {} ms); {}",
                segment.as_ref().map(|s| s.1.as_str()).unwrap_or_default(),
                segment.as_ref().map(|s| s.0.as_str()).unwrap_or_default(),
                destination.bucket,
                destination.key,
                progress_bytes(&progress),
                report.duration_ms,
                if report.verified == "complete" {
                    "the copy is complete"
                } else {
                    "the segment that finds every part completes the copy"
                }
            );
            RecordResult {
                destination: Some(ObjectRef {
                    bucket: destination.bucket,
                    key: destination.key,
                    version_id: None,
                }),
                method: Some(report.method),
                transform: Some(config.transform.clone()),
                bytes_in: progress
                    .bytes_read
                    .load(std::sync::atomic::Ordering::Relaxed),
                bytes_out: progress_bytes(&progress),
                requests: report.requests,
                ms: report.duration_ms,
                verified: Some(report.verified),
                upload_id: segment.as_ref().map(|s| s.0.clone()),
                segment: segment.map(|s| s.1),
                ..RecordResult::new(Outcome::Segment, &object.bucket, &object.key)
            }
        }
        Ok(report) if report.outcome == CopyOutcome::Superseded => {
            let reason = format!(
                "s3://{}/{} holds the copy of this event or a newer one: nothing written",
                destination.bucket, destination.key
            );
            tracing::info!("s3://{}/{}: {reason}", object.bucket, object.key);
            RecordResult {
                reason: Some(reason),
                destination: Some(ObjectRef {
                    bucket: destination.bucket,
                    key: destination.key,
                    version_id: None,
                }),
                requests: report.requests,
                ..RecordResult::new(Outcome::Superseded, &object.bucket, &object.key)
            }
        }
        Ok(report) => {
            tracing::info!(
                "copied s3://{}/{} to s3://{}/{} ({:?}): {} bytes in {} ms ({} MB/s, {} parts, {} requests)",
                object.bucket,
                object.key,
                destination.bucket,
                destination.key,
                report.method,
                report.bytes_read,
                report.duration_ms,
                report.mb_per_s,
                report.parts,
                report.requests
            );
            RecordResult {
                outcome: Outcome::Copied,
                source: ObjectRef {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    version_id: report.source_version_id.clone(),
                },
                destination: Some(ObjectRef {
                    bucket: destination.bucket,
                    key: destination.key,
                    version_id: report.version_id.clone(),
                }),
                method: Some(report.method),
                transform: Some(config.transform.clone()),
                fallback: report.fallback.clone(),
                bytes_in: report.bytes_read,
                bytes_out: report.bytes_written,
                bytes_through_function: report.bytes_through_function,
                requests: report.requests,
                parts: report.parts,
                part_size: report.part_size,
                ms: report.duration_ms,
                mb_per_s: report.mb_per_s,
                etag: Some(report.etag),
                checksum_crc64nvme: report.checksum_crc64nvme.clone(),
                verified: Some(report.verified),
                read_retries: report.read_retries,
                upload_retries: report.upload_retries,
                attempts: report.attempts.clone(),
                upload_id: segment.map(|s| s.upload_id.clone()),
                segments: None,
                segment: segment.map(Segment::range),
                fanned_out: None,
                reason: None,
                error_type: None,
                failure_class: None,
                error: None,
            }
        }
        Err(error) => RecordResult {
            upload_id: segment.map(|s| s.upload_id.clone()),
            segment: segment.map(Segment::range),
            ..failure(object, &destination, &error)
        },
    }
}

/// A copy's progress, logged every `interval` while it runs.
struct Watch {
    copy_id: String,
    /// The source's size, when the event said it.
    total: Option<u64>,
    interval: Duration,
}

impl Watch {
    /// Runs `copying`, logging a progress line every interval until it ends
    /// (a copy that ends sooner logs none).
    async fn run<T>(
        self,
        copying: impl std::future::Future<Output = T>,
        progress: &CopyProgress,
        object: &ObjectCreated,
        destination: &Destination,
    ) -> T {
        let started = Instant::now();
        let mut ticks = tokio::time::interval_at(started + self.interval, self.interval);
        // A late tick (a loaded sandbox) waits a whole interval for the next,
        // so lines are never closer than the interval.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(copying);
        loop {
            tokio::select! {
                result = &mut copying => return result,
                _ = ticks.tick() => self.log(progress, started.elapsed(), object, destination),
            }
        }
    }

    fn log(
        &self,
        progress: &CopyProgress,
        elapsed: Duration,
        object: &ObjectCreated,
        destination: &Destination,
    ) {
        use std::sync::atomic::Ordering;
        // Streamed copies count what they read, server-side ones what S3 copied.
        let done = progress
            .bytes_read
            .load(Ordering::Relaxed)
            .max(progress.bytes_written.load(Ordering::Relaxed));
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        let mb_per_s = done as f64 / 1e6 / seconds;
        let eta_seconds = self.total.filter(|_| done > 0).map(|total| {
            (total.saturating_sub(done) as f64 / (done as f64 / seconds)).round() as u64
        });
        let of_total = self.total.map_or_else(String::new, |total| {
            format!(
                " of {total} ({:.1}%)",
                done as f64 * 100.0 / total.max(1) as f64
            )
        });
        let eta = eta_seconds.map_or_else(String::new, |eta| format!(", eta {eta} s"));
        tracing::info!(
            copy_id = self.copy_id.as_str(),
            bytes_done = done,
            bytes_total = self.total,
            elapsed_seconds = elapsed.as_secs(),
            mb_per_s = (mb_per_s * 10.0).round() / 10.0,
            eta_seconds,
            "copy {} of s3://{}/{} to s3://{}/{}: {done} bytes{of_total} in {} s, {:.1} MB/s{eta}",
            self.copy_id,
            object.bucket,
            object.key,
            destination.bucket,
            destination.key,
            elapsed.as_secs(),
            mb_per_s
        );
    }
}

/// Destination bytes a copy wrote.
fn progress_bytes(progress: &CopyProgress) -> u64 {
    progress
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed)
}

fn failure(object: &ObjectCreated, destination: &Destination, error: &CopyError) -> RecordResult {
    let message = crate::runtime::error_chain(error);
    let mut result = if matches!(error, CopyError::Superseded { .. }) {
        tracing::warn!("{message}");
        RecordResult {
            reason: Some(message),
            ..RecordResult::new(Outcome::Superseded, &object.bucket, &object.key)
        }
    } else {
        tracing::error!("{message}");
        RecordResult::failed(
            &object.bucket,
            &object.key,
            error.error_type(),
            error.class(),
            message,
        )
    };
    if let CopyError::Cancelled {
        bytes_read,
        bytes_written,
    }
    | CopyError::Continue {
        bytes_read,
        bytes_written,
        ..
    } = error
    {
        result.bytes_in = *bytes_read;
        result.bytes_out = *bytes_written;
    }
    result.source.version_id = object.version_id.clone();
    result.destination = Some(ObjectRef {
        bucket: destination.bucket.clone(),
        key: destination.key.clone(),
        version_id: None,
    });
    result
}
