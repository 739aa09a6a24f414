//! Where a record whose copy stopped at its deadline (`Copy.Continue`) goes on: its trigger's retry, or the work queue.

use super::record::{Outcome, RecordContext, RecordResult};
use crate::copy::{CopyErrorType, FailureClass};
use crate::event::ObjectCreated;

/// How a record that stopped at its deadline continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Onward {
    /// By its trigger's own retry: it fails with `Copy.Continue`. Batch
    /// Operations tasks always do (their report must not say `Succeeded`
    /// for an unfinished copy), and every record when no work queue is set.
    Retry,
    /// By the work queue: it sends itself there and succeeds (an
    /// asynchronous invocation, a message on another queue).
    HandOff,
    /// It is on the work queue: it fails, its message visible again within
    /// seconds. So does a permanent failure there: the queue allows as many
    /// receives as a copy may take attempts, and at its own visibility
    /// timeout (six times the function's) the message would reach the
    /// dead-letter queue only after days; revisiting, it does in minutes.
    Revisit {
        /// The message's receipt handle.
        receipt_handle: String,
    },
}

/// `result` once the record went on as `onward` says, when its copy
/// stopped at its deadline (or, on the work queue, failed permanently); any
/// other result unchanged.
pub async fn settle(
    context: &RecordContext<'_>,
    onward: Onward,
    object: &ObjectCreated,
    mut result: RecordResult,
) -> RecordResult {
    let continuing = result.error_type.as_deref() == Some(CopyErrorType::Continue.as_str());
    let permanent = result.failure_class == Some(FailureClass::Permanent);
    let Some(queue) = context.work_queue else {
        return result;
    };
    let progress = result.error.clone().unwrap_or_default();
    match onward {
        Onward::Retry => result,
        Onward::HandOff if !continuing => result,
        Onward::Revisit { .. } if !(continuing || permanent) => result,
        Onward::HandOff => match queue.hand_off(object, &progress).await {
            Ok(message_id) => {
                let reason = format!(
                    "{progress}; handed to the work queue {} as message {message_id}",
                    queue.url()
                );
                tracing::info!("{reason}");
                RecordResult {
                    outcome: Outcome::Continuing,
                    reason: Some(reason),
                    error_type: None,
                    failure_class: None,
                    error: None,
                    ..result
                }
            }
            Err(error) => {
                let error = crate::runtime::error_chain(&error);
                tracing::error!("{error}; the record's trigger retries it");
                result.error = Some(format!("{progress}; {error}"));
                result
            }
        },
        Onward::Revisit { receipt_handle } => {
            if let Err(error) = queue.revisit(&receipt_handle).await {
                let error = crate::runtime::error_chain(&error);
                tracing::warn!("{error}; it returns after the queue's visibility timeout");
                result.error = Some(format!("{progress}; {error}"));
            }
            result
        }
    }
}
