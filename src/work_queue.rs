//! The work queue: where a resumable copy that met its deadline goes on, so its progress never rests on its trigger's few retries.
//!
//! Lambda retries an asynchronous invocation twice; a queue trigger
//! redelivers a message as often as its redrive policy allows, each time
//! after its visibility timeout. A copy needing more invocations than that
//! would be cut off. With `WORK_QUEUE_URL` set, a record whose copy stopped
//! at its deadline (`Copy.Continue`) *hands off*: it sends itself to the
//! work queue as an S3 notification, one hop further, and its own delivery
//! succeeds. The next hop starts as soon as the queue's trigger takes the
//! message, and the queue's own retries and dead-letter queue stay what
//! they are for any other failure.
//!
//! Each hop is a send from an invocation the queue made, the chain Lambda's
//! recursive-loop detection stops after about 16 rounds: `deploy/` allows
//! recursion for the function, and the hops are capped here instead
//! ([`HOPS_ATTRIBUTE`], at most the copy's `RESUME_MAX_ATTEMPTS`), besides
//! the checkpoint's own count of attempts.

use crate::event::{OBJECT_CREATED_PREFIX, ObjectCreated, encode_key};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_smithy_types::error::display::DisplayErrorContext;
use s3_stream_engine::copy::fan_out::{FannedOut, Segment};
use std::time::Duration;

/// The message attribute that marks a hand-off; its value says how far the
/// copy got (for people reading the queue).
pub const HANDOFF_ATTRIBUTE: &str = "S3StreamLambdaHandoff";

/// The message attribute counting a hand-off's hops (a `Number`): the
/// first hand-off of a record is hop 1.
pub const HOPS_ATTRIBUTE: &str = "S3StreamLambdaHops";

/// The message attribute naming the upload a fan-out segment writes into.
pub const UPLOAD_ATTRIBUTE: &str = "S3StreamLambdaUploadId";

/// The message attribute naming a fan-out segment's parts (`first-last`).
pub const SEGMENT_ATTRIBUTE: &str = "S3StreamLambdaSegment";

/// The message attribute a segment's hand-off carries: the id of the
/// message that began its chain, which its completion claim names.
pub const CLAIM_ATTRIBUTE: &str = "S3StreamLambdaClaimToken";

/// Messages per `SendMessageBatch`: SQS's most.
pub const SEND_BATCH: usize = 10;

/// Segment batches sent at once: a split of 10,000 one-part segments is
/// 1,000 batches, sent in a few seconds.
pub const SEND_CONCURRENCY: usize = 8;

/// The most a hand-off may take, once the copy stopped at its deadline
/// margin: one SQS request (tens of milliseconds in a region) and the
/// SDK's retries. The configuration asserts the margin holds it.
pub const HANDOFF_BUDGET: Duration = Duration::from_millis(1_000);

/// The event name a hand-off carries for an EventBridge record (its
/// "Object Created" is no S3 event name); how the object was created does
/// not change how it is copied.
const HANDOFF_EVENT_NAME: &str = "ObjectCreated:Put";

/// A failed hand-off.
#[derive(Debug, thiserror::Error)]
pub enum WorkQueueError {
    /// `SendMessage` failed.
    #[error("failed to send s3://{bucket}/{key} to the work queue {queue}: {detail}")]
    Send {
        /// The source bucket.
        bucket: String,
        /// The source key.
        key: String,
        /// The queue URL.
        queue: String,
        /// The SDK's error chain.
        detail: String,
    },
    /// The request took longer than [`HANDOFF_BUDGET`].
    #[error("the work queue {queue} did not answer within {HANDOFF_BUDGET:?}")]
    TimedOut {
        /// The queue URL.
        queue: String,
    },
    /// The record has made as many hops as a copy may take attempts.
    #[error("s3://{bucket}/{key} has been handed off {hops} times, the most a copy may take")]
    HopsSpent {
        /// The source bucket.
        bucket: String,
        /// The source key.
        key: String,
        /// Hops made.
        hops: u32,
    },
}

/// The work queue and the client that reaches it (built only when
/// `WORK_QUEUE_URL` is set: a function without one starts no SQS client).
#[derive(Debug, Clone)]
pub struct WorkQueue {
    client: Client,
    url: String,
    max_hops: u32,
}

impl WorkQueue {
    /// The queue at `url`, reached with a client from `shared` in the
    /// queue's own region (from its URL, so a queue in another region than
    /// the function's is reached there); a record is handed off at most
    /// `max_hops` times (the copy's `RESUME_MAX_ATTEMPTS`).
    pub fn new(shared: &aws_config::SdkConfig, url: String, max_hops: u32) -> WorkQueue {
        let mut config = aws_sdk_sqs::config::Builder::from(shared);
        if let Some(region) = region_of(&url) {
            config = config.region(aws_sdk_sqs::config::Region::new(region.to_owned()));
        }
        WorkQueue {
            client: Client::from_conf(config.build()),
            url,
            max_hops,
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `object` to the queue as an S3 notification, hop `hop`,
    /// marked with [`HANDOFF_ATTRIBUTE`] = `progress`; the message id.
    ///
    /// # Cancellation
    /// Bounded by [`HANDOFF_BUDGET`]. A send cut off may still have
    /// landed: the copy then runs twice side by side, which its checkpoint
    /// makes safe (one upload, elected).
    pub async fn hand_off(
        &self,
        object: &ObjectCreated,
        hop: u32,
        progress: &str,
        segment: Option<&Segment>,
    ) -> Result<String, WorkQueueError> {
        if hop > self.max_hops {
            return Err(WorkQueueError::HopsSpent {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                hops: hop - 1,
            });
        }
        let text = |value: String| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
        };
        let progress = text(attribute_text(progress)).map_err(|e| self.send_error(object, &e))?;
        let hops = MessageAttributeValue::builder()
            .data_type("Number")
            .string_value(hop.to_string())
            .build()
            .map_err(|e| self.send_error(object, &e))?;
        let mut sending = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(notification(object).to_string())
            .message_attributes(HANDOFF_ATTRIBUTE, progress)
            .message_attributes(HOPS_ATTRIBUTE, hops);
        if let Some(segment) = segment {
            for (name, value) in segment_attributes(segment) {
                let value = text(value).map_err(|e| self.send_error(object, &e))?;
                sending = sending.message_attributes(name, value);
            }
        }
        let sending = sending.send();
        let sent = tokio::time::timeout(HANDOFF_BUDGET, sending)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.send_error(object, &e))?;
        Ok(sent.message_id().unwrap_or_default().to_owned())
    }

    /// Sends one message per segment of `fanned` (the object's notification
    /// with [`UPLOAD_ATTRIBUTE`] and [`SEGMENT_ATTRIBUTE`]), in batches of
    /// [`SEND_BATCH`], [`SEND_CONCURRENCY`] at once, each within
    /// [`HANDOFF_BUDGET`]; an entry SQS refused fails the whole send.
    pub async fn send_segments(
        &self,
        object: &ObjectCreated,
        fanned: &FannedOut,
    ) -> Result<(), WorkQueueError> {
        let body = notification(object).to_string();
        for batches in fanned.segments.chunks(SEND_BATCH * SEND_CONCURRENCY) {
            let sends = batches
                .chunks(SEND_BATCH)
                .map(|batch| self.send_batch(object, &body, &fanned.upload_id, batch));
            for sent in futures_util::future::join_all(sends).await {
                sent?;
            }
        }
        Ok(())
    }

    async fn send_batch(
        &self,
        object: &ObjectCreated,
        body: &str,
        upload_id: &str,
        batch: &[(u64, u64)],
    ) -> Result<(), WorkQueueError> {
        let mut entries = Vec::with_capacity(batch.len());
        for (index, (first, last)) in batch.iter().enumerate() {
            let segment = Segment {
                upload_id: upload_id.to_owned(),
                first: *first,
                last: *last,
                // Each message's own id names its chain once received.
                claim_token: String::new(),
            };
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body);
            for (name, value) in segment_attributes(&segment) {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| self.send_error(object, &e))?;
                entry = entry.message_attributes(name, value);
            }
            entries.push(entry.build().map_err(|e| self.send_error(object, &e))?);
        }
        let sending = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send();
        let sent = tokio::time::timeout(HANDOFF_BUDGET, sending)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.send_error(object, &e))?;
        if let Some(failed) = sent.failed().first() {
            return Err(WorkQueueError::Send {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                queue: self.url.clone(),
                detail: format!(
                    "{} of {} segment messages refused: {} ({})",
                    sent.failed().len(),
                    batch.len(),
                    failed.message().unwrap_or_default(),
                    failed.code()
                ),
            });
        }
        Ok(())
    }

    fn send_error<E: std::error::Error + 'static>(
        &self,
        object: &ObjectCreated,
        error: &E,
    ) -> WorkQueueError {
        WorkQueueError::Send {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            queue: self.url.clone(),
            detail: DisplayErrorContext(error).to_string(),
        }
    }

    fn timed_out(&self) -> WorkQueueError {
        WorkQueueError::TimedOut {
            queue: self.url.clone(),
        }
    }
}

/// The attributes that make a message a fan-out segment (and, once it has
/// one, its chain's claim token).
fn segment_attributes(segment: &Segment) -> Vec<(&'static str, String)> {
    let mut attributes = vec![
        (UPLOAD_ATTRIBUTE, segment.upload_id.clone()),
        (SEGMENT_ATTRIBUTE, segment.range()),
    ];
    if !segment.claim_token.is_empty() {
        attributes.push((CLAIM_ATTRIBUTE, segment.claim_token.clone()));
    }
    attributes
}

/// The segment a message's attributes name (both, readable), claiming as
/// its chain's token: the hand-off's attribute, else the message's own id.
pub fn segment_of(
    upload_id: Option<&str>,
    range: Option<&str>,
    claim_token: Option<&str>,
    message_id: &str,
) -> Option<Segment> {
    Segment::parse(upload_id?, range?, claim_token.unwrap_or(message_id))
}

/// The region in a queue URL (`https://sqs.REGION.amazonaws.com/…`, or the
/// legacy `https://REGION.queue.amazonaws.com/…`); `None` for any other
/// host (a local endpoint, a VPC endpoint's name).
fn region_of(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut labels = host.split('.');
    let region = match (labels.next()?, labels.next()?) {
        ("sqs", region) => region,
        (region, "queue") => region,
        _ => return None,
    };
    (!region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(region)
}

/// `text` as SQS accepts it in a message attribute: characters outside
/// XML's (a key may hold control characters) become U+FFFD, and it is never
/// empty.
fn attribute_text(text: &str) -> String {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    let cleaned: String = text
        .chars()
        .map(|c| {
            if allowed(c) {
                c
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect();
    if cleaned.is_empty() {
        "handed off".to_owned()
    } else {
        cleaned
    }
}

/// `object` as a one-record S3 notification: what the function reads from
/// any queue, with the event's ETag, version and sequencer, so the next
/// attempt copies the same object and finds the same checkpoint.
pub fn notification(object: &ObjectCreated) -> serde_json::Value {
    let event_name = if object.event_name.starts_with(OBJECT_CREATED_PREFIX) {
        object.event_name.as_str()
    } else {
        HANDOFF_EVENT_NAME
    };
    let mut described = serde_json::json!({ "key": encode_key(&object.key) });
    for (field, value) in [
        ("eTag", object.etag.clone().map(serde_json::Value::from)),
        ("versionId", object.version_id.clone().map(Into::into)),
        ("sequencer", object.sequencer.clone().map(Into::into)),
        ("size", object.size.map(Into::into)),
    ] {
        if let Some(value) = value {
            described[field] = value;
        }
    }
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": object.region.clone().unwrap_or_default(),
            "eventName": event_name,
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": { "name": object.bucket, "arn": format!("arn:aws:s3:::{}", object.bucket) },
                "object": described,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Envelope, Item, parse};

    fn object(event_name: &str) -> ObjectCreated {
        ObjectCreated {
            event_name: event_name.to_owned(),
            bucket: "source".to_owned(),
            key: "a dir/ü+b.bin".to_owned(),
            size: Some(42),
            etag: Some("0123456789abcdef0123456789abcdef".to_owned()),
            version_id: Some("v1".to_owned()),
            sequencer: Some("0067A1B2C3D4E5F601".to_owned()),
            region: Some("eu-west-1".to_owned()),
        }
    }

    /// What the next attempt reads is the record that handed off.
    #[test]
    fn a_handoff_reads_back_as_the_same_record() {
        let sent = object("ObjectCreated:CompleteMultipartUpload");
        let Envelope::Notification(items) = parse(notification(&sent)).unwrap() else {
            panic!("not a notification");
        };
        assert_eq!(items, vec![Item::Copy(sent)]);
    }

    #[test]
    fn an_eventbridge_record_hands_off_as_an_object_created_record() {
        let Envelope::Notification(items) = parse(notification(&object("Object Created"))).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(
            items,
            vec![Item::Copy(ObjectCreated {
                event_name: HANDOFF_EVENT_NAME.to_owned(),
                ..object("")
            })]
        );
    }

    #[test]
    fn attribute_text_is_what_sqs_accepts() {
        assert_eq!(
            attribute_text("s3://b/a\u{1}b: 10%"),
            "s3://b/a\u{FFFD}b: 10%"
        );
        assert_eq!(attribute_text("tab\tok"), "tab\tok");
        assert_eq!(attribute_text(""), "handed off");
    }

    #[test]
    fn the_region_comes_from_the_queue_url() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/work";
        assert_eq!(region_of(url), Some("eu-west-1"));
        let legacy = "https://us-east-2.queue.amazonaws.com/123456789012/work";
        assert_eq!(region_of(legacy), Some("us-east-2"));
        assert_eq!(region_of("http://127.0.0.1:5000/123456789012/work"), None);
        assert_eq!(
            region_of("https://sqs.cn-north-1.amazonaws.com.cn/1/w"),
            Some("cn-north-1")
        );
    }
}
