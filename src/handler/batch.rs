//! S3 Batch Operations: a job's `userArguments` checked against the allow-lists, one result per task.

use super::handoff::Onward;
use super::record::{Outcome, RecordContext, RecordResult};
use super::response::InvocationReport;
use super::run_items;
use crate::config::Config;
use crate::copy::{CopyErrorType, CopyMode, FailureClass};
use crate::error_type::FunctionErrorType;
use crate::event::{BatchJob, Item};
use aws_sdk_s3::types::StorageClass;
use serde::Serialize;
use serde_json::{Map, Value};

/// What Batch Operations does with a task whose key is missing: a missing
/// key never appears later by retrying, so the job should not retry it.
pub const TREAT_MISSING_KEYS_AS: &str = "PermanentFailure";

/// Longest `resultString`: Batch Operations writes it into the completion
/// report, one CSV row per task, so it names the destination or the error
/// in a line, not the whole error chain (the function's log has that).
pub const MAX_RESULT_STRING_BYTES: usize = 512;

/// The stable error type of a `userArguments` entry the operator did not allow.
pub const ARGUMENT_ERROR_TYPE: &str = FunctionErrorType::ArgumentNotAllowed.as_str();

/// The `userArguments` keys a job may set, with the variable whose value
/// each overrides.
pub const USER_ARGUMENTS: [(&str, &str); 4] = [
    ("dstBucket", "DST_BUCKET"),
    ("dstPrefix", "DST_PREFIX"),
    ("transform", "TRANSFORM"),
    ("storageClass", "STORAGE_CLASS"),
];

/// A task's result code, as Batch Operations reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultCode {
    /// Copied (or nothing to do).
    Succeeded,
    /// Batch Operations retries the task.
    TemporaryFailure,
    /// Batch Operations records the failure and does not retry.
    PermanentFailure,
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The task's id, echoed.
    pub task_id: String,
    /// The outcome.
    pub result_code: ResultCode,
    /// The destination, or the error type and message, shortened.
    pub result_string: String,
}

/// The response Batch Operations reads: the invocation's ids echoed, one result per task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// Echoed from the invocation.
    pub invocation_schema_version: String,
    /// [`TREAT_MISSING_KEYS_AS`].
    pub treat_missing_keys_as: &'static str,
    /// Echoed from the invocation.
    pub invocation_id: String,
    /// One per task, in order.
    pub results: Vec<TaskResult>,
}

/// The configuration of a job whose `userArguments` override destination,
/// prefix, transform or storage class: each value must be the configured one
/// or on its `ALLOWED_*` list; any other key or value is refused, naming it.
pub fn job_config(config: &Config, arguments: &Map<String, Value>) -> Result<Config, String> {
    let mut job = config.clone();
    for (name, value) in arguments {
        let Some(value) = value.as_str() else {
            return Err(format!(
                "userArguments.{name} must be a string, got {value}"
            ));
        };
        let refused =
            |list: &str| format!("userArguments.{name} {value:?} is not allowed: add it to {list}");
        match name.as_str() {
            "dstBucket" => {
                if value != config.dst_bucket
                    && !config.allow.dst_buckets.iter().any(|b| b == value)
                {
                    return Err(refused("ALLOWED_DST_BUCKETS"));
                }
                job.dst_bucket = value.to_owned();
            }
            "dstPrefix" => {
                if value != config.dst_prefix
                    && !config.allow.dst_prefixes.iter().any(|p| p == value)
                {
                    return Err(refused("ALLOWED_DST_PREFIXES"));
                }
                job.dst_prefix = value.to_owned();
            }
            "transform" => {
                if value != config.transform && !config.allow.transforms.iter().any(|t| t == value)
                {
                    return Err(refused("ALLOWED_TRANSFORMS"));
                }
                if value != "identity" && config.copy.mode == CopyMode::Server {
                    return Err(format!(
                        "userArguments.transform {value:?} changes the bytes, but COPY_MODE=server copies them unchanged"
                    ));
                }
                job.transform = value.to_owned();
            }
            "storageClass" => {
                let configured = config.copy.options.storage_class.as_ref();
                if configured.map(StorageClass::as_str) != Some(value)
                    && !config.allow.storage_classes.iter().any(|c| c == value)
                {
                    return Err(refused("ALLOWED_STORAGE_CLASSES"));
                }
                job.copy.options.storage_class = Some(StorageClass::from(value));
            }
            _ => {
                let known: Vec<&str> = USER_ARGUMENTS.iter().map(|(key, _)| *key).collect();
                return Err(format!(
                    "userArguments.{name} is not an argument this function reads (it reads {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(job)
}

/// `text` cut to at most [`MAX_RESULT_STRING_BYTES`] on a character boundary.
fn shortened(text: String) -> String {
    if text.len() <= MAX_RESULT_STRING_BYTES {
        return text;
    }
    let mut end = MAX_RESULT_STRING_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A task's result from its record's: copied or skipped → `Succeeded`; a
/// source that changed during the copy (superseded) → `TemporaryFailure`, so
/// the retry copies the new object; a failure by its class.
pub fn task_result(task_id: String, record: &RecordResult) -> TaskResult {
    let destination = record
        .destination
        .as_ref()
        .map(|d| format!("s3://{}/{}", d.bucket, d.key))
        .unwrap_or_default();
    let (result_code, text) = match record.outcome {
        Outcome::Copied => (ResultCode::Succeeded, format!("copied to {destination}")),
        Outcome::Skipped => (
            ResultCode::Succeeded,
            format!("skipped: {}", record.reason.as_deref().unwrap_or("")),
        ),
        // A task never hands off nor fans out (it runs with
        // `Onward::Retry`); were one to, its copy is unfinished: the retry
        // continues it.
        Outcome::Continuing | Outcome::Split | Outcome::Segment => (
            ResultCode::TemporaryFailure,
            format!(
                "{}: {}",
                CopyErrorType::Continue,
                record.reason.as_deref().unwrap_or("the copy continues")
            ),
        ),
        Outcome::Superseded => (
            ResultCode::TemporaryFailure,
            format!(
                "{}: {}",
                CopyErrorType::Superseded,
                record.reason.as_deref().unwrap_or("the source changed")
            ),
        ),
        Outcome::Failed => {
            let code = match record.failure_class {
                Some(FailureClass::Permanent) => ResultCode::PermanentFailure,
                _ => ResultCode::TemporaryFailure,
            };
            let text = format!(
                "{}: {}",
                record
                    .error_type
                    .as_deref()
                    .unwrap_or(FunctionErrorType::Failed.as_str()),
                record.error.as_deref().unwrap_or("failed")
            );
            (code, text)
        }
    };
    TaskResult {
        task_id,
        result_code,
        result_string: shortened(text),
    }
}

/// Runs a Batch Operations job's tasks under its `userArguments` (each
/// checked against the allow-lists; a refused one fails every task
/// permanently, before any request) and answers one result per task.
/// The invocation itself succeeds: the results carry the outcome.
pub async fn run(context: &RecordContext<'_>, job: BatchJob, concurrency: usize) -> BatchResponse {
    let (task_ids, items): (Vec<String>, Vec<Item>) = job
        .tasks
        .into_iter()
        .map(|task| (task.task_id, task.item))
        .unzip();
    let records = match job_config(context.config, &job.user_arguments) {
        Ok(config) => {
            let job_context = RecordContext {
                config: &config,
                ..*context
            };
            // A task never hands off: its report must not say `Succeeded`
            // for an unfinished copy; `TemporaryFailure` brings it back.
            run_items(&job_context, items, concurrency, Onward::Retry).await
        }
        Err(refusal) => {
            tracing::error!("batch operations job {}: {refusal}", job.job_id);
            items
                .iter()
                .map(|item| {
                    let (bucket, key) = item.source();
                    let result = RecordResult::failed(
                        bucket,
                        key,
                        ARGUMENT_ERROR_TYPE,
                        FailureClass::Permanent,
                        refusal.clone(),
                    );
                    context.observe(&result);
                    result
                })
                .collect()
        }
    };
    let report = InvocationReport::new(records);
    tracing::info!(
        "batch operations job {} invocation {}: {}",
        job.job_id,
        job.invocation_id,
        serde_json::to_string(&report).unwrap_or_default()
    );
    BatchResponse {
        invocation_schema_version: job.schema_version,
        treat_missing_keys_as: TREAT_MISSING_KEYS_AS,
        invocation_id: job.invocation_id,
        results: task_ids
            .into_iter()
            .zip(&report.records)
            .map(|(task_id, record)| task_result(task_id, record))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut env = crate::config::tests::env(pairs);
        env.insert("DST_BUCKET".into(), "dst".into());
        Config::from_map(&env).expect("valid configuration")
    }

    fn arguments(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn allowed_arguments_override_and_others_are_refused_by_name() {
        let base = config(&[
            ("ALLOWED_DST_BUCKETS", "archive"),
            ("ALLOWED_DST_PREFIXES", "archive/"),
            ("ALLOWED_TRANSFORMS", "gzip"),
            ("ALLOWED_STORAGE_CLASSES", "STANDARD_IA"),
        ]);
        let job = job_config(
            &base,
            &arguments(serde_json::json!({
                "dstBucket": "archive", "dstPrefix": "archive/",
                "transform": "gzip", "storageClass": "STANDARD_IA"
            })),
        )
        .unwrap();
        assert_eq!(
            (
                job.dst_bucket.as_str(),
                job.dst_prefix.as_str(),
                job.transform.as_str()
            ),
            ("archive", "archive/", "gzip")
        );
        assert_eq!(
            job.copy.options.storage_class,
            Some(StorageClass::StandardIa)
        );
        // The configured values need no list.
        assert!(job_config(&base, &arguments(serde_json::json!({"dstBucket": "dst"}))).is_ok());
        for (args, names) in [
            (
                serde_json::json!({"dstBucket": "elsewhere"}),
                "ALLOWED_DST_BUCKETS",
            ),
            (
                serde_json::json!({"dstPrefix": "x/"}),
                "ALLOWED_DST_PREFIXES",
            ),
            (
                serde_json::json!({"transform": "identity2"}),
                "ALLOWED_TRANSFORMS",
            ),
            (
                serde_json::json!({"storageClass": "GLACIER"}),
                "ALLOWED_STORAGE_CLASSES",
            ),
            (
                serde_json::json!({"dst_bucket": "archive"}),
                "userArguments.dst_bucket",
            ),
            (serde_json::json!({"dstBucket": 7}), "must be a string"),
        ] {
            let error = job_config(&base, &arguments(args)).unwrap_err();
            assert!(error.contains(names), "{error}");
        }
    }

    #[test]
    fn results_follow_outcome_and_failure_class() {
        let mut copied = RecordResult::new(Outcome::Copied, "src", "k");
        copied.destination = Some(super::super::record::ObjectRef {
            bucket: "dst".into(),
            key: "k".into(),
            version_id: None,
        });
        let result = task_result("t".into(), &copied);
        assert_eq!(result.result_code, ResultCode::Succeeded);
        assert_eq!(result.result_string, "copied to s3://dst/k");
        let gone = RecordResult::failed(
            "src",
            "k",
            "S3.NoSuchKey",
            FailureClass::Permanent,
            "x".repeat(5_000),
        );
        let result = task_result("t".into(), &gone);
        assert_eq!(result.result_code, ResultCode::PermanentFailure);
        assert!(result.result_string.len() <= MAX_RESULT_STRING_BYTES);
        assert!(result.result_string.starts_with("S3.NoSuchKey: xxx"));
        let throttled = RecordResult::failed(
            "src",
            "k",
            "S3.GetObjectFailed",
            FailureClass::Transient,
            "slow down",
        );
        assert_eq!(
            task_result("t".into(), &throttled).result_code,
            ResultCode::TemporaryFailure
        );
    }
}
