//! The copy engine: one object, server-side or streamed through a transform in bounded memory.
//!
//! Data flow: [`copy_object`] resolves the source (size, pin, stored
//! checksum, metadata) and the destination's write plan (newest wins), then
//! copies by one of two methods. Identity copies go [`server`]-side
//! (`CopyObject` / `UploadPartCopy`: S3 moves the bytes) unless
//! `CopyMode::Stream`; transforms, and `CopyMode::Auto` copies the store
//! refuses server-side, stream: an identity copy of more than one part is
//! `piped` (each part's GET into its upload), everything else takes the
//! `stream` pipeline: part-aligned ranged GETs → transform →
//! [`PartAssembler`] → a bounded-memory multipart upload. Every method is
//! given the same `CopyContext`.
//!
//! Promises: an identity copy ends with the source's stored full-object
//! CRC64NVME or writes nothing ([`verify`]); an event-driven copy (with a
//! sequencer) never overwrites the copy of a newer event
//! ([`upload::condition`]).

mod content_headers;
mod context;
pub mod error;
pub mod error_type;
pub mod failure_class;
pub mod fan_out;
pub mod memory;
pub mod memory_pool;
pub mod part_size;
mod piped;
pub mod report;
mod requests;
pub mod resume;
pub mod server;
pub mod source;
mod stream;
pub mod upload;
pub mod verify;

pub use error::CopyError;
pub use error_type::CopyErrorType;
pub use failure_class::FailureClass;
pub use memory::MemoryPlan;
pub use memory_pool::MemoryPool;
pub use part_size::PartSchedule;
pub use report::{CopyOutcome, CopyReport};
pub use server::{CopyMethod, CopyMode, ServerCopySettings};
pub use source::{
    ObjectMetadata, RangeReader, ReadCounters, ReadRetryPolicy, SourceChecksum, SourceSpec,
};
pub use stream::assembler::{self, Part, PartAssembler};
pub use upload::{Destination, UploadOptions};

use crate::transform::Transform;
use aws_sdk_s3::Client;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use upload::condition::{Completion, WritePlan};
use verify::Verify;

/// Parts uploading at once by default: four streams saturate a small
/// function's network share while four 8 MiB parts stay within a 512 MB budget.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;

/// Ranged GETs in flight or waiting by default: four reach ~400 MB/s where
/// one stream halves once the server also takes uploads (measured, see README).
pub const DEFAULT_READ_AHEAD: usize = 4;

/// Memory budget of one copy by default: a 1024 MB function's (one eighth
/// of its memory), what `bootstrap copy` assumes outside Lambda.
pub const DEFAULT_MEMORY_BUDGET: u64 = 128 * part_size::MIB;

/// The budget of the smallest function the defaults are sized for: 512 MB,
/// one eighth of it.
const SMALLEST_DEFAULT_BUDGET: u64 = 64 * part_size::MIB;

const _: () = assert!(
    DEFAULT_UPLOAD_CONCURRENCY as u64 * part_size::DEFAULT_PART_SIZE <= SMALLEST_DEFAULT_BUDGET,
    "the default parts in flight must fit a 512 MB function's budget"
);

/// Tunables of one copy.
#[derive(Debug, Clone, PartialEq)]
pub struct CopySettings {
    /// Requested part size (grown for large objects, never below 5 MiB).
    pub part_size: u64,
    /// Parts uploading at once.
    pub upload_concurrency: usize,
    /// Ranged reads in flight or waiting to be consumed.
    pub read_ahead: usize,
    /// The most bytes the copy may buffer; read-ahead and upload concurrency
    /// shrink to fit it at the object's part size ([`memory::plan`]).
    pub memory_budget: u64,
    /// Destination options.
    pub options: UploadOptions,
    /// How source reads are resumed and when a body counts as stalled.
    pub read_retry: ReadRetryPolicy,
    /// Server-side or streaming, for identity copies.
    pub mode: CopyMode,
    /// Tunables of server-side copies.
    pub server: ServerCopySettings,
    /// Carry the source's tags to the copy (`GetObjectTagging` for a copy
    /// that rewrites the object, `TaggingDirective::Copy` for `CopyObject`).
    pub copy_tags: bool,
    /// The memory a streamed copy reserves its plan from before it reads
    /// (shared by the copies of one invocation); `None` reserves nothing
    /// beyond `memory_budget`.
    pub memory_pool: Option<MemoryPool>,
    /// How a multipart copy (identity, or through a restartable transform) resumes across invocations; `None`:
    /// a copy that meets its deadline aborts its upload.
    pub resume: Option<resume::ResumeSettings>,
    /// Splitting large identity copies over many invocations
    /// (`FAN_OUT_THRESHOLD_MIB`); `None`: never.
    pub fan_out: Option<fan_out::FanOutSettings>,
    /// The segment of a fanned-out copy this call copies; `None`: a whole copy.
    pub segment: Option<fan_out::Segment>,
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            part_size: part_size::DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            read_ahead: DEFAULT_READ_AHEAD,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            options: UploadOptions::default(),
            read_retry: ReadRetryPolicy::default(),
            mode: CopyMode::default(),
            server: ServerCopySettings::default(),
            copy_tags: true,
            memory_pool: None,
            resume: None,
            fan_out: None,
            segment: None,
        }
    }
}

/// A copy's id: the same for every attempt of the same copy (a retried
/// event, a redelivered message) and different for any other source
/// version or destination, so its log lines and metrics can be followed
/// across attempts. Sixteen hex digits of the CRC64NVME of what names it.
pub fn copy_id(source: &SourceSpec, destination: &Destination) -> String {
    let pin = source
        .version_id
        .as_deref()
        .or(source.etag.as_deref())
        .unwrap_or("");
    let name = format!(
        "{}\n{}\n{pin}\n{}\n{}",
        source.bucket, source.key, destination.bucket, destination.key
    );
    format!("{:016x}", upload::crc64nvme(name.as_bytes()))
}

/// Live counters of a copy, for progress display and timeout reports.
#[derive(Debug, Default)]
pub struct CopyProgress {
    /// Source bytes read.
    pub bytes_read: AtomicU64,
    /// Destination bytes acknowledged by S3.
    pub bytes_written: Arc<AtomicU64>,
}

/// The clients of one copy: the source's region's and the destination's
/// (the same client when both buckets share a region).
#[derive(Debug, Clone)]
pub struct Clients {
    /// Reads the source (`HeadObject`, `GetObject`, `GetObjectTagging`).
    pub source: Client,
    /// Writes the destination, and sends server-side copies (S3 serves a
    /// copy from the destination's region).
    pub destination: Client,
}

impl From<&Client> for Clients {
    fn from(client: &Client) -> Clients {
        Clients {
            source: client.clone(),
            destination: client.clone(),
        }
    }
}

impl From<&Clients> for Clients {
    fn from(clients: &Clients) -> Clients {
        clients.clone()
    }
}

/// Copies `source` to `destination` through `transform`. An identity copy
/// goes server-side unless `settings.mode` is `Stream` (with `Auto`, a
/// refusal that streaming overcomes streams instead, and the report names
/// the fallback); anything else streams in bounded memory. On failure
/// nothing is left behind: a multipart upload is aborted before the error
/// returns. With a sequencer in `source`, a destination holding the copy of
/// the same or a newer event ends the copy as [`CopyOutcome::Superseded`]
/// (an `Ok`), with nothing written.
///
/// # Cancellation
///
/// Every await is raced against `cancel`: the copy aborts its upload and
/// returns `CopyError::Cancelled`. Dropping the future instead leaves the
/// abort to the upload's guard (spawned, best effort).
pub async fn copy_object(
    clients: impl Into<Clients>,
    source: SourceSpec,
    destination: &Destination,
    transform: Box<dyn Transform>,
    settings: &CopySettings,
    cancel: &CancellationToken,
    progress: &CopyProgress,
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let clients = clients.into();
    let requests = Arc::new(AtomicU64::new(0));
    let source_client = &requests::counted(&clients.source, &requests);
    let client = &requests::counted(&clients.destination, &requests);
    let identity = transform.preserves_length() && transform.is_identity();
    let resolved = tokio::select! {
        () = cancel.cancelled() => return Err(CopyError::Cancelled { bytes_read: 0, bytes_written: 0 }),
        resolved = source::resolve(source_client, source, identity) => resolved?,
    };
    let verify = Verify::new(identity, &resolved);
    let planned = WritePlan::new(client, destination, &resolved, cancel).await?;
    let superseded = planned.is_none();
    let write_plan = planned.unwrap_or_else(WritePlan::superseded);
    let copy = context::CopyContext {
        source_client,
        client,
        source: &resolved,
        destination,
        settings,
        write_plan: &write_plan,
        verify: &verify,
        cancel,
        progress,
        started,
    };
    if superseded && let Some(segment) = &settings.segment {
        let report = Box::pin(fan_out::superseded(&copy, segment)).await;
        return Ok(report.with_requests(requests.load(Ordering::Relaxed)));
    }
    if superseded {
        // Boxed, as the methods are: a debug build's futures are large.
        let report = match Box::pin(resume::settle_superseded(&copy)).await {
            Some(landed) => CopyReport::landed_earlier(&resolved, landed, started.elapsed()),
            None => CopyReport::superseded(&resolved, started.elapsed()),
        };
        return Ok(report.with_requests(requests.load(Ordering::Relaxed)));
    }
    if let Some(segment) = &settings.segment {
        let report = Box::pin(fan_out::copy_segment(&copy, segment)).await?;
        return Ok(report.with_requests(requests.load(Ordering::Relaxed)));
    }
    if fan_out::applies(&copy, identity)
        && let Some(report) = Box::pin(fan_out::split(&copy)).await?
    {
        return Ok(report.with_requests(requests.load(Ordering::Relaxed)));
    }
    let mut fallback = None;
    if identity && settings.mode != CopyMode::Stream {
        match Box::pin(server::copy(&copy)).await {
            Ok(copied) => {
                let report = match copied.completion {
                    Completion::Written(written) => {
                        let verified = server::settle(&copy, &written).await?;
                        let mut report =
                            server::report(&resolved, &written, &copied.plan, verified, started);
                        report.attempts = copied.attempts;
                        report
                    }
                    Completion::Superseded => CopyReport::superseded(&resolved, started.elapsed()),
                    Completion::Deferred => {
                        CopyReport::segment(&resolved, false, started.elapsed())
                    }
                };
                return Ok(report.with_requests(requests.load(Ordering::Relaxed)));
            }
            Err(CopyError::ServerCopyRefused { reason, .. }) if settings.mode == CopyMode::Auto => {
                tracing::warn!(
                    "s3 refused the server-side copy of s3://{}/{} ({reason}): streaming it instead",
                    resolved.spec.bucket,
                    resolved.spec.key
                );
                progress.bytes_written.store(0, Ordering::Relaxed);
                fallback = Some(reason);
            }
            Err(error) => return Err(error),
        }
    }
    let mut report = if piped::applies(&copy, identity) {
        Box::pin(piped::copy(&copy)).await?
    } else {
        Box::pin(stream::copy(&copy, transform)).await?
    };
    report.fallback = fallback;
    Ok(report.with_requests(requests.load(Ordering::Relaxed)))
}
