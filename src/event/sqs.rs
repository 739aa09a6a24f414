//! SQS batches whose message bodies are S3 notifications.

use serde::Deserialize;
use std::collections::HashMap;

/// An SQS event.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsEvent {
    /// The messages.
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

/// One SQS message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    /// The id reported back in `batchItemFailures`.
    pub message_id: String,
    /// The body: an S3 notification or test event, as JSON text.
    pub body: String,
    /// `aws:sqs`.
    pub event_source: String,
    /// The message's attributes, by name.
    #[serde(default)]
    pub message_attributes: HashMap<String, MessageAttribute>,
}

/// One message attribute, as Lambda passes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttribute {
    /// A `String` or `Number` attribute's value.
    #[serde(default)]
    pub string_value: Option<String>,
}
