//! The events the function accepts: S3 notifications (direct, or through SNS),
//! SQS batches whose bodies hold them (direct, SNS-wrapped or EventBridge
//! events), EventBridge "Object Created" events, S3 Batch Operations
//! invocations, and `s3:TestEvent`.

pub mod batch;
pub mod eventbridge;
pub mod key;
pub mod s3;
pub mod sns;
pub mod sqs;

pub use batch::{BatchJob, BatchTask};
pub use key::{KeyError, decode_key, encode_key};

use serde_json::Value;

/// The prefix of the S3 event names this function copies.
pub const OBJECT_CREATED_PREFIX: &str = "ObjectCreated:";

/// The detail type of an EventBridge object-created event.
pub const EVENTBRIDGE_OBJECT_CREATED: &str = "Object Created";

/// A new object to copy, with its key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// e.g. `ObjectCreated:Put` (or `Object Created` from EventBridge).
    pub event_name: String,
    /// Bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Announced size.
    pub size: Option<u64>,
    /// Announced eTag.
    pub etag: Option<String>,
    /// Announced version.
    pub version_id: Option<String>,
    /// The event's sequencer: orders the events of one key.
    pub sequencer: Option<String>,
    /// The source bucket's region, as the event names it.
    pub region: Option<String>,
}

/// One record of an event, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An object to copy.
    Copy(ObjectCreated),
    /// A record of another kind (e.g. `ObjectRemoved:Delete`), reported as skipped.
    Skip {
        /// Its event name.
        event_name: String,
        /// Bucket.
        bucket: String,
        /// Key, as sent.
        key: String,
    },
    /// A record that cannot be used (e.g. its key does not decode).
    Invalid {
        /// Bucket.
        bucket: String,
        /// Key, as sent.
        key: String,
        /// Why.
        reason: String,
    },
}

impl Item {
    /// The bucket and key the item names, as sent.
    pub fn source(&self) -> (&str, &str) {
        match self {
            Item::Copy(object) => (&object.bucket, &object.key),
            Item::Skip { bucket, key, .. } | Item::Invalid { bucket, key, .. } => (bucket, key),
        }
    }
}

/// One SQS message and what its body held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsItem {
    /// Reported back in `batchItemFailures` when any of its records failed.
    pub message_id: String,
    /// Hops the record has made through the work queue (the message
    /// attribute [`crate::work_queue::HOPS_ATTRIBUTE`]; 0 when it is no
    /// hand-off).
    pub hops: u32,
    /// The fan-out segment the message is (its attributes
    /// [`crate::work_queue::UPLOAD_ATTRIBUTE`] and
    /// [`crate::work_queue::SEGMENT_ATTRIBUTE`]).
    pub segment: Option<s3_stream_engine::copy::fan_out::Segment>,
    /// The body's records, or why it could not be read.
    pub items: Result<Vec<Item>, String>,
}

/// An invocation's event, by envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// An S3 notification (possibly with zero records).
    Notification(Vec<Item>),
    /// An SQS batch; answered with a partial-batch response.
    Sqs(Vec<SqsItem>),
    /// An EventBridge event.
    EventBridge(Vec<Item>),
    /// An S3 Batch Operations invocation; answered with one result per task.
    BatchOperations(BatchJob),
    /// `s3:TestEvent`: acknowledged, nothing copied.
    Test {
        /// The bucket being configured.
        bucket: String,
    },
}

/// Why an event is not one this function accepts.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported event: {0}; expected an s3 notification (direct or through sns), an sqs batch of them, an eventbridge \"Object Created\" event, an s3 batch operations invocation or s3:TestEvent"
)]
pub struct EventError(String);

fn classify_s3_record(record: s3::S3Record) -> Item {
    let bucket = record.s3.bucket.name;
    let raw_key = record.s3.object.key;
    if !record.event_name.starts_with(OBJECT_CREATED_PREFIX) {
        return Item::Skip {
            event_name: record.event_name,
            bucket,
            key: raw_key,
        };
    }
    match decode_key(&raw_key) {
        Ok(key) => Item::Copy(ObjectCreated {
            event_name: record.event_name,
            bucket,
            key,
            size: record.s3.object.size,
            etag: record.s3.object.e_tag,
            version_id: record.s3.object.version_id,
            sequencer: record.s3.object.sequencer,
            region: Some(record.aws_region).filter(|region| !region.is_empty()),
        }),
        Err(error) => Item::Invalid {
            bucket,
            key: raw_key,
            reason: error.to_string(),
        },
    }
}

/// Reads an S3 notification or test event (what S3 itself sends, also as an
/// SQS body).
fn parse_s3(value: Value) -> Result<Envelope, EventError> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        let test: s3::S3TestEvent = serde_json::from_value(value)
            .map_err(|e| EventError(format!("malformed s3:TestEvent: {e}")))?;
        return Ok(Envelope::Test {
            bucket: test.bucket,
        });
    }
    let notification: s3::S3Notification = serde_json::from_value(value)
        .map_err(|e| EventError(format!("malformed s3 notification: {e}")))?;
    Ok(Envelope::Notification(
        notification
            .records
            .into_iter()
            .map(classify_s3_record)
            .collect(),
    ))
}

fn parse_sqs(value: Value) -> Result<Envelope, EventError> {
    let event: sqs::SqsEvent = serde_json::from_value(value)
        .map_err(|e| EventError(format!("malformed sqs event: {e}")))?;
    let items = event
        .records
        .into_iter()
        .map(|message| {
            let items = serde_json::from_str::<Value>(&message.body)
                .map_err(|e| format!("message body is not json: {e}"))
                .and_then(|body| parse_body(body).map_err(|e| e.to_string()));
            let hops = message
                .message_attributes
                .get(crate::work_queue::HOPS_ATTRIBUTE)
                .and_then(|attribute| attribute.string_value.as_deref()?.parse().ok())
                .unwrap_or(0);
            let attribute = |name: &str| {
                message
                    .message_attributes
                    .get(name)
                    .and_then(|attribute| attribute.string_value.as_deref())
            };
            let segment = crate::work_queue::segment_of(
                attribute(crate::work_queue::UPLOAD_ATTRIBUTE),
                attribute(crate::work_queue::SEGMENT_ATTRIBUTE),
                attribute(crate::work_queue::CLAIM_ATTRIBUTE),
                &message.message_id,
            );
            SqsItem {
                message_id: message.message_id,
                hops,
                segment,
                items,
            }
        })
        .collect();
    Ok(Envelope::Sqs(items))
}

/// The items of a message body: an S3 notification or test event, an SNS
/// notification wrapping one, or an EventBridge event.
fn parse_body(value: Value) -> Result<Vec<Item>, EventError> {
    if value.get("Type").is_some() && value.get("Message").is_some() {
        return parse_sns_message(value);
    }
    let envelope = if value.get("detail-type").is_some() {
        parse_eventbridge_checked(value)?
    } else {
        parse_s3(value)?
    };
    Ok(match envelope {
        Envelope::Notification(items) | Envelope::EventBridge(items) => items,
        _ => Vec::new(),
    })
}

/// The S3 event an SNS notification carries (none for a test event).
fn parse_sns_message(value: Value) -> Result<Vec<Item>, EventError> {
    let notification: sns::SnsNotification = serde_json::from_value(value)
        .map_err(|e| EventError(format!("malformed sns notification: {e}")))?;
    sns_items(notification)
}

/// The items of the S3 event `notification` carries.
fn sns_items(notification: sns::SnsNotification) -> Result<Vec<Item>, EventError> {
    if notification.kind != sns::NOTIFICATION {
        return Err(EventError(format!(
            "sns message of type {}, not {}",
            notification.kind,
            sns::NOTIFICATION
        )));
    }
    let message = serde_json::from_str::<Value>(&notification.message)
        .map_err(|e| EventError(format!("sns message is not json: {e}")))?;
    match parse_s3(message)? {
        Envelope::Notification(items) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

/// S3 → SNS → Lambda: the items of every delivery, as one notification.
fn parse_sns(value: Value) -> Result<Envelope, EventError> {
    let event: sns::SnsEvent = serde_json::from_value(value)
        .map_err(|e| EventError(format!("malformed sns event: {e}")))?;
    let mut items = Vec::new();
    for record in event.records {
        items.extend(sns_items(record.sns)?);
    }
    Ok(Envelope::Notification(items))
}

/// An EventBridge event, refused unless it comes from S3.
fn parse_eventbridge_checked(value: Value) -> Result<Envelope, EventError> {
    if value.get("source").and_then(Value::as_str) != Some("aws.s3") {
        return Err(EventError("eventbridge event is not from aws.s3".into()));
    }
    parse_eventbridge(value)
}

fn parse_eventbridge(value: Value) -> Result<Envelope, EventError> {
    let event: eventbridge::EventBridgeEvent = serde_json::from_value(value)
        .map_err(|e| EventError(format!("malformed eventbridge event: {e}")))?;
    let object = event.detail.object;
    let item = if event.detail_type == EVENTBRIDGE_OBJECT_CREATED {
        Item::Copy(ObjectCreated {
            event_name: event.detail_type,
            bucket: event.detail.bucket.name,
            key: object.key,
            size: object.size,
            etag: object.etag,
            version_id: object.version_id,
            sequencer: object.sequencer,
            region: Some(event.region.clone()).filter(|region| !region.is_empty()),
        })
    } else {
        Item::Skip {
            event_name: event.detail_type,
            bucket: event.detail.bucket.name,
            key: object.key,
        }
    };
    Ok(Envelope::EventBridge(vec![item]))
}

/// Classifies an event by its envelope.
pub fn parse(value: Value) -> Result<Envelope, EventError> {
    if !value.is_object() {
        return Err(EventError(format!(
            "the event is a json {}, not an object",
            json_kind(&value)
        )));
    }
    if value.get("Event").is_some() {
        return parse_s3(value);
    }
    if value.get("detail-type").is_some() {
        return parse_eventbridge_checked(value);
    }
    if value.get("invocationSchemaVersion").is_some() {
        let event: batch::BatchEvent = serde_json::from_value(value)
            .map_err(|e| EventError(format!("malformed s3 batch operations invocation: {e}")))?;
        return Ok(Envelope::BatchOperations(batch::job(event)));
    }
    let Some(records) = value.get("Records").and_then(Value::as_array) else {
        return Err(EventError("no Records, detail-type or Event field".into()));
    };
    let first = records.first();
    let from = |field: &str| first.and_then(|r| r.get(field)).and_then(Value::as_str);
    if from("eventSource") == Some("aws:sqs") {
        parse_sqs(value)
    } else if from("EventSource") == Some("aws:sns") {
        parse_sns(value)
    } else {
        parse_s3(value)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture of `tests/fixtures/events`, compiled in: a missing one fails the build.
    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/events/",
                $name
            )))
            .expect("fixture is json")
        };
    }

    #[test]
    fn reads_a_put_notification_and_decodes_its_key() {
        let value = fixture!("s3-put.json");
        let Envelope::Notification(items) = parse(value).unwrap() else {
            panic!()
        };
        let Item::Copy(object) = &items[0] else {
            panic!()
        };
        assert_eq!(object.key, "requests/2026/11/26/rest api (copy) ü.json");
        assert_eq!(object.size, Some(1_048_576));
        assert_eq!(object.sequencer.as_deref(), Some("0067A1B2C3D4E5F601"));
    }

    #[test]
    fn a_segment_message_says_its_upload_and_parts() {
        let mut value = fixture!("sqs-s3.json");
        let attributes = serde_json::json!({
            "S3StreamLambdaUploadId": { "stringValue": "upload-1", "dataType": "String" },
            "S3StreamLambdaSegment": { "stringValue": "5-8", "dataType": "String" },
        });
        value["Records"][0]["messageAttributes"] = attributes;
        value["Records"][1]["messageAttributes"] = serde_json::json!({
            "S3StreamLambdaUploadId": { "stringValue": "upload-1", "dataType": "String" },
            "S3StreamLambdaSegment": { "stringValue": "8-5", "dataType": "String" },
        });
        let Envelope::Sqs(messages) = parse(value).unwrap() else {
            panic!()
        };
        let segment = messages[0].segment.as_ref().expect("a segment");
        assert_eq!(
            (segment.upload_id.as_str(), segment.first, segment.last),
            ("upload-1", 5, 8)
        );
        assert_eq!(
            messages[1].segment, None,
            "an unreadable range is no segment"
        );
    }

    #[test]
    fn reads_every_fixture_shape() {
        let multi = fixture!("s3-multi-record.json");
        let Envelope::Notification(items) = parse(multi).unwrap() else {
            panic!()
        };
        assert!(
            matches!(&items[1], Item::Copy(o) if o.key == "big/part+plus.bin" && o.version_id.is_some())
        );
        assert!(
            matches!(&items[2], Item::Skip { event_name, .. } if event_name == "ObjectRemoved:Delete")
        );
        assert!(matches!(
            parse(fixture!("s3-test-event.json")).unwrap(),
            Envelope::Test { .. }
        ));
        let Envelope::Sqs(messages) = parse(fixture!("sqs-s3.json")).unwrap() else {
            panic!()
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].items.as_ref().unwrap().len(), 1);
        assert!(messages[1].items.as_ref().unwrap().is_empty());
        let Envelope::EventBridge(items) =
            parse(fixture!("eventbridge-object-created.json")).unwrap()
        else {
            panic!()
        };
        assert!(
            matches!(&items[0], Item::Copy(o) if o.key == "requests/2026/11/26/raw:batch 7.json"
                && o.sequencer.as_deref() == Some("00617F08299329D189"))
        );
    }

    #[test]
    fn unwraps_sns_and_eventbridge_bodies_and_direct_sns() {
        let Envelope::Sqs(messages) = parse(fixture!("sqs-sns-and-eventbridge.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(messages.len(), 2);
        for message in &messages {
            let items = message.items.as_ref().unwrap();
            assert_eq!(items.len(), 1, "{}", message.message_id);
            assert!(matches!(&items[0], Item::Copy(_)), "{items:?}");
        }
        let Item::Copy(wrapped) = &messages[0].items.as_ref().unwrap()[0] else {
            panic!()
        };
        assert_eq!(wrapped.key, "requests/2026/11/26/rest api (copy) ü.json");
        assert_eq!(wrapped.region.as_deref(), Some("us-west-2"));
        let Envelope::Notification(items) = parse(fixture!("sns-s3.json")).unwrap() else {
            panic!()
        };
        let Item::Copy(direct) = &items[0] else {
            panic!()
        };
        assert_eq!(direct.key, "requests/2026/11/26/rest api (copy) ü.json");
        assert_eq!(direct.sequencer.as_deref(), Some("0067A1B2C3D4E5F601"));
    }

    #[test]
    fn refuses_wrapped_bodies_that_are_not_s3_events() {
        let body = |body: Value| {
            serde_json::json!({"Records": [{
                "messageId": "m1", "eventSource": "aws:sqs", "body": body.to_string()
            }]})
        };
        let cases = [
            (
                body(serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "{}"})),
                "sns message of type SubscriptionConfirmation",
            ),
            (
                body(serde_json::json!({"Type": "Notification", "Message": "not json"})),
                "sns message is not json",
            ),
            (
                body(serde_json::json!({"detail-type": "Object Created", "source": "aws.ec2"})),
                "not from aws.s3",
            ),
        ];
        for (event, expected) in cases {
            let Envelope::Sqs(messages) = parse(event).unwrap() else {
                panic!()
            };
            let error = messages[0].items.as_ref().unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn reads_batch_operations_1_0_and_2_0() {
        let Envelope::BatchOperations(job) =
            parse(fixture!("s3-batch-operations-1.0.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(job.schema_version, "1.0");
        assert!(job.user_arguments.is_empty());
        let Item::Copy(object) = &job.tasks[0].item else {
            panic!("{job:?}")
        };
        assert_eq!(job.tasks[0].task_id, "dGFza2lkZ29lc2hlcmUK");
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            ("amzn-s3-demo-bucket1", "customer images/photo€1.jpg")
        );
        assert_eq!(object.version_id.as_deref(), Some("1"));
        let Envelope::BatchOperations(job) =
            parse(fixture!("s3-batch-operations-2.0.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(job.user_arguments["dstPrefix"], "archive/");
        let Item::Copy(object) = &job.tasks[0].item else {
            panic!("{job:?}")
        };
        assert_eq!(object.key, "large/dataset.parquet");
        assert_eq!(object.version_id, None);
        let access_point = serde_json::json!({
            "invocationSchemaVersion": "1.0", "invocationId": "i", "job": {"id": "j"},
            "tasks": [{"taskId": "t", "s3Key": "k", "s3VersionId": null,
                       "s3BucketArn": "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"}]
        });
        let Envelope::BatchOperations(job) = parse(access_point).unwrap() else {
            panic!()
        };
        assert!(
            matches!(&job.tasks[0].item, Item::Invalid { reason, .. } if reason.contains("not an s3 bucket arn"))
        );
    }

    #[test]
    fn empty_records_are_fine_and_unknown_shapes_are_not() {
        assert_eq!(
            parse(serde_json::json!({"Records": []})).unwrap(),
            Envelope::Notification(vec![])
        );
        assert!(parse(serde_json::json!({"hello": 1})).is_err());
        assert!(parse(serde_json::json!([1])).is_err());
    }
}
