//! The checkpoint object: what a later attempt needs to trust and resume an open upload, kept in the destination bucket.

use crate::copy::error::{CopyError, SdkFailure};
use crate::copy::failure_class::FailureClass;
use crate::copy::part_size::PartSchedule;
use crate::copy::source::{Pin, ResolvedSource};
use crate::copy::upload::{Destination, crc64nvme};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

/// The destination prefix this function keeps its own state under: never
/// a copy's destination, skipped by the recursion guard, expired by the
/// lifecycle rule in `deploy/`.
pub const RESERVED_PREFIX: &str = ".s3-stream-lambda/";

/// Where checkpoints live, under [`RESERVED_PREFIX`].
pub const CHECKPOINT_PREFIX: &str = ".s3-stream-lambda/checkpoints/";

/// The checkpoint format's version: a checkpoint of another version is not
/// trusted (its upload is aborted and the copy starts over).
pub const FORMAT_VERSION: u32 = 1;

/// The checkpoint's key: one per source key and destination, whatever the
/// source's version, so that an attempt for a newer version finds (and
/// aborts) the upload of an older one.
pub fn key(source: &ResolvedSource, destination: &Destination) -> String {
    let name = format!(
        "{}\n{}\n{}\n{}",
        source.spec.bucket, source.spec.key, destination.bucket, destination.key
    );
    format!(
        "{CHECKPOINT_PREFIX}{:016x}.json",
        crc64nvme(name.as_bytes())
    )
}

/// What a copy records of its source: a later attempt resumes only when
/// the source is still this object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRecord {
    pub bucket: String,
    pub key: String,
    /// The version reads are pinned to, on versioned buckets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The eTag reads are pinned to, when there is no version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub size: u64,
    /// The event's sequencer: a newer one takes the copy over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

impl SourceRecord {
    /// The record of `source`.
    pub fn of(source: &ResolvedSource) -> SourceRecord {
        let (version_id, etag) = match &source.pin {
            Pin::Version(version) => (Some(version.clone()), None),
            Pin::ETag(etag) => (None, Some(etag.clone())),
        };
        SourceRecord {
            bucket: source.spec.bucket.clone(),
            key: source.spec.key.clone(),
            version_id,
            etag,
            size: source.size,
            sequencer: source.spec.sequencer.clone(),
        }
    }

    /// Whether this is the same object (bucket, key, pin and size).
    pub fn same_object(&self, other: &SourceRecord) -> bool {
        self.bucket == other.bucket
            && self.key == other.key
            && self.version_id == other.version_id
            && self.etag == other.etag
            && self.size == other.size
            // The same bytes uploaded again keep their ETag but are another
            // event (other metadata, tags, origin): not resumed.
            && (self.sequencer.is_none() || other.sequencer.is_none() || self.sequencer == other.sequencer)
    }
}

/// The part plan a copy follows: a later attempt keeps it whatever today's
/// configuration says, so its parts fit the ones S3 already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartPlan {
    /// `server` (`UploadPartCopy`) or `stream` (parts sent by the function).
    pub method: crate::copy::CopyMethod,
    /// Every part but the last has this size.
    pub part_size: u64,
    /// How many parts.
    pub parts: u64,
    /// The object's size.
    pub size: u64,
}

impl PartPlan {
    /// Whether the plan is one S3 accepts: parts of 5 MiB–5 GiB, at most
    /// 10,000, covering the size exactly (a damaged checkpoint is not).
    pub fn is_valid(&self) -> bool {
        use crate::copy::part_size::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};
        (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size)
            && self.parts <= MAX_PARTS
            && self.parts == self.size.div_ceil(self.part_size).max(1)
    }

    /// The size of part `number` (from 1); `None` outside the plan.
    pub fn part_len(&self, number: u64) -> Option<u64> {
        if number == 0 || number > self.parts {
            return None;
        }
        let start = (number - 1) * self.part_size;
        Some(self.part_size.min(self.size - start))
    }
}

/// The checkpoint object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub version: u32,
    pub source: SourceRecord,
    pub destination_bucket: String,
    pub destination_key: String,
    pub upload_id: String,
    pub plan: PartPlan,
    /// Attempts begun, this one included.
    pub attempts: u32,
    /// Bytes S3 had when each attempt began (the first attempt's is 0).
    pub bytes_at_start: Vec<u64>,
    /// For a transformed copy: how its output restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformed: Option<Transformed>,
    /// For a fanned-out copy: the invocation that claimed its completion
    /// (a conditional write), so one segment completes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completing: Option<Claim>,
}

/// A fan-out segment's claim to complete the copy: its invocation's own
/// token, until that invocation is surely over (its stop, the completion's
/// grace and a clock's slack, in Unix milliseconds). A claim past its time
/// is taken over: the claimant crashed, or failed and is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// The claiming invocation's token.
    pub by: String,
    /// When the claim lapses.
    pub until_unix_ms: u64,
}

/// What a transformed copy needs to resume: its output's length is known
/// only as it is made, so the plan is the part schedule, and the point to
/// restart from is recorded as parts finish ([`Restart`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transformed {
    /// The transform's name: another one makes other bytes.
    pub transform: String,
    /// Input bytes per restart unit ([`crate::transform::Transform::restart_unit`]).
    pub unit: u64,
    /// The part schedule the output is cut by.
    pub schedule: PartSchedule,
    /// Where the next attempt starts.
    pub restart: Restart,
}

impl Transformed {
    /// Whether `other` makes the same parts (the restart aside).
    pub fn same_plan(&self, other: &Transformed) -> bool {
        self.transform == other.transform
            && self.unit == other.unit
            && self.schedule == other.schedule
    }
}

/// A point a transformed copy restarts from: parts `1..=parts_done` are in
/// S3 (`bytes_done` bytes); a fresh transform fed the input from
/// `input_offset` makes, first, the last `skip` bytes of part `parts_done`
/// (whose CRC64NVME is `skip_crc64nvme`: the check that it makes the same
/// bytes), then part `parts_done + 1` on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restart {
    pub parts_done: u64,
    pub bytes_done: u64,
    pub input_offset: u64,
    pub skip: u64,
    pub skip_crc64nvme: u64,
}

impl Checkpoint {
    /// Whether the checkpoint names this copy's destination (two copies
    /// whose names hash alike never share a checkpoint).
    pub fn names(&self, destination: &Destination) -> bool {
        self.destination_bucket == destination.bucket && self.destination_key == destination.key
    }
}

/// A checkpoint as read, with the ETag a conditional replacement names.
#[derive(Debug, Clone)]
pub struct Stored {
    pub checkpoint: Checkpoint,
    pub etag: String,
}

/// What reading a checkpoint found.
#[derive(Debug)]
pub enum Read {
    /// No checkpoint: the first attempt.
    Missing,
    /// A checkpoint this version can read.
    Found(Box<Stored>),
    /// An object under the key this version cannot read (another format
    /// version, damaged): replaced by the next write, under its ETag.
    Unreadable { etag: String },
}

/// Why a checkpoint write did not happen.
#[derive(Debug)]
pub enum WriteFailed {
    /// The precondition failed: another attempt wrote (or removed) it first.
    Raced,
    /// Any other failure.
    Failed(CopyError),
}

fn checkpoint_error<E>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    error: SdkError<E>,
) -> CopyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    CopyError::Checkpoint {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        class: FailureClass::of_sdk(&error),
        source: Box::new(error) as SdkFailure,
    }
}

/// Reads the checkpoint at `key`.
pub async fn read(client: &Client, bucket: &str, key: &str) -> Result<Read, CopyError> {
    let output = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(output) => output,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            return Ok(Read::Missing);
        }
        Err(error) => return Err(checkpoint_error("read checkpoint", bucket, key, error)),
    };
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let body = output
        .body
        .collect()
        .await
        .map_err(|e| CopyError::Checkpoint {
            operation: "read checkpoint",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            class: FailureClass::Transient,
            source: Box::new(e) as SdkFailure,
        })?;
    Ok(
        match serde_json::from_slice::<Checkpoint>(&body.into_bytes()) {
            Ok(checkpoint) if checkpoint.version == FORMAT_VERSION => {
                Read::Found(Box::new(Stored { checkpoint, etag }))
            }
            _ => Read::Unreadable { etag },
        },
    )
}

/// How a write is conditioned.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// `If-None-Match: *`: concurrent first attempts elect one upload.
    Absent,
    /// `If-Match`: the checkpoint read, unchanged since.
    Etag(&'a str),
}

/// Writes `checkpoint` under `expect`; its new ETag.
pub async fn write(
    client: &Client,
    bucket: &str,
    key: &str,
    checkpoint: &Checkpoint,
    expect: Expect<'_>,
) -> Result<String, WriteFailed> {
    let body = serde_json::to_vec(checkpoint).unwrap_or_default();
    let request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body));
    let request = match expect {
        Expect::Absent => request.if_none_match("*"),
        Expect::Etag(etag) => request.if_match(etag),
    };
    match request.send().await {
        Ok(output) => Ok(output.e_tag().unwrap_or_default().to_owned()),
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let code = error.as_service_error().and_then(|e| e.code());
            // A 404 under `If-Match`: another attempt removed it meanwhile.
            if matches!(status, Some(412) | Some(409) | Some(404))
                || matches!(
                    code,
                    Some("PreconditionFailed") | Some("ConditionalRequestConflict")
                )
            {
                Err(WriteFailed::Raced)
            } else {
                Err(WriteFailed::Failed(checkpoint_error(
                    "write checkpoint",
                    bucket,
                    key,
                    error,
                )))
            }
        }
    }
}

/// Deletes the checkpoint at `key` (a failure is logged: a checkpoint
/// whose upload is gone is harmless, the next attempt starts over, and the
/// lifecycle rule expires it).
pub async fn remove(client: &Client, bucket: &str, key: &str) {
    if let Err(error) = client.delete_object().bucket(bucket).key(key).send().await {
        tracing::warn!(
            "could not delete checkpoint s3://{bucket}/{key}: {} (harmless: the lifecycle rule expires it)",
            aws_sdk_s3::error::DisplayErrorContext(&error)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::CopyMethod;

    #[test]
    fn part_lengths_follow_the_plan() {
        let plan = PartPlan {
            method: CopyMethod::Stream,
            part_size: 10,
            parts: 3,
            size: 25,
        };
        assert_eq!(plan.part_len(0), None);
        assert_eq!(plan.part_len(1), Some(10));
        assert_eq!(plan.part_len(3), Some(5));
        assert_eq!(plan.part_len(4), None);
    }

    #[test]
    fn checkpoints_live_under_the_reserved_prefix() {
        assert!(CHECKPOINT_PREFIX.starts_with(RESERVED_PREFIX));
        let source = ResolvedSource {
            spec: crate::copy::SourceSpec {
                bucket: "a".into(),
                key: "k".into(),
                ..Default::default()
            },
            size: 1,
            pin: Pin::ETag("\"e\"".into()),
            checksum: crate::copy::SourceChecksum::None,
            metadata: None,
        };
        let destination = Destination {
            bucket: "b".into(),
            key: "k".into(),
        };
        let key = key(&source, &destination);
        assert!(key.starts_with(CHECKPOINT_PREFIX) && key.ends_with(".json"));
        let other = Destination {
            bucket: "b".into(),
            key: "k2".into(),
        };
        assert_ne!(key, super::key(&source, &other));
    }
}
