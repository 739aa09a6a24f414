//! S3 "Object Created" events delivered by EventBridge (raw, not form-encoded, keys).

use serde::Deserialize;

/// An EventBridge event from `aws.s3`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventBridgeEvent {
    /// `Object Created`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// `aws.s3`.
    pub source: String,
    /// The region.
    #[serde(default)]
    pub region: String,
    /// The S3 detail.
    pub detail: EventBridgeDetail,
}

/// The `detail` of an S3 EventBridge event.
#[derive(Debug, Clone, Deserialize)]
pub struct EventBridgeDetail {
    /// Bucket.
    pub bucket: EventBridgeBucket,
    /// Object.
    pub object: EventBridgeObject,
}

/// The bucket of an EventBridge event.
#[derive(Debug, Clone, Deserialize)]
pub struct EventBridgeBucket {
    /// Its name.
    pub name: String,
}

/// The object of an EventBridge event; the key is raw.
#[derive(Debug, Clone, Deserialize)]
pub struct EventBridgeObject {
    /// Raw key.
    pub key: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// Version id.
    #[serde(rename = "version-id", default)]
    pub version_id: Option<String>,
    /// Sequencer.
    #[serde(default)]
    pub sequencer: Option<String>,
}
