//! Where a record whose copy stopped at its deadline (`Copy.Continue`) goes on: its trigger's retry, or the work queue.

use super::record::{Outcome, RecordContext, RecordResult};
use crate::copy::CopyErrorType;
use crate::event::ObjectCreated;

/// How a record that stopped at its deadline continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onward {
    /// By its trigger's own retry: it fails with `Copy.Continue`. Batch
    /// Operations tasks always do (their report must not say `Succeeded`
    /// for an unfinished copy), and every record when no work queue is set.
    Retry,
    /// By the work queue: it sends itself there as hop `hop` and succeeds.
    HandOff {
        /// The hop the send makes: 1 from an asynchronous invocation or
        /// another queue, one more than the message's own on the work queue.
        hop: u32,
    },
}

/// `result` once the record went on as `onward` says, when its copy
/// stopped at its deadline; any other result unchanged. A send that fails
/// (or a record whose hops are spent) leaves it failed with
/// `Copy.Continue`, for its trigger to retry.
pub async fn settle(
    context: &RecordContext<'_>,
    onward: Onward,
    object: &ObjectCreated,
    mut result: RecordResult,
) -> RecordResult {
    let continuing = result.error_type.as_deref() == Some(CopyErrorType::Continue.as_str());
    let (true, Some(queue), Onward::HandOff { hop }) = (continuing, context.work_queue, onward)
    else {
        return result;
    };
    let progress = result.error.clone().unwrap_or_default();
    match queue.hand_off(object, hop, &progress).await {
        Ok(message_id) => {
            let reason = format!(
                "{progress}; handed to the work queue {} as message {message_id} (hop {hop})",
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
    }
}
