//! A bench's result: one row per case (medians over rounds, percentiles over requests, cost), what it could not measure, and what it recommends.

use super::case::{Case, MIN_P99_SAMPLES, Operation, SMALL_OBJECT_BYTES};
use super::latency::Recorded;
use super::price::Prices;
use super::recommend::Recommendation;
use super::target::Removed;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The version of the JSON document (`--json`, the function's response,
/// what `--merge` reads).
pub const REPORT_VERSION: u32 = 1;

/// One measured transfer of one round.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What was measured.
    pub case: Case,
    /// Bytes moved (copied, for a server-side copy).
    pub bytes: u64,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// Its requests.
    pub recorded: Recorded,
}

impl Sample {
    /// MB/s (10^6 bytes).
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Time-to-first-byte percentiles of a row's timed request, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ttfb {
    /// How many requests were timed.
    pub samples: usize,
    /// Median (none without samples).
    pub p50: Option<f64>,
    /// 90th percentile (none without samples).
    pub p90: Option<f64>,
    /// 99th percentile, with at least [`MIN_P99_SAMPLES`] samples.
    pub p99: Option<f64>,
}

/// One case's result over the rounds it was measured in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// What was measured.
    pub operation: Operation,
    /// Bytes of each object moved.
    pub object_bytes: u64,
    /// Part size in bytes (0 for small objects).
    pub part_bytes: u64,
    /// Requests or parts in flight.
    pub concurrency: usize,
    /// Rounds measured.
    pub rounds: usize,
    /// MB/s (10^6 bytes), the median over rounds.
    pub mb_per_second: f64,
    /// Requests per second: all of the case's requests over all its rounds' time.
    pub requests_per_second: f64,
    /// Of [`Operation::timed_requests`], over every round.
    pub ttfb_ms: Ttfb,
    /// USD per GB moved, over all rounds: requests at the run's prices and
    /// the function's GB-seconds for the time it took.
    pub cost_per_gb_usd: f64,
}

impl Row {
    /// The case this row measured.
    pub fn case(&self) -> Case {
        Case {
            operation: self.operation,
            part_size: self.part_bytes,
            concurrency: self.concurrency,
        }
    }
}

/// A case a run did not measure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotMeasured {
    /// The case, as tables name it.
    pub case: String,
    /// Why (out of time, interrupted).
    pub reason: String,
}

/// Everything one bench run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// What charts and merged tables call this run (by default the memory size).
    pub label: String,
    /// Where it measured.
    pub target: String,
    /// The run's id (its keys were under the target's run directory of this id).
    pub run: String,
    /// The function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub memory_mb: u64,
    /// Bytes of the object each large transfer moved.
    pub object_bytes: u64,
    /// What the reads and copies read: the bench's own object, or `--source`.
    pub source: String,
    /// The time it was given, in seconds.
    pub budget_seconds: f64,
    /// The time it took, cleanup included, in seconds.
    pub elapsed_seconds: f64,
    /// Rounds in which at least one case was measured.
    pub rounds: usize,
    /// The prices rows are costed at.
    pub prices: Prices,
    /// One per measured case.
    pub rows: Vec<Row>,
    /// Cases the last round did not measure, and why (out of time, cut off).
    pub not_measured: Vec<NotMeasured>,
    /// The settings it recommends for this memory size.
    pub recommendations: Vec<Recommendation>,
    /// Set when a signal or the caller's cancellation stopped the run.
    pub interrupted: Option<String>,
    /// What the run removed of its own writes at the end.
    pub cleaned_up: Removed,
    /// What it removed of earlier runs' leftovers first.
    pub leftovers_removed: Removed,
    /// The chart, when asked for inline (a bench event's `"svg": true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svg: Option<String>,
}

impl BenchReport {
    /// The best row of `operation` by MB/s.
    pub fn best(&self, operation: Operation) -> Option<&Row> {
        best(&self.rows, operation)
    }
}

/// The best row of `operation` in `rows` by MB/s.
pub fn best(rows: &[Row], operation: Operation) -> Option<&Row> {
    rows.iter()
        .filter(|row| row.operation == operation)
        .max_by(|a, b| a.mb_per_second.total_cmp(&b.mb_per_second))
}

/// The `p`th percentile (nearest rank) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (the mean of the middle two of an even count).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn round_to(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// One row per case from `samples` (every round's), in the order cases
/// were first measured.
pub fn rows(samples: &[Sample], prices: &Prices, memory_mb: u64) -> Vec<Row> {
    let mut cases: Vec<Case> = Vec::new();
    for sample in samples {
        if !cases.contains(&sample.case) {
            cases.push(sample.case);
        }
    }
    cases.sort_by_key(|case| (case.operation, case.part_size, case.concurrency));
    cases
        .into_iter()
        .map(|case| {
            let of_case: Vec<&Sample> = samples.iter().filter(|s| s.case == case).collect();
            let mut rates: Vec<f64> = of_case.iter().map(|s| s.mb_per_second()).collect();
            let elapsed: Duration = of_case.iter().map(|s| s.elapsed).sum();
            let bytes: u64 = of_case.iter().map(|s| s.bytes).sum();
            let mut requests = std::collections::BTreeMap::new();
            let mut ttfb: Vec<f64> = Vec::new();
            for sample in &of_case {
                for (name, count) in &sample.recorded.requests {
                    *requests.entry(*name).or_insert(0) += count;
                }
                for name in case.operation.timed_requests() {
                    if let Some(times) = sample.recorded.ttfb.get(name) {
                        ttfb.extend(times.iter().map(|t| t.as_secs_f64() * 1000.0));
                    }
                }
            }
            ttfb.sort_by(f64::total_cmp);
            let total_requests: u64 = requests.values().sum();
            Row {
                operation: case.operation,
                object_bytes: if case.operation.is_small() {
                    SMALL_OBJECT_BYTES as u64
                } else {
                    of_case[0].bytes
                },
                part_bytes: case.part_size,
                concurrency: case.concurrency,
                rounds: of_case.len(),
                mb_per_second: round_to(median(&mut rates), 1),
                requests_per_second: round_to(
                    total_requests as f64 / elapsed.as_secs_f64().max(1e-6),
                    1,
                ),
                ttfb_ms: Ttfb {
                    samples: ttfb.len(),
                    p50: (!ttfb.is_empty()).then(|| round_to(percentile(&ttfb, 50.0), 1)),
                    p90: (!ttfb.is_empty()).then(|| round_to(percentile(&ttfb, 90.0), 1)),
                    p99: (ttfb.len() >= MIN_P99_SAMPLES)
                        .then(|| round_to(percentile(&ttfb, 99.0), 1)),
                },
                cost_per_gb_usd: round_to(
                    prices.cost_per_gb(&requests, elapsed, memory_mb, bytes),
                    6,
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 100.0);
        assert_eq!(percentile(&values, 90.0), 180.0);
        assert_eq!(percentile(&values, 99.0), 198.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn a_row_takes_the_median_rate_and_shows_p99_only_with_enough_samples() {
        let case = Case {
            operation: Operation::Get,
            part_size: 8 << 20,
            concurrency: 4,
        };
        let sample = |seconds: u64, requests: usize| Sample {
            case,
            bytes: 100_000_000,
            elapsed: Duration::from_secs(seconds),
            recorded: Recorded {
                ttfb: BTreeMap::from([(
                    "GetObject",
                    (0..requests)
                        .map(|i| Duration::from_millis(i as u64 + 1))
                        .collect(),
                )]),
                requests: BTreeMap::from([("GetObject", requests as u64)]),
            },
        };
        let few = rows(
            &[sample(1, 10), sample(2, 10), sample(4, 10)],
            &Prices::default(),
            1024,
        );
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].mb_per_second, 50.0);
        assert_eq!(few[0].rounds, 3);
        assert_eq!(few[0].ttfb_ms.samples, 30);
        assert_eq!(few[0].ttfb_ms.p99, None);
        assert_eq!(few[0].requests_per_second, 4.3);
        let many = rows(&[sample(1, 120)], &Prices::default(), 1024);
        assert_eq!(many[0].ttfb_ms.p99, Some(119.0));
    }
}
