//! `bootstrap bench`: what this function's network share, part sizes and concurrency give against a bucket of the user's, measured in one interleaved run that removes everything it wrote.
//!
//! One implementation, reached two ways: the command line
//! (`bootstrap bench s3://BUCKET/PREFIX/`, [`crate::cli`]) and a bench event
//! sent to the deployed function (`{"bench": {...}}`, allowed by
//! `BENCH_PREFIX`; [`event`]). Rounds run every case of every operation
//! ([`case`]) in turn until the budget ends; rows take medians over rounds
//! ([`report`]); [`recommend`] names the settings; [`render`] draws them.

pub mod case;
pub mod error;
pub mod latency;
pub mod measure;
pub mod price;
pub mod recommend;
pub mod render;
pub mod report;
pub mod request;
pub mod target;

pub use error::BenchError;
pub use report::BenchReport;
pub use request::{BenchOptions, BenchRequest};
pub use target::BenchTarget;

use crate::config::Config;
use crate::copy::CopySettings;
use crate::copy::part_size::MIB;
use aws_sdk_s3::Client;
use bytes::Bytes;
use case::{Case, SMALL_CONCURRENCY};
use futures_util::StreamExt;
use measure::{Bench, Failure, Payload, Source};
use report::{NotMeasured, Sample};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Kept at the end of a budget for the cleanup: the cut-off case's abort
/// (at most the engine's `CLEANUP_BUDGET`), the wait for a late write, then
/// [`REMOVAL_ALLOWANCE`].
pub const CLEANUP_RESERVE: Duration = Duration::from_secs(5);

/// Listing and removing a run's few dozen objects (twice after a cut-off
/// case) and the listing that checks: a few round trips of tens of
/// milliseconds on S3.
pub const REMOVAL_ALLOWANCE: Duration = Duration::from_secs(1);

const _: () = assert!(
    crate::copy::upload::multipart::CLEANUP_BUDGET
        .saturating_add(target::LATE_WRITE_WAIT)
        .saturating_add(REMOVAL_ALLOWANCE)
        .as_millis()
        <= CLEANUP_RESERVE.as_millis()
);

/// The longest the cleanup may take before the run reports what it left.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A case starts only if its estimated time, padded by this factor, ends
/// before the budget does (a case cut off by the budget is lost work).
pub const ESTIMATE_PADDING: f64 = 1.25;

/// Part size of the source object the bench writes for itself.
const SOURCE_PART: u64 = 16 * MIB;

/// Parts in flight while writing the source.
const SOURCE_CONCURRENCY: usize = 8;

const _: () = assert!(SOURCE_PART <= case::PUT_PART_MIB[2] * MIB);
const _: () = assert!(case::SMALL_OBJECT_BYTES as u64 <= case::PUT_PART_MIB[2] * MIB);

/// The uploaded bytes: pseudo-random (xorshift), so nothing on the way can
/// compress them, as long as the largest part swept.
fn block() -> Bytes {
    let len = (case::PUT_PART_MIB[2] * MIB) as usize;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Bytes::from(bytes)
}

/// The bench event's request: refused unless `BENCH_PREFIX` allows its target.
pub fn event_request(
    value: serde_json::Value,
    config: &Config,
) -> Result<BenchRequest, BenchError> {
    let allowed = config.bench.as_ref().ok_or(BenchError::Disabled)?;
    let options: BenchOptions = serde_json::from_value(value)
        .map_err(|e| BenchError::InvalidRequest(format!("the bench event: {e}")))?;
    let request = options.into_request(Some(allowed), config.memory_mib)?;
    if !allowed.contains(&request.target) {
        return Err(BenchError::NotAllowed {
            asked: request.target.to_string(),
            allowed: allowed.to_string(),
        });
    }
    Ok(request)
}

/// Where a run is.
#[derive(Debug, Default)]
struct Progress {
    samples: Vec<Sample>,
    /// Why each case was last not run.
    skipped: BTreeMap<Case, String>,
    /// Rounds in which at least one case was measured.
    rounds: usize,
    /// The cases the last round begun measured: none when nothing fitted
    /// in what was left of the budget.
    last_round: Vec<Case>,
    /// A case was cut off: a write it sent may still land.
    cut_off: bool,
    interrupted: Option<String>,
}

impl Progress {
    /// The estimated time of `case`: at its slowest rate so far, else its
    /// operation's slowest (for small objects, their longest time), or
    /// `None` before one is known.
    fn estimate(&self, case: &Case, object_size: u64) -> Option<Duration> {
        let of_operation = || {
            self.samples
                .iter()
                .filter(|s| s.case.operation == case.operation)
        };
        if case.operation.is_small() {
            return of_operation().map(|s| s.elapsed).max();
        }
        let slowest = |samples: &mut dyn Iterator<Item = &Sample>| {
            samples
                .map(|s| s.bytes as f64 / s.elapsed.as_secs_f64().max(1e-6))
                .reduce(f64::min)
        };
        let rate = slowest(&mut of_operation().filter(|s| s.case == *case))
            .or_else(|| slowest(&mut of_operation()))?;
        Some(Duration::from_secs_f64(object_size as f64 / rate.max(1.0)))
    }
}

/// When a bench measures until and cleans up by.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// No case starts, or runs, past this.
    pub ends_at: Instant,
    /// The cleanup ends by this (the sandbox's hard stop), or the run
    /// reports `Bench.CleanupIncomplete`.
    pub cleanup_by: Instant,
}

impl Budget {
    /// `length` from now, the cleanup given [`CLEANUP_TIMEOUT`] after it.
    pub fn from_now(length: Duration) -> Budget {
        let ends_at = Instant::now() + length;
        Budget {
            ends_at,
            cleanup_by: ends_at + CLEANUP_TIMEOUT,
        }
    }
}

/// Runs `request` with `client` (the function's `settings` under each
/// copy, `memory_mb` for costs), measuring until the budget ends, then
/// removes everything it wrote.
///
/// # Cancellation
///
/// When `cancel` fires (a signal, the invocation's deadline) the case
/// running is cut off (its upload aborted), the rest are not run, and the
/// cleanup still runs, within `budget.cleanup_by`; the report says it was
/// interrupted.
pub async fn run(
    client: &Client,
    settings: &CopySettings,
    memory_mb: u64,
    request: &BenchRequest,
    cancel: &CancellationToken,
    budget: Budget,
) -> Result<BenchReport, BenchError> {
    let started = Instant::now();
    let ends_at = budget.ends_at;
    // An invocation with less than the cleanup's reserve left: refused
    // before a request, rather than a write its cleanup has no time for.
    if ends_at <= started {
        return Err(BenchError::InvalidRequest(format!(
            "no time to measure: the budget ends before a case could start (the cleanup keeps the last {} s before the stop)",
            CLEANUP_RESERVE.as_secs()
        )));
    }
    let run = target::new_run_id(
        std::time::SystemTime::now() + budget.cleanup_by.saturating_duration_since(started),
    );
    // Checking the prefix (and removing old leftovers) is bounded too.
    let leftovers_removed =
        match tokio::time::timeout_at(ends_at, target::prepare(client, &request.target)).await {
            Ok(removed) => removed?,
            Err(_) => {
                return Err(BenchError::S3 {
                    what: format!(
                        "checking {} for objects a bench did not write",
                        request.target
                    ),
                    cause: "not done before the budget's end".to_owned(),
                });
            }
        };
    let recorder = latency::Recorder::default();
    let bucket = request.target.bucket.clone();
    let run_prefix = request.target.run_prefix(&run);
    let mut bench = Bench {
        client: recorder.client(client),
        recorder,
        plain: client.clone(),
        bucket: bucket.clone(),
        run_prefix: run_prefix.clone(),
        payload: Payload {
            block: block(),
            marker: HashMap::from([(target::MARKER.to_owned(), run.clone())]),
            options: settings.options.clone(),
        },
        source: Source {
            bucket: bucket.clone(),
            key: format!("{run_prefix}source"),
            size: request.object_size,
        },
        small_keys: (0..SMALL_CONCURRENCY[SMALL_CONCURRENCY.len() - 1])
            .map(|i| format!("{run_prefix}small-{i:02}"))
            .collect(),
        settings: settings.clone(),
    };
    // The budget's end cancels what runs then, like a signal, but is not one.
    let stop = cancel.child_token();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(ends_at).await;
            stop.cancel();
        })
    };
    let mut progress = Progress::default();
    let measured = measure_all(&mut bench, request, &stop, ends_at, &mut progress).await;
    timer.abort();
    if cancel.is_cancelled() {
        progress.interrupted = Some("cancelled (a signal or the invocation's deadline)".to_owned());
    }
    let cleanup = target::clean(client, &bucket, &run_prefix, progress.cut_off);
    let cleaned = match tokio::time::timeout_at(budget.cleanup_by, cleanup).await {
        Ok(cleaned) => cleaned,
        Err(_) => Err(BenchError::CleanupTimedOut {
            prefix: format!("s3://{bucket}/{run_prefix}"),
        }),
    };
    let cleaned_up = match (measured, cleaned) {
        (Ok(()), Ok(cleaned)) => cleaned,
        (Err(error), Ok(_)) => return Err(error),
        (measured, Err(cleanup)) => {
            if let Err(error) = measured {
                tracing::error!("bench: {}", crate::runtime::error_chain(&error));
            }
            return Err(cleanup);
        }
    };
    let rows = report::rows(&progress.samples, &request.prices, memory_mb);
    let plan = case::round(&request.operations);
    let not_measured = plan
        .iter()
        .filter(|case| !progress.last_round.contains(case))
        .map(|case| NotMeasured {
            case: case.to_string(),
            reason: progress
                .skipped
                .get(case)
                .cloned()
                .unwrap_or_else(|| "not reached".to_owned()),
        })
        .collect();
    let mut report = BenchReport {
        version: report::REPORT_VERSION,
        label: request.label.clone(),
        target: request.target.to_string(),
        run,
        memory_mb,
        object_bytes: bench.source.size,
        source: match &request.source {
            Some((bucket, key)) => format!("s3://{bucket}/{key}"),
            None => "written by the bench".to_owned(),
        },
        budget_seconds: ends_at
            .saturating_duration_since(started)
            .as_secs_f64()
            .round(),
        elapsed_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        rounds: progress.rounds,
        prices: request.prices.clone(),
        recommendations: recommend::recommend(&rows),
        rows,
        not_measured,
        interrupted: progress.interrupted,
        cleaned_up,
        leftovers_removed,
        svg: None,
    };
    if request.inline_svg {
        report.svg = Some(render::svg::render(std::slice::from_ref(&report)));
    }
    Ok(report)
}

/// Writes the source (unless one is given) and the small objects, then
/// runs rounds of every case until `max_rounds`, the budget or `stop`.
async fn measure_all(
    bench: &mut Bench,
    request: &BenchRequest,
    stop: &CancellationToken,
    ends_at: Instant,
    progress: &mut Progress,
) -> Result<(), BenchError> {
    match setup(bench, request, stop).await {
        Ok(()) => {}
        // Cut off while writing the source: nothing to measure.
        Err(Failure::Cancelled) => {
            progress.cut_off = true;
            return Ok(());
        }
        Err(Failure::Failed(error)) => return Err(error),
    }
    let plan = case::round(&request.operations);
    for round in 1..=request.max_rounds {
        let mut measured = Vec::new();
        for case in &plan {
            if stop.is_cancelled() {
                return Ok(());
            }
            if let Some(estimate) = progress.estimate(case, bench.source.size) {
                let needed = estimate.mul_f64(ESTIMATE_PADDING);
                if Instant::now() + needed > ends_at {
                    progress.skipped.insert(
                        *case,
                        format!("out of time (needs about {:.1} s)", needed.as_secs_f64()),
                    );
                    continue;
                }
            }
            match measure::run(bench, *case, stop).await {
                Ok(sample) => {
                    tracing::info!(
                        "bench: round {round}: {case}: {:.1} MB/s in {:.2} s, {} requests",
                        sample.mb_per_second(),
                        sample.elapsed.as_secs_f64(),
                        sample.recorded.total_requests()
                    );
                    progress.samples.push(sample);
                    measured.push(*case);
                    progress.rounds = round;
                    progress.last_round = measured.clone();
                }
                Err(Failure::Cancelled) => {
                    progress.skipped.insert(
                        *case,
                        "cut off (the end of the budget, or a signal)".to_owned(),
                    );
                    progress.cut_off = true;
                    return Ok(());
                }
                Err(Failure::Failed(error)) => return Err(error),
            }
        }
        if measured.is_empty() {
            // Nothing fitted: this round is the last, and the report says
            // what it could not measure, rather than that the round before
            // it measured everything.
            progress.last_round.clear();
            break;
        }
    }
    Ok(())
}

/// The source (written, or `--source` read, unless only small objects are
/// measured) and the small objects (when they are).
async fn setup(
    bench: &mut Bench,
    request: &BenchRequest,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let failed = |what: String, error: &(dyn std::error::Error + 'static)| {
        Failure::Failed(BenchError::s3(what, error))
    };
    let reads_source = request.operations.iter().any(|o| !o.is_small());
    match &request.source {
        _ if !reads_source => {}
        Some((bucket, key)) => {
            let head = bench
                .plain
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| failed(format!("reading s3://{bucket}/{key}"), &e))?;
            let size = head.content_length().unwrap_or(0).max(0) as u64;
            if !(request::MIN_OBJECT_MIB * MIB..=request::MAX_OBJECT_MIB * MIB).contains(&size) {
                return Err(Failure::Failed(BenchError::InvalidRequest(format!(
                    "source s3://{bucket}/{key} has {size} bytes: a bench reads and copies all of it, so it must hold {} to {} MiB",
                    request::MIN_OBJECT_MIB,
                    request::MAX_OBJECT_MIB
                ))));
            }
            bench.source = Source {
                bucket: bucket.clone(),
                key: key.clone(),
                size,
            };
        }
        None => {
            let destination = crate::copy::Destination {
                bucket: bench.source.bucket.clone(),
                key: bench.source.key.clone(),
            };
            measure::upload_from_memory(
                &bench.plain,
                &destination,
                &bench.payload,
                bench.source.size,
                SOURCE_PART,
                SOURCE_CONCURRENCY,
                cancel,
            )
            .await
            .map_err(|error| match error {
                crate::copy::CopyError::Cancelled { .. } => Failure::Cancelled,
                error => failed(
                    format!(
                        "writing the bench's source s3://{}/{}",
                        destination.bucket, destination.key
                    ),
                    &error,
                ),
            })?;
        }
    }
    if request.operations.iter().any(|o| o.is_small()) {
        let bench = &*bench;
        let mut puts = futures_util::stream::iter(bench.small_keys.clone())
            .map(|key| async move {
                measure::put_small(bench, &bench.plain, &key)
                    .await
                    .map_err(|e| failed(format!("writing s3://{}/{key}", bench.bucket), &e))
            })
            .buffer_unordered(SMALL_CONCURRENCY[SMALL_CONCURRENCY.len() - 1]);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Failure::Cancelled),
                put = puts.next() => match put {
                    Some(put) => put?,
                    None => break,
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose requests could only fail: nothing listens on port 9.
    fn unreachable() -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .build();
        Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_budget_already_over_is_refused_before_any_request() {
        let target = BenchTarget::parse("s3://bucket/bench/").expect("a target");
        let request = BenchOptions::default()
            .into_request(Some(&target), 512)
            .expect("a request");
        let now = Instant::now();
        let budget = Budget {
            ends_at: now,
            cleanup_by: now,
        };
        let error = run(
            &unreachable(),
            &CopySettings::default(),
            512,
            &request,
            &CancellationToken::new(),
            budget,
        )
        .await
        .expect_err("no time");
        assert!(
            matches!(&error, BenchError::InvalidRequest(message) if message.contains("no time to measure")),
            "{error}"
        );
    }
}
