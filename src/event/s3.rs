//! S3 event notifications (`Records[].s3`) and the `s3:TestEvent`.

use serde::Deserialize;

/// An S3 notification document.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Notification {
    /// The records.
    #[serde(rename = "Records")]
    pub records: Vec<S3Record>,
}

/// One notification record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Record {
    /// e.g. `ObjectCreated:Put`.
    pub event_name: String,
    /// The bucket's region.
    #[serde(default)]
    pub aws_region: String,
    /// The `s3` entity.
    pub s3: S3Entity,
}

/// The `s3` entity of a record.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Entity {
    /// Bucket.
    pub bucket: S3Bucket,
    /// Object.
    pub object: S3Object,
}

/// The bucket of a record.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Bucket {
    /// Its name.
    pub name: String,
}

/// The object of a record; the key is form-encoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// Form-encoded key.
    pub key: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// ETag without quotes.
    #[serde(default)]
    pub e_tag: Option<String>,
    /// Version id (versioned buckets).
    #[serde(default)]
    pub version_id: Option<String>,
    /// Orders events of one key.
    #[serde(default)]
    pub sequencer: Option<String>,
}

/// The event S3 sends when a notification is configured.
#[derive(Debug, Clone, Deserialize)]
pub struct S3TestEvent {
    /// Always `s3:TestEvent`.
    #[serde(rename = "Event")]
    pub event: String,
    /// The bucket.
    #[serde(rename = "Bucket", default)]
    pub bucket: String,
}
