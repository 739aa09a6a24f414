//! The S3 event handler: envelopes in, concurrent bounded copies, a report out.

pub mod batch;
mod bench;
pub mod handoff;
pub mod record;
pub mod response;
pub mod sqs;

pub use batch::BatchResponse;
pub use record::{Outcome, RecordResult};
pub use response::{FunctionResponse, InvocationReport};

use crate::config::Config;
use crate::copy::{FailureClass, MemoryPool};
use crate::event::{Envelope, Item};
use crate::metrics::Metrics;
use crate::regions::RegionalClients;
use crate::runtime::{Context, Diagnostic, InvocationHandler, error_type};
use crate::work_queue::WorkQueue;
use aws_sdk_s3::Client;
use futures_util::StreamExt;
use handoff::Onward;
use record::RecordContext;
use response::MAX_RESPONSE_BYTES;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Copies every object an event announces to `DST_BUCKET`.
pub struct CopyHandler {
    clients: RegionalClients,
    config: Arc<Config>,
    /// Writes each invocation's metrics (the function, when `METRICS` is on).
    metrics: Option<Metrics>,
    /// Where copies that stop at their deadline go on (`WORK_QUEUE_URL`).
    work_queue: Option<WorkQueue>,
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
            metrics: None,
            work_queue: None,
        }
    }

    /// The same handler, handing copies that stop at their deadline to
    /// `work_queue`.
    pub fn with_work_queue(mut self, work_queue: Option<WorkQueue>) -> CopyHandler {
        self.work_queue = work_queue;
        self
    }

    /// The same handler, writing each invocation's metrics with `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Metrics>) -> CopyHandler {
        self.metrics = metrics;
        self
    }

    /// Handles a parsed event: copies, then reports (and writes the
    /// invocation's metrics). `cancel` fires before the deadline, at
    /// `stop_at` when that is known.
    pub async fn handle(
        &self,
        event: serde_json::Value,
        cancel: &CancellationToken,
        stop_at: Option<Instant>,
    ) -> Result<FunctionResponse, Diagnostic> {
        let results = Mutex::new(Vec::new());
        let answer = self
            .handle_with(
                event,
                cancel,
                stop_at,
                self.metrics.as_ref().map(|_| &results),
            )
            .await;
        if let Some(metrics) = &self.metrics {
            metrics.emit(&results.into_inner().unwrap_or_else(PoisonError::into_inner));
        }
        answer
    }

    async fn handle_with(
        &self,
        event: serde_json::Value,
        cancel: &CancellationToken,
        stop_at: Option<Instant>,
        results: Option<&Mutex<Vec<RecordResult>>>,
    ) -> Result<FunctionResponse, Diagnostic> {
        if bench::is_bench(&event) {
            let report = self.bench(event, cancel, stop_at).await?;
            return Ok(FunctionResponse::Bench(Box::new(report)));
        }
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
            stop_at,
            results,
            work_queue: self.work_queue.as_ref(),
        };
        match envelope {
            Envelope::Test { bucket } => {
                tracing::info!("s3:TestEvent for bucket {bucket} acknowledged; nothing to copy");
                let mut report = InvocationReport::new(Vec::new());
                report.test_event = true;
                Ok(FunctionResponse::Report(report))
            }
            Envelope::Notification(items) | Envelope::EventBridge(items) => {
                let report = InvocationReport::new(
                    run_items(
                        &context,
                        items,
                        self.config.max_record_concurrency,
                        Onward::hop(1),
                    )
                    .await,
                );
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
                sqs::run(&context, messages, self.config.max_record_concurrency).await,
            ))),
            Envelope::BatchOperations(job) => Ok(FunctionResponse::Batch(
                batch::run(&context, job, self.config.max_record_concurrency).await,
            )),
        }
    }
}

/// Runs records concurrently (at most `concurrency`), results in order;
/// those that stop at their deadline go on as `onward` says.
pub(crate) async fn run_items(
    context: &RecordContext<'_>,
    items: Vec<Item>,
    concurrency: usize,
    onward: Onward,
) -> Vec<RecordResult> {
    futures_util::stream::iter(items)
        .map(|item| run_item(context, item, onward.clone()))
        .buffered(concurrency.max(1))
        .collect()
        .await
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

pub(crate) async fn run_item(
    context: &RecordContext<'_>,
    item: Item,
    onward: Onward,
) -> RecordResult {
    let result = result_of(context, item, onward).await;
    context.observe(&result);
    result
}

async fn result_of(context: &RecordContext<'_>, item: Item, onward: Onward) -> RecordResult {
    match item {
        Item::Copy(object) => {
            let result = record::copy_record(context, &object, &onward).await;
            handoff::settle(context, onward, &object, result).await
        }
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

impl InvocationHandler for CopyHandler {
    type Event = serde_json::Value;
    type Output = FunctionResponse;

    async fn call(
        &self,
        event: serde_json::Value,
        context: Context,
    ) -> Result<FunctionResponse, Diagnostic> {
        let stop_at = context
            .invocation
            .deadline
            .checked_sub(self.config.deadline_margin);
        self.handle(event, &context.cancel, stop_at).await
    }
}
