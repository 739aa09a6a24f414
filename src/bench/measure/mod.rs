//! Runs one case: the transfer an operation stands for, timed from its first request to its last answer, its requests recorded.

mod copy;
mod get;
mod put;
mod small;

use super::case::{Case, Operation};
use super::error::BenchError;
use super::latency::Recorder;
use super::report::Sample;
use crate::copy::{CopyError, CopySettings};
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

pub(crate) use put::upload_from_memory;
pub(crate) use small::put_small;

/// The object reads and copies read.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its size: every large transfer moves this many bytes.
    pub size: u64,
}

/// What the bench uploads.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Uploaded bytes are slices of it (as long as the largest part).
    pub block: Bytes,
    /// User metadata on every object written: the run's marker.
    pub marker: HashMap<String, String>,
    /// The function's destination options (storage class, encryption…),
    /// as its copies write with.
    pub options: crate::copy::UploadOptions,
}

/// What every case of one run shares.
#[derive(Debug)]
pub struct Bench {
    /// The recorded client: the measured requests go through it.
    pub client: Client,
    /// What it recorded.
    pub recorder: Recorder,
    /// The same client unrecorded: setup and cleanup.
    pub plain: Client,
    /// The bench's bucket.
    pub bucket: String,
    /// Every key of the run starts with this.
    pub run_prefix: String,
    /// What uploads write.
    pub payload: Payload,
    /// What reads and copies read.
    pub source: Source,
    /// The small objects' keys (as many as the most small requests in flight).
    pub small_keys: Vec<String>,
    /// The function's copy settings, each case's overrides applied on top.
    pub settings: CopySettings,
}

/// Why a case has no sample.
#[derive(Debug)]
pub enum Failure {
    /// Its token fired (the budget's end, a signal).
    Cancelled,
    /// A request failed.
    Failed(BenchError),
}

impl Failure {
    /// A copy engine error of `case`: its cancellation, or a failure.
    fn of_copy(case: &Case, error: CopyError) -> Failure {
        match error {
            CopyError::Cancelled { .. } => Failure::Cancelled,
            error => Failure::Failed(BenchError::Case {
                case: case.to_string(),
                cause: crate::runtime::error_chain(&error),
            }),
        }
    }

    /// An S3 request error of `case`.
    fn of_request(case: &Case, error: &(dyn std::error::Error + 'static)) -> Failure {
        Failure::Failed(BenchError::Case {
            case: case.to_string(),
            cause: crate::runtime::error_chain(error),
        })
    }
}

/// Runs `request(item)` for every item, `concurrency` at a time, and sums
/// what they return; `cancel` ends it with `Cancelled`.
async fn concurrently<I, F, Fut>(
    items: I,
    concurrency: usize,
    cancel: &CancellationToken,
    request: F,
) -> Result<u64, Failure>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<u64, Failure>>,
{
    let mut requests = futures_util::stream::iter(items)
        .map(request)
        .buffer_unordered(concurrency);
    let mut total = 0;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Failure::Cancelled),
            next = requests.next() => match next {
                Some(bytes) => total += bytes?,
                None => return Ok(total),
            },
        }
    }
}

/// Runs `case` once; `cancel` ends it early (its upload aborted; a write S3
/// already carries out may still land, which the run's cleanup looks for).
///
/// # Cancellation
///
/// Every request is raced against `cancel`; an upload is aborted through
/// the copy engine's one abort path.
pub async fn run(bench: &Bench, case: Case, cancel: &CancellationToken) -> Result<Sample, Failure> {
    bench.recorder.take();
    let started = std::time::Instant::now();
    let bytes = match case.operation {
        Operation::Get => get::ranged_reads(bench, &case, cancel).await?,
        Operation::Put => put::multipart(bench, &case, cancel).await?,
        Operation::Stream | Operation::Server => copy::copy(bench, &case, cancel).await?,
        Operation::SmallGet => small::gets(bench, &case, cancel).await?,
        Operation::SmallPut => small::puts(bench, &case, cancel).await?,
    };
    let elapsed = started.elapsed();
    let recorded = bench.recorder.take();
    if let Some(key) = written_key(bench, case.operation) {
        bench
            .plain
            .delete_object()
            .bucket(&bench.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| Failure::of_request(&case, &e))?;
    }
    Ok(Sample {
        case,
        bytes,
        elapsed,
        recorded,
    })
}

/// The object a case of `operation` writes, deleted once it is measured
/// (the small objects are overwritten in place, and removed at the end).
fn written_key(bench: &Bench, operation: Operation) -> Option<String> {
    match operation {
        Operation::Put => Some(format!("{}put", bench.run_prefix)),
        Operation::Stream | Operation::Server => Some(format!("{}copy", bench.run_prefix)),
        Operation::Get | Operation::SmallGet | Operation::SmallPut => None,
    }
}
