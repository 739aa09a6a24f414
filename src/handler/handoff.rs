//! Where a record whose copy stopped at its deadline (`Copy.Continue`) goes on: its trigger's retry, or the work queue.

use super::record::{Outcome, RecordContext, RecordResult};
use crate::copy::CopyErrorType;
use crate::copy::fan_out::Segment;
use crate::event::ObjectCreated;

/// How a record that stopped at its deadline continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Onward {
    /// By its trigger's own retry: it fails with `Copy.Continue`. Batch
    /// Operations tasks always do (their report must not say `Succeeded`
    /// for an unfinished copy), and every record when no work queue is set.
    /// Such a record never fans out either.
    Retry,
    /// By the work queue: it sends itself there as hop `hop` and succeeds.
    HandOff {
        /// The hop the send makes: 1 from an asynchronous invocation or
        /// another queue, one more than the message's own on the work queue.
        hop: u32,
        /// The fan-out segment the record is (its message's attributes),
        /// kept by the hand-off.
        segment: Option<Segment>,
    },
}

impl Onward {
    /// A record of no segment, handed off as hop `hop`.
    pub fn hop(hop: u32) -> Onward {
        Onward::HandOff { hop, segment: None }
    }

    /// The fan-out segment the record copies.
    pub fn segment(&self) -> Option<&Segment> {
        match self {
            Onward::HandOff { segment, .. } => segment.as_ref(),
            Onward::Retry => None,
        }
    }

    /// Whether the record may fan out (its report may say it succeeded
    /// before the copy is complete).
    pub fn may_fan_out(&self) -> bool {
        matches!(self, Onward::HandOff { segment: None, .. })
    }
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
    if result.outcome == Outcome::Split {
        return split(context, object, result).await;
    }
    let continuing = result.error_type.as_deref() == Some(CopyErrorType::Continue.as_str());
    let (true, Some(queue), Onward::HandOff { hop, segment }) =
        (continuing, context.work_queue, &onward)
    else {
        return result;
    };
    let hop = *hop;
    let progress = result.error.clone().unwrap_or_default();
    match queue
        .hand_off(object, hop, &progress, segment.as_ref())
        .await
    {
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

/// A record whose copy was split: its segments go to the work queue, and it
/// succeeds once every one is sent. A send that fails leaves it failed
/// (transient): the retry splits again into the same upload and sends every
/// segment again, which segments make harmless.
async fn split(
    context: &RecordContext<'_>,
    object: &ObjectCreated,
    mut result: RecordResult,
) -> RecordResult {
    let (Some(queue), Some(fanned)) = (context.work_queue, result.fanned_out.take()) else {
        return RecordResult::failed(
            &object.bucket,
            &object.key,
            crate::error_type::FunctionErrorType::InvalidConfiguration.as_str(),
            crate::copy::FailureClass::Permanent,
            "a copy split into segments, but no work queue is set to send them to",
        );
    };
    match queue.send_segments(object, &fanned).await {
        Ok(()) => {
            let reason = format!(
                "split into {} segments of upload {} ({} parts), sent to the work queue {}",
                fanned.segments.len(),
                fanned.upload_id,
                fanned.parts,
                queue.url()
            );
            tracing::info!("s3://{}/{}: {reason}", object.bucket, object.key);
            result.reason = Some(reason);
            result.segments = Some(fanned.segments.len() as u64);
            result.upload_id = Some(fanned.upload_id);
            result
        }
        Err(error) => {
            let error = crate::runtime::error_chain(&error);
            tracing::error!("{error}; the record's trigger retries it");
            RecordResult {
                upload_id: Some(fanned.upload_id),
                ..RecordResult::failed(
                    &object.bucket,
                    &object.key,
                    crate::error_type::FunctionErrorType::WorkQueueFailed.as_str(),
                    crate::copy::FailureClass::Transient,
                    error,
                )
            }
        }
    }
}
