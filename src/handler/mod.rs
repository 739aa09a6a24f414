//! The S3 event handler: envelopes in, concurrent bounded copies, a report out.

pub mod batch;
pub mod record;
pub mod response;

pub use batch::BatchResponse;
pub use record::{Outcome, RecordResult};
pub use response::{FunctionResponse, InvocationReport};

use crate::config::Config;
use crate::copy::{FailureClass, MemoryPool};
use crate::event::{BatchJob, Envelope, Item, ObjectCreated, SqsItem};
use crate::regions::RegionalClients;
use crate::runtime::{Context, Diagnostic, InvocationHandler, error_type};
use aws_sdk_s3::Client;
use futures_util::StreamExt;
use record::RecordContext;
use response::{BatchItemFailure, MAX_RESPONSE_BYTES};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Copies every object an event announces to `DST_BUCKET`.
pub struct CopyHandler {
    clients: RegionalClients,
    config: Arc<Config>,
}

impl CopyHandler {
    /// A handler copying with `client` as `config` says.
    pub fn new(client: Client, config: Config) -> CopyHandler {
        let client = if config.requester_pays {
            crate::requester_pays::paying(&client)
        } else {
            client
        };
        CopyHandler {
            clients: RegionalClients::new(client, config.dst_region.clone()),
            config: Arc::new(config),
        }
    }

    /// Handles a parsed event: copies, then reports. `cancel` fires before the deadline.
    pub async fn handle(
        &self,
        event: serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<FunctionResponse, Diagnostic> {
        let envelope = crate::event::parse(event)
            .map_err(|e| Diagnostic::new(error_type::MALFORMED_EVENT, e.to_string()))?;
        // One pool per invocation: streamed copies reserve their memory
        // plans from it before they read; server-side copies need none.
        let memory = MemoryPool::new(self.config.buffer_budget);
        let context = RecordContext {
            clients: &self.clients,
            config: &self.config,
            memory: &memory,
            cancel,
        };
        match envelope {
            Envelope::Test { bucket } => {
                tracing::info!("s3:TestEvent for bucket {bucket} acknowledged; nothing to copy");
                let mut report = InvocationReport::new(Vec::new());
                report.test_event = true;
                Ok(FunctionResponse::Report(report))
            }
            Envelope::Notification(items) | Envelope::EventBridge(items) => {
                let report = InvocationReport::new(self.run(&context, items).await);
                match report.failure() {
                    None => Ok(FunctionResponse::Report(within_limit(report))),
                    Some(diagnostic) => {
                        tracing::info!(
                            "report: {}",
                            serde_json::to_string(&report).unwrap_or_default()
                        );
                        Err(diagnostic)
                    }
                }
            }
            Envelope::Sqs(messages) => Ok(FunctionResponse::Report(within_limit(
                self.run_sqs(&context, messages).await,
            ))),
            Envelope::BatchOperations(job) => {
                Ok(FunctionResponse::Batch(self.run_batch(&context, job).await))
            }
        }
    }

    /// Runs a Batch Operations job's tasks under its `userArguments` (each
    /// checked against the allow-lists; a refused one fails every task
    /// permanently, before any request) and answers one result per task.
    /// The invocation itself succeeds: the results carry the outcome.
    async fn run_batch(&self, context: &RecordContext<'_>, job: BatchJob) -> BatchResponse {
        let (task_ids, items): (Vec<String>, Vec<Item>) = job
            .tasks
            .into_iter()
            .map(|task| (task.task_id, task.item))
            .unzip();
        let records = match batch::job_config(context.config, &job.user_arguments) {
            Ok(config) => {
                let job_context = RecordContext {
                    config: &config,
                    ..*context
                };
                self.run(&job_context, items).await
            }
            Err(refusal) => {
                tracing::error!("batch operations job {}: {refusal}", job.job_id);
                items
                    .iter()
                    .map(|item| {
                        let (bucket, key) = item.source();
                        RecordResult::failed(
                            bucket,
                            key,
                            batch::ARGUMENT_ERROR_TYPE,
                            FailureClass::Permanent,
                            refusal.clone(),
                        )
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
            treat_missing_keys_as: batch::TREAT_MISSING_KEYS_AS,
            invocation_id: job.invocation_id,
            results: task_ids
                .into_iter()
                .zip(&report.records)
                .map(|(task_id, record)| batch::task_result(task_id, record))
                .collect(),
        }
    }

    /// Runs records concurrently (at most `MAX_RECORD_CONCURRENCY`), results in order.
    async fn run(&self, context: &RecordContext<'_>, items: Vec<Item>) -> Vec<RecordResult> {
        futures_util::stream::iter(items)
            .map(|item| run_item(context, item))
            .buffered(self.config.max_record_concurrency.max(1))
            .collect()
            .await
    }

    /// Runs the records of every message concurrently under the one limit
    /// and budget; a message with any failure returns to the queue, and the
    /// report keeps each message's records together, in order.
    async fn run_sqs(
        &self,
        context: &RecordContext<'_>,
        messages: Vec<SqsItem>,
    ) -> InvocationReport {
        let mut work = Vec::new();
        let mut unusable = vec![None; messages.len()];
        let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
        for (index, message) in messages.into_iter().enumerate() {
            match message.items {
                Ok(items) => work.extend(items.into_iter().map(|item| (index, item))),
                Err(reason) => {
                    tracing::error!("sqs message {} is unusable: {reason}", message.message_id);
                    unusable[index] = Some(reason);
                }
            }
        }
        let done: Vec<(usize, RecordResult)> = futures_util::stream::iter(work)
            .map(|(index, item)| async move { (index, run_item(context, item).await) })
            .buffered(self.config.max_record_concurrency.max(1))
            .collect()
            .await;
        let mut per_message: Vec<Vec<RecordResult>> = vec![Vec::new(); ids.len()];
        for (index, result) in done {
            per_message[index].push(result);
        }
        let mut records = Vec::new();
        let mut failures = Vec::new();
        for ((id, results), reason) in ids.into_iter().zip(per_message).zip(unusable) {
            if let Some(reason) = reason {
                records.push(RecordResult::failed(
                    "",
                    "",
                    error_type::MALFORMED_EVENT,
                    FailureClass::Permanent,
                    reason,
                ));
                failures.push(BatchItemFailure {
                    item_identifier: id,
                });
                continue;
            }
            if results.iter().any(|r| r.outcome == Outcome::Failed) {
                failures.push(BatchItemFailure {
                    item_identifier: id,
                });
            }
            records.extend(results);
        }
        let mut report = InvocationReport::new(records);
        report.batch_item_failures = Some(failures);
        report
    }
}

/// The report as posted: cut to [`MAX_RESPONSE_BYTES`] (Lambda refuses a
/// larger response), and logged whole first when it had to be cut.
fn within_limit(report: InvocationReport) -> InvocationReport {
    let json = serde_json::to_string(&report).unwrap_or_default();
    if json.len() <= MAX_RESPONSE_BYTES {
        return report;
    }
    tracing::info!("report (the response omits records to fit lambda's limit): {json}");
    report.fit(MAX_RESPONSE_BYTES)
}

async fn run_item(context: &RecordContext<'_>, item: Item) -> RecordResult {
    match item {
        Item::Copy(object) => copy_one(context, object).await,
        Item::Skip {
            event_name,
            bucket,
            key,
        } => RecordResult::skipped(
            &bucket,
            &key,
            format!("{event_name} is not an object-created event"),
        ),
        Item::Invalid {
            bucket,
            key,
            reason,
        } => RecordResult::failed(
            &bucket,
            &key,
            error_type::MALFORMED_EVENT,
            FailureClass::Permanent,
            reason,
        ),
    }
}

async fn copy_one(context: &RecordContext<'_>, object: ObjectCreated) -> RecordResult {
    record::copy_record(context, &object).await
}

impl InvocationHandler for CopyHandler {
    type Event = serde_json::Value;
    type Output = FunctionResponse;

    async fn call(
        &self,
        event: serde_json::Value,
        context: Context,
    ) -> Result<FunctionResponse, Diagnostic> {
        self.handle(event, &context.cancel).await
    }
}
