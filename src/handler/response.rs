//! The invocation's response document, and the error posted when records failed.

use super::record::{Outcome, RecordResult};
use crate::error_type::FunctionErrorType;
use crate::runtime::Diagnostic;
use serde::Serialize;

/// The error type when records failed for different reasons.
pub const MIXED_FAILURE_ERROR_TYPE: &str = FunctionErrorType::Failed.as_str();

/// Largest response document the function posts. Lambda refuses a response
/// over 6 MB (6,291,456 bytes); one MiB less leaves room for what is not
/// records (the summary, every `batchItemFailures` entry: 10,000 SQS
/// messages take about 600 KB) and the JSON around them.
pub const MAX_RESPONSE_BYTES: usize = 5 * 1024 * 1024;

/// Lambda's limit on a response (and an error) payload: 6 MB.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

const _: () = assert!(
    // 10,000 SQS messages' batchItemFailures take about 600 KB.
    MAX_RESPONSE_BYTES + 600 * 1000 < LAMBDA_PAYLOAD_LIMIT,
    "the report must leave room for the summary and every batchItemFailures entry"
);

/// Failed records named one by one in the error posted for a notification
/// or EventBridge event; the rest are counted. Lambda's error payload has the
/// same 6 MB limit, and the log line of the report names every one anyway.
pub const MAX_FAILURES_NAMED: usize = 20;

/// Counts per outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records copied.
    pub copied: usize,
    /// Records skipped.
    pub skipped: usize,
    /// Records superseded.
    pub superseded: usize,
    /// Records handed to the work queue, where their copies continue.
    #[serde(skip_serializing_if = "is_zero")]
    pub continuing: usize,
    /// Records whose copies fanned out into segments.
    #[serde(skip_serializing_if = "is_zero")]
    pub split: usize,
    /// Fan-out segments whose parts are in S3, not completing the copy.
    #[serde(skip_serializing_if = "is_zero")]
    pub segments: usize,
    /// Records failed.
    pub failed: usize,
}

/// An SQS message to return to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    /// The message id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// What the function answers an invocation with: its own report, or, for
/// S3 Batch Operations, exactly the document Batch Operations reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FunctionResponse {
    /// S3 notifications, SQS batches, EventBridge events, `s3:TestEvent`.
    Report(InvocationReport),
    /// S3 Batch Operations.
    Batch(super::batch::BatchResponse),
    /// A bench event: the bench's report, as `bootstrap bench --json` prints it.
    Bench(Box<crate::bench::BenchReport>),
}

impl FunctionResponse {
    /// True when some of the work must be tried again or failed for good:
    /// SQS messages returned to the queue, Batch Operations tasks not `Succeeded`.
    pub fn has_failures(&self) -> bool {
        match self {
            FunctionResponse::Report(report) => report
                .batch_item_failures
                .as_ref()
                .is_some_and(|f| !f.is_empty()),
            FunctionResponse::Batch(batch) => batch
                .results
                .iter()
                .any(|r| r.result_code != super::batch::ResultCode::Succeeded),
            FunctionResponse::Bench(report) => report.interrupted.is_some(),
        }
    }
}

/// The response of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationReport {
    /// One entry per record.
    pub records: Vec<RecordResult>,
    /// Counts per outcome.
    pub summary: Summary,
    /// SQS partial-batch response: only these messages return to the queue.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// Set for `s3:TestEvent`.
    #[serde(rename = "testEvent", skip_serializing_if = "std::ops::Not::not")]
    pub test_event: bool,
    /// Records left out of `records` so the response fits Lambda's limit
    /// (the summary still counts them; the function's log has them all).
    #[serde(rename = "recordsOmitted", skip_serializing_if = "is_zero")]
    pub records_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The length of `value` as JSON.
fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

impl InvocationReport {
    /// A report of `records`.
    pub fn new(records: Vec<RecordResult>) -> InvocationReport {
        let mut summary = Summary::default();
        for record in &records {
            match record.outcome {
                Outcome::Copied => summary.copied += 1,
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Superseded => summary.superseded += 1,
                Outcome::Continuing => summary.continuing += 1,
                Outcome::Split => summary.split += 1,
                Outcome::Segment => summary.segments += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        InvocationReport {
            records,
            summary,
            batch_item_failures: None,
            test_event: false,
            records_omitted: 0,
        }
    }

    /// The report cut to fit `max` bytes as JSON: records are kept in order
    /// while they fit, the rest counted in `recordsOmitted`; the summary and
    /// every `batchItemFailures` entry (what Lambda reads) are always kept.
    pub fn fit(mut self, max: usize) -> InvocationReport {
        if json_len(&self) <= max {
            return self;
        }
        let records = std::mem::take(&mut self.records);
        // Room for the largest `recordsOmitted` value.
        self.records_omitted = records.len();
        let mut used = json_len(&self);
        let mut kept = Vec::new();
        for record in records {
            // A comma before every record but the first.
            let len = json_len(&record) + usize::from(!kept.is_empty());
            if used + len > max {
                break;
            }
            used += len;
            kept.push(record);
        }
        self.records_omitted -= kept.len();
        self.records = kept;
        self
    }

    /// The error to post when any record failed: its type is the failures'
    /// common type (or `Copy.Failed`), its message names each failed key.
    pub fn failure(&self) -> Option<Diagnostic> {
        let failed: Vec<&RecordResult> = self
            .records
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .collect();
        let first = failed.first()?;
        let error_type = match &first.error_type {
            Some(kind) if failed.iter().all(|r| r.error_type.as_ref() == Some(kind)) => {
                kind.clone()
            }
            _ => MIXED_FAILURE_ERROR_TYPE.to_owned(),
        };
        let mut details: Vec<String> = failed
            .iter()
            .take(MAX_FAILURES_NAMED)
            .map(|r| {
                format!(
                    "s3://{}/{}: {}",
                    r.source.bucket,
                    r.source.key,
                    r.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        if failed.len() > MAX_FAILURES_NAMED {
            details.push(format!(
                "and {} more (the report in the log names each)",
                failed.len() - MAX_FAILURES_NAMED
            ));
        }
        let message = format!(
            "{} of {} records failed: {}",
            failed.len(),
            self.records.len(),
            details.join("; ")
        );
        Some(Diagnostic::new(error_type, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::FailureClass;

    fn failures(n: usize) -> Vec<RecordResult> {
        (0..n)
            .map(|i| {
                RecordResult::failed(
                    "source-bucket",
                    &format!("{i:06}/{}", "k".repeat(900)),
                    "S3.NoSuchKey",
                    FailureClass::Permanent,
                    "source object is gone",
                )
            })
            .collect()
    }

    #[test]
    fn ten_thousand_failures_fit_with_every_batch_item_failure() {
        let mut report = InvocationReport::new(failures(10_000));
        report.batch_item_failures = Some(
            (0..10_000)
                .map(|i| BatchItemFailure {
                    item_identifier: format!("059f36b4-87a3-44ab-83d2-{i:012}"),
                })
                .collect(),
        );
        assert!(
            json_len(&report) > 6 * 1024 * 1024,
            "the test needs a big report"
        );
        let fitted = report.fit(MAX_RESPONSE_BYTES);
        assert!(json_len(&fitted) <= MAX_RESPONSE_BYTES);
        assert_eq!(
            fitted.batch_item_failures.as_ref().map(Vec::len),
            Some(10_000)
        );
        assert_eq!(fitted.summary.failed, 10_000);
        assert!(!fitted.records.is_empty());
        assert_eq!(fitted.records.len() + fitted.records_omitted, 10_000);
        assert_eq!(
            fitted.records[0].source.key,
            format!("000000/{}", "k".repeat(900))
        );
    }

    #[test]
    fn a_small_report_is_left_whole_and_the_error_names_at_most_twenty() {
        let report = InvocationReport::new(failures(30)).fit(MAX_RESPONSE_BYTES);
        assert_eq!((report.records.len(), report.records_omitted), (30, 0));
        let diagnostic = report.failure().expect("failures");
        assert_eq!(diagnostic.error_type, "S3.NoSuchKey");
        assert_eq!(
            diagnostic.error_message.matches("s3://").count(),
            MAX_FAILURES_NAMED
        );
        assert!(diagnostic.error_message.contains("and 10 more"));
    }
}
