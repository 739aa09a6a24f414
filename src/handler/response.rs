//! The invocation's response document, and the error posted when records failed.

use super::record::{Outcome, RecordResult};
use crate::runtime::Diagnostic;
use serde::Serialize;

/// The error type when records failed for different reasons.
pub const MIXED_FAILURE_ERROR_TYPE: &str = "Copy.Failed";

/// Counts per outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records copied.
    pub copied: usize,
    /// Records skipped.
    pub skipped: usize,
    /// Records superseded.
    pub superseded: usize,
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
                Outcome::Failed => summary.failed += 1,
            }
        }
        InvocationReport {
            records,
            summary,
            batch_item_failures: None,
            test_event: false,
        }
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
        let details: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "s3://{}/{}: {}",
                    r.source.bucket,
                    r.source.key,
                    r.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        let message = format!(
            "{} of {} records failed: {}",
            failed.len(),
            self.records.len(),
            details.join("; ")
        );
        Some(Diagnostic::new(error_type, message))
    }
}
