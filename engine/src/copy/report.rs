//! What a finished copy measured; the handler's response is built from it.

use super::server::CopyMethod;
use super::source::{Pin, ResolvedSource};
use super::upload::{Written, crc64_base64};
use serde::Serialize;

/// How a copy that did not fail ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CopyOutcome {
    /// The destination was written.
    #[default]
    Copied,
    /// The destination holds the copy of this event or a newer one: nothing was written.
    Superseded,
    /// Split into segments for other invocations ([`CopyReport::fanned_out`]).
    Split,
    /// A segment's parts are in S3; the copy completes in the segment that
    /// finds every part (or did: [`CopyReport::verified`] says `complete`).
    Segment,
}

/// The outcome of one successful copy.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// Written, or superseded by a newer copy.
    pub outcome: CopyOutcome,
    /// How the bytes moved: `server` (S3 copied them) or `stream`.
    pub method: CopyMethod,
    /// Why a server-side copy fell back to streaming (`COPY_MODE=auto`).
    pub fallback: Option<String>,
    /// Source bytes copied (read by the function when streaming, by S3
    /// when server-side).
    pub bytes_read: u64,
    /// Destination bytes written.
    pub bytes_written: u64,
    /// Object bytes that passed through the function (GET plus PUT bodies):
    /// zero for a server-side copy.
    pub bytes_through_function: u64,
    /// S3 requests sent for this copy, retries included (the request cost).
    pub requests: u64,
    /// Part size of the first part.
    pub part_size: u64,
    /// Parts uploaded (1 for a single `PutObject`).
    pub parts: u64,
    /// Whether a multipart upload was used.
    pub multipart: bool,
    /// Wall time of the copy, in milliseconds.
    pub duration_ms: u64,
    /// Source bytes per second over the copy, in MB/s (10^6).
    pub mb_per_s: f64,
    /// The destination's ETag.
    pub etag: String,
    /// The destination's version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// The destination's full-object CRC64NVME, base64 (when known).
    pub checksum_crc64nvme: Option<String>,
    /// The source version copied, when known.
    pub source_version_id: Option<String>,
    /// The source ETag copied.
    pub source_etag: Option<String>,
    /// Source GETs resumed or re-sent after a failed, short or stalled body.
    pub read_retries: u64,
    /// Streamed parts sent again after their upload failed transiently (the
    /// SDK cannot replay a streamed body, so the part is read again).
    pub upload_retries: u64,
    /// How the copy's integrity was checked: `source-crc64nvme` when its
    /// full-object CRC64NVME was compared with the source's and equal, else
    /// why not (`no-source-checksum`, `composite-source-checksum`, `transformed`).
    pub verified: String,
    /// Bytes each attempt put in S3, in order, for a copy that resumed
    /// across invocations (empty for a copy of one attempt).
    pub attempts: Vec<u64>,
    /// The segments of a copy that fanned out.
    #[serde(skip)]
    pub fanned_out: Option<super::fan_out::FannedOut>,
}

impl CopyReport {
    /// The report of a copy that wrote nothing: the destination holds the
    /// copy of a newer event.
    pub fn superseded(source: &ResolvedSource, elapsed: std::time::Duration) -> CopyReport {
        CopyReport {
            outcome: CopyOutcome::Superseded,
            method: CopyMethod::default(),
            fallback: None,
            bytes_read: 0,
            bytes_written: 0,
            bytes_through_function: 0,
            requests: 0,
            part_size: 0,
            parts: 0,
            multipart: false,
            duration_ms: elapsed.as_millis() as u64,
            mb_per_s: 0.0,
            etag: String::new(),
            version_id: None,
            checksum_crc64nvme: None,
            source_version_id: match &source.pin {
                Pin::Version(version) => Some(version.clone()),
                Pin::ETag(_) => None,
            },
            source_etag: source.spec.etag.clone(),
            read_retries: 0,
            upload_retries: 0,
            verified: "superseded".to_owned(),
            attempts: Vec::new(),
            fanned_out: None,
        }
    }

    /// The report of a copy that wrote `written` by `method`; the caller
    /// fills in the byte counts, timing and verification.
    pub fn written(source: &ResolvedSource, written: &Written, method: CopyMethod) -> CopyReport {
        CopyReport {
            outcome: CopyOutcome::Copied,
            method,
            parts: written.parts,
            multipart: written.parts > 1,
            etag: written.etag.clone(),
            version_id: written.version_id.clone(),
            checksum_crc64nvme: written.crc64nvme.map(crc64_base64),
            verified: String::new(),
            ..CopyReport::superseded(source, std::time::Duration::ZERO)
        }
    }

    /// The report of a copy split into `fanned`'s segments by `plan`.
    pub(crate) fn split(
        source: &ResolvedSource,
        plan: super::resume::checkpoint::PartPlan,
        fanned: super::fan_out::FannedOut,
        elapsed: std::time::Duration,
    ) -> CopyReport {
        CopyReport {
            outcome: CopyOutcome::Split,
            method: plan.method,
            part_size: plan.part_size,
            parts: plan.parts,
            multipart: true,
            verified: "split".to_owned(),
            fanned_out: Some(fanned),
            ..CopyReport::superseded(source, elapsed)
        }
    }

    /// The report of a segment whose parts are in S3; `complete` when the
    /// copy was found complete (another segment completed it).
    pub(crate) fn segment(
        source: &ResolvedSource,
        complete: bool,
        elapsed: std::time::Duration,
    ) -> CopyReport {
        CopyReport {
            outcome: CopyOutcome::Segment,
            multipart: true,
            verified: if complete { "complete" } else { "pending" }.to_owned(),
            ..CopyReport::superseded(source, elapsed)
        }
    }

    /// The report of a copy an earlier attempt completed as its deadline
    /// cut the answer off: nothing moved in this one, the destination's
    /// CRC64NVME is the source's.
    pub(crate) fn landed_earlier(
        source: &ResolvedSource,
        landed: super::resume::LandedEarlier,
        elapsed: std::time::Duration,
    ) -> CopyReport {
        CopyReport {
            duration_ms: elapsed.as_millis() as u64,
            part_size: landed.plan.part_size,
            verified: super::verify::VERIFIED_SOURCE_CRC64NVME.to_owned(),
            attempts: landed.attempts,
            ..CopyReport::written(source, &landed.written, landed.plan.method)
        }
    }

    /// The report of a streamed copy that wrote `written`, from what it counted.
    pub fn streamed(
        source: &ResolvedSource,
        written: &Written,
        counted: StreamedCounts,
    ) -> CopyReport {
        let StreamedCounts {
            bytes_read,
            bytes_written,
            part_size,
            elapsed,
            read_retries,
            upload_retries,
            verified,
        } = counted;
        CopyReport {
            bytes_read,
            bytes_written,
            bytes_through_function: bytes_read + bytes_written,
            part_size,
            multipart: written.parts > 1 || bytes_written > part_size,
            duration_ms: elapsed.as_millis() as u64,
            mb_per_s: megabytes_per_second(bytes_read, elapsed),
            read_retries,
            upload_retries,
            verified,
            ..CopyReport::written(source, written, CopyMethod::Stream)
        }
    }

    /// The report with the copy's request count.
    pub fn with_requests(self, requests: u64) -> CopyReport {
        CopyReport { requests, ..self }
    }
}

/// What a streamed copy counted, for [`CopyReport::streamed`].
#[derive(Debug, Clone)]
pub struct StreamedCounts {
    /// Source bytes read.
    pub bytes_read: u64,
    /// Destination bytes written.
    pub bytes_written: u64,
    /// Size of the first part.
    pub part_size: u64,
    /// Wall time of the copy.
    pub elapsed: std::time::Duration,
    /// Source GETs resumed or re-sent.
    pub read_retries: u64,
    /// Part uploads re-sent.
    pub upload_retries: u64,
    /// The `verified` word.
    pub verified: String,
}

/// MB/s (10^6 bytes) of `bytes` over `millis`.
pub fn megabytes_per_second(bytes: u64, elapsed: std::time::Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    let rate = bytes as f64 / 1e6 / seconds;
    (rate * 10.0).round() / 10.0
}
