//! SQS batches: every message's records run at once under one limit, and the partial-batch response.

use super::handoff::Onward;
use super::record::{Outcome, RecordContext, RecordResult};
use super::response::{BatchItemFailure, InvocationReport};
use super::run_item;
use crate::copy::FailureClass;
use crate::event::SqsItem;
use crate::runtime::error_type;
use futures_util::StreamExt;

/// Runs the records of every message concurrently (at most `concurrency`)
/// under the invocation's one budget; a message with any failure returns to
/// the queue (`batchItemFailures`), and the report keeps each message's
/// records together, in order. A record that stops at its deadline hands
/// off to the work queue, one hop further than its message.
pub async fn run(
    context: &RecordContext<'_>,
    messages: Vec<SqsItem>,
    concurrency: usize,
) -> InvocationReport {
    let mut work = Vec::new();
    let mut unusable = vec![None; messages.len()];
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    for (index, message) in messages.iter().enumerate() {
        match &message.items {
            Ok(items) => {
                let onward = Onward::HandOff {
                    hop: message.hops.saturating_add(1),
                    segment: message.segment.clone(),
                };
                work.extend(
                    items
                        .iter()
                        .cloned()
                        .map(|item| (index, item, onward.clone())),
                );
            }
            Err(reason) => {
                tracing::error!("sqs message {} is unusable: {reason}", message.message_id);
                unusable[index] = Some(reason.clone());
            }
        }
    }
    let done: Vec<(usize, RecordResult)> = futures_util::stream::iter(work)
        .map(|(index, item, onward)| async move { (index, run_item(context, item, onward).await) })
        .buffered(concurrency.max(1))
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
            let result = RecordResult::failed(
                "",
                "",
                error_type::MALFORMED_EVENT,
                FailureClass::Permanent,
                reason,
            );
            context.observe(&result);
            records.push(result);
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
