//! A pinned ranged read that resumes from the next unread byte when its body fails.

use super::backoff::{backoff, jitter};
use super::stall::StallMeter;
use super::{ObjectMetadata, Pin, ResolvedSource, content_range, read_error};
use crate::copy::error::{CopyError, SdkFailure};
use crate::copy::failure_class::FailureClass;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// GETs one reader sends at most (the first included): four resumes ride out
/// a few connection resets without hiding a source that keeps failing.
pub const DEFAULT_READ_ATTEMPTS: u32 = 5;

/// First pause before a resume: long enough for a reset connection pool or a
/// load balancer to recover, short next to a part's transfer time.
pub const DEFAULT_READ_BASE_BACKOFF: Duration = Duration::from_millis(200);

/// Longest pause between resumes: the doubling stops here so that the whole
/// retry budget stays within a few seconds of a Lambda's minutes.
pub const DEFAULT_READ_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Below this many bytes per second of waiting a body is stalled: S3 serves
/// one connection at tens of MiB/s, so 1 MiB/s is a sick connection, and a new
/// one is cheaper than riding it out.
pub const DEFAULT_MIN_THROUGHPUT: u64 = 1 << 20;

/// The window the floor is measured over: long enough that a TCP slow start or
/// a brief hiccup does not count, short enough that a trickle is left quickly.
pub const DEFAULT_THROUGHPUT_WINDOW: Duration = Duration::from_secs(10);

/// How reads are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRetryPolicy {
    /// GETs one reader sends at most, the first included (at least 1).
    pub max_attempts: u32,
    /// Pause before the first resume; doubled per resume.
    pub base_backoff: Duration,
    /// Cap of the pause.
    pub max_backoff: Duration,
    /// Bytes per second of waiting below which a body is stalled (0: never).
    pub min_throughput: u64,
    /// The waiting time over which `min_throughput` is measured.
    pub throughput_window: Duration,
}

impl Default for ReadRetryPolicy {
    fn default() -> Self {
        ReadRetryPolicy {
            max_attempts: DEFAULT_READ_ATTEMPTS,
            base_backoff: DEFAULT_READ_BASE_BACKOFF,
            max_backoff: DEFAULT_READ_MAX_BACKOFF,
            min_throughput: DEFAULT_MIN_THROUGHPUT,
            throughput_window: DEFAULT_THROUGHPUT_WINDOW,
        }
    }
}

/// Counters shared by every read of one copy.
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// Resumed or re-sent GETs.
    pub retries: AtomicU64,
}

/// Why a GET's body was given up on, as the cause of a resume.
#[derive(Debug, thiserror::Error)]
enum BodyFault {
    #[error("body ended after {got} of {expected} bytes")]
    EndedShort { got: u64, expected: u64 },
    #[error("the previous read was cancelled mid-body")]
    Interrupted,
}

/// A failed GET: either worth another attempt, or final.
enum Failure {
    Retry(SdkFailure),
    Fatal(CopyError),
}

/// One pinned read of `len` bytes from `start`, resumed across failed bodies.
#[derive(Debug)]
pub struct RangeReader {
    client: Client,
    source: ResolvedSource,
    /// The first GET is unranged with checksum validation.
    whole: bool,
    start: u64,
    len: u64,
    yielded: u64,
    body: Option<ByteStream>,
    /// A stall noticed with the chunk that closed its window: resume next call.
    stalled: Option<SdkFailure>,
    done: bool,
    metadata: ObjectMetadata,
    policy: ReadRetryPolicy,
    counters: Arc<ReadCounters>,
    attempts: u32,
    meter: StallMeter,
}

impl RangeReader {
    /// Sends the pinned GET for `range` (`[start, end]`, inclusive; `None` =
    /// the whole object with checksum mode on). Transient failures are retried
    /// like a resume; 412, 404, 403 and other client errors return at once.
    ///
    /// # Cancellation
    ///
    /// Safe: dropping the future drops the request.
    pub async fn open(
        client: Client,
        source: ResolvedSource,
        range: Option<(u64, u64)>,
        policy: ReadRetryPolicy,
        counters: Arc<ReadCounters>,
    ) -> Result<RangeReader, CopyError> {
        let (start, len) = match range {
            Some((start, end)) => (start, end.saturating_sub(start) + 1),
            None => (0, source.size),
        };
        let meter = StallMeter::new(policy.min_throughput, policy.throughput_window);
        let mut reader = RangeReader {
            client,
            source,
            whole: range.is_none(),
            start,
            len,
            yielded: 0,
            body: None,
            stalled: None,
            done: false,
            metadata: ObjectMetadata::default(),
            policy,
            counters,
            attempts: 0,
            meter,
        };
        match reader.get().await {
            Ok(()) => Ok(reader),
            Err(Failure::Fatal(error)) => Err(error),
            Err(Failure::Retry(cause)) => reader.resume(cause).await.map(|()| reader),
        }
    }

    /// The object's metadata from the first response (HTTP headers, `x-amz-meta-*`).
    pub fn metadata(&self) -> ObjectMetadata {
        self.metadata.clone()
    }

    /// Bytes this reader will yield in total.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the reader yields nothing (an empty object).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next chunk of the body; `Ok(None)` once exactly [`RangeReader::len`]
    /// bytes were yielded. A body that fails, ends short or stalls is resumed
    /// from the next unread byte with a new pinned GET, up to the policy's
    /// attempts with backoff, each resume counted and logged. More bytes than
    /// announced, a wrong `Content-Range`, or a failure after the last byte
    /// (a whole-object checksum mismatch) is an error.
    ///
    /// # Cancellation
    ///
    /// Safe: no yielded byte is lost; the next call resumes with a new GET.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, CopyError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(cause) = self.stalled.take()
                && self.yielded < self.len
            {
                self.body = None;
                self.resume(cause).await?;
            }
            let Some(body) = self.body.as_mut() else {
                self.resume(Box::new(BodyFault::Interrupted)).await?;
                continue;
            };
            let cause: SdkFailure = match self.meter.wait(body.next()).await {
                Ok((Some(Ok(chunk)), verdict)) => {
                    let got = self.yielded + chunk.len() as u64;
                    if got > self.len {
                        return Err(self.truncated(got));
                    }
                    self.yielded = got;
                    if let Err(stall) = verdict {
                        self.stalled = Some(Box::new(stall));
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    return Ok(Some(chunk));
                }
                Ok((None, _)) if self.yielded == self.len => {
                    self.done = true;
                    self.body = None;
                    return Ok(None);
                }
                Ok((None, _)) => Box::new(BodyFault::EndedShort {
                    got: self.yielded,
                    expected: self.len,
                }),
                Ok((Some(Err(error)), _)) if self.yielded == self.len => {
                    return Err(CopyError::Source {
                        bucket: self.source.spec.bucket.clone(),
                        key: self.source.spec.key.clone(),
                        class: FailureClass::Transient,
                        source: Box::new(error),
                    });
                }
                Ok((Some(Err(error)), _)) => Box::new(error),
                Err(stall) => Box::new(stall),
            };
            self.body = None;
            self.resume(cause).await?;
        }
    }

    /// Re-sends the GET from the next unread byte until one answers, the
    /// attempts run out (`ReadExhausted` with the last cause), or a failure is final.
    async fn resume(&mut self, mut cause: SdkFailure) -> Result<(), CopyError> {
        loop {
            if self.attempts >= self.policy.max_attempts.max(1) {
                return Err(CopyError::ReadExhausted {
                    bucket: self.source.spec.bucket.clone(),
                    key: self.source.spec.key.clone(),
                    offset: self.offset(),
                    attempts: self.attempts,
                    source: cause,
                });
            }
            tracing::warn!(
                bucket = %self.source.spec.bucket,
                key = %self.source.spec.key,
                offset = self.offset(),
                attempt = self.attempts + 1,
                cause = %DisplayErrorContext(cause.as_ref()),
                "resuming source read"
            );
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(&self.policy, self.attempts, jitter())).await;
            match self.get().await {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry(next)) => cause = next,
            }
        }
    }

    /// The next unread byte of the object.
    fn offset(&self) -> u64 {
        self.start + self.yielded
    }

    /// Sends one pinned GET for the unread bytes and checks what it announces.
    async fn get(&mut self) -> Result<(), Failure> {
        self.attempts += 1;
        let spec = &self.source.spec;
        let mut get = self.client.get_object().bucket(&spec.bucket).key(&spec.key);
        get = match &self.source.pin {
            Pin::Version(version) => get.version_id(version),
            Pin::ETag(etag) => get.if_match(etag),
        };
        let first_whole = self.whole && self.yielded == 0;
        let end = (self.start + self.len).saturating_sub(1);
        get = if first_whole {
            get.checksum_mode(ChecksumMode::Enabled)
        } else {
            get.range(format!("bytes={}-{end}", self.offset()))
        };
        let output = get.send().await.map_err(|e| self.classify(e))?;
        if first_whole {
            let announced = output.content_length().and_then(|n| u64::try_from(n).ok());
            if let Some(got) = announced.filter(|n| *n != self.len) {
                return Err(Failure::Fatal(self.truncated(got)));
            }
        } else if !content_range::matches(
            output.content_range(),
            self.offset(),
            end,
            self.source.size,
        ) {
            return Err(Failure::Fatal(CopyError::WrongRange {
                bucket: spec.bucket.clone(),
                key: spec.key.clone(),
                asked: format!("bytes {}-{end}/{}", self.offset(), self.source.size),
                got: output.content_range().unwrap_or("none").to_owned(),
            }));
        }
        if self.yielded == 0 {
            self.metadata = metadata_of!(&output);
        }
        self.body = Some(output.body);
        self.meter.reset();
        Ok(())
    }

    /// Transient failures (no response, 5xx, 429) are retried; the rest are final.
    fn classify(&self, error: SdkError<GetObjectError>) -> Failure {
        let status = error.raw_response().map(|r| r.status().as_u16());
        match status {
            None | Some(429) | Some(500..) => Failure::Retry(Box::new(error)),
            Some(_) => Failure::Fatal(read_error(&self.source.spec, error)),
        }
    }

    fn truncated(&self, got: u64) -> CopyError {
        CopyError::SourceTruncated {
            bucket: self.source.spec.bucket.clone(),
            key: self.source.spec.key.clone(),
            expected: self.len,
            got,
        }
    }
}
