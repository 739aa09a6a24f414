//! S3 Batch Operations invocations (schema 1.0 with `s3BucketArn`, 2.0 with `s3Bucket` and `userArguments`).

use super::{Item, ObjectCreated, decode_key};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The event name given to a Batch Operations task's copy (for logs).
pub const BATCH_TASK: &str = "Batch Operations task";

/// The prefix of an S3 bucket ARN (`arn:aws:s3:::NAME`; other partitions
/// differ only in the part after `arn:`).
const BUCKET_ARN_SERVICE: &str = ":s3:::";

/// A Batch Operations invocation as Lambda delivers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEvent {
    /// `1.0` or `2.0`; echoed in the response.
    pub invocation_schema_version: String,
    /// Echoed in the response.
    pub invocation_id: String,
    /// The job.
    pub job: BatchJobEntity,
    /// The tasks (one per invocation today).
    pub tasks: Vec<BatchTaskEntity>,
}

/// The job of an invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobEntity {
    /// The job id.
    #[serde(default)]
    pub id: String,
    /// Schema 2.0: the job's user arguments (string values).
    #[serde(default)]
    pub user_arguments: Option<Map<String, Value>>,
}

/// One task: one object of the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchTaskEntity {
    /// Echoed in the task's result.
    pub task_id: String,
    /// The key, URL-encoded as in the manifest.
    pub s3_key: String,
    /// The version to copy (null: the current one).
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// Schema 1.0: the bucket's ARN.
    #[serde(default)]
    pub s3_bucket_arn: Option<String>,
    /// Schema 2.0: the bucket's name.
    #[serde(default)]
    pub s3_bucket: Option<String>,
}

/// One task, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// Echoed in its result.
    pub task_id: String,
    /// What to do: copy it, or why it cannot be used.
    pub item: Item,
}

/// A Batch Operations invocation, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJob {
    /// Echoed in the response.
    pub schema_version: String,
    /// Echoed in the response.
    pub invocation_id: String,
    /// The job id (for logs).
    pub job_id: String,
    /// Schema 2.0's user arguments; empty for 1.0.
    pub user_arguments: Map<String, Value>,
    /// The tasks, in order.
    pub tasks: Vec<BatchTask>,
}

/// The bucket an ARN names: `arn:PARTITION:s3:::NAME` only (an access
/// point or Outposts ARN names no bucket).
fn bucket_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, name) = rest.split_once(BUCKET_ARN_SERVICE)?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn classify(task: BatchTaskEntity) -> BatchTask {
    let bucket = match (&task.s3_bucket, &task.s3_bucket_arn) {
        (Some(name), _) => Ok(name.clone()),
        (None, Some(arn)) => bucket_of_arn(arn)
            .map(str::to_owned)
            .ok_or_else(|| format!("s3BucketArn {arn:?} is not an s3 bucket arn")),
        (None, None) => Err("the task has neither s3Bucket nor s3BucketArn".to_owned()),
    };
    let item = match bucket.and_then(|bucket| {
        decode_key(&task.s3_key)
            .map(|key| (bucket, key))
            .map_err(|e| e.to_string())
    }) {
        Ok((bucket, key)) => Item::Copy(ObjectCreated {
            event_name: BATCH_TASK.to_owned(),
            bucket,
            key,
            size: None,
            etag: None,
            version_id: task.s3_version_id.filter(|v| !v.is_empty()),
            sequencer: None,
            region: None,
        }),
        Err(reason) => Item::Invalid {
            bucket: task.s3_bucket.or(task.s3_bucket_arn).unwrap_or_default(),
            key: task.s3_key,
            reason,
        },
    };
    BatchTask {
        task_id: task.task_id,
        item,
    }
}

/// Classifies a Batch Operations invocation.
pub fn job(event: BatchEvent) -> BatchJob {
    BatchJob {
        schema_version: event.invocation_schema_version,
        invocation_id: event.invocation_id,
        job_id: event.job.id,
        user_arguments: event.job.user_arguments.unwrap_or_default(),
        tasks: event.tasks.into_iter().map(classify).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arns_name_their_bucket_and_nothing_else_does() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::src"), Some("src"));
        assert_eq!(bucket_of_arn("arn:aws-cn:s3:::src.cn"), Some("src.cn"));
        assert_eq!(
            bucket_of_arn("arn:aws:s3:us-east-1:123456789012:accesspoint/ap"),
            None
        );
        assert_eq!(bucket_of_arn("arn:aws:s3:::src/key"), None);
        assert_eq!(bucket_of_arn("src"), None);
    }
}
