//! SNS notifications of S3 events: delivered to the function directly (`Records[].Sns`) or as an SQS message body.

use serde::Deserialize;

/// `Type` of an SNS message that carries a published message.
pub const NOTIFICATION: &str = "Notification";

/// An SNS notification: the published `Message` (here an S3 event as JSON text).
#[derive(Debug, Clone, Deserialize)]
pub struct SnsNotification {
    /// `Notification` (SNS also sends `SubscriptionConfirmation` to HTTP endpoints).
    #[serde(rename = "Type")]
    pub kind: String,
    /// The published message.
    #[serde(rename = "Message")]
    pub message: String,
}

/// S3 → SNS → Lambda: one record per SNS delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsEvent {
    /// The deliveries.
    #[serde(rename = "Records")]
    pub records: Vec<SnsRecord>,
}

/// One SNS delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsRecord {
    /// `aws:sns`.
    #[serde(rename = "EventSource")]
    pub event_source: String,
    /// The notification.
    #[serde(rename = "Sns")]
    pub sns: SnsNotification,
}
