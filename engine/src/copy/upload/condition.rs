//! Newest wins: the destination records the source event's sequencer, and
//! writes are conditional on the destination S3 saw when we decided.

use super::{Destination, Written, write_error};
use crate::copy::error::CopyError;
use crate::copy::source::{Pin, ResolvedSource};
use aws_sdk_s3::Client;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// User metadata (`x-amz-meta-…`) naming the sequencer of the event copied.
pub const META_SOURCE_SEQUENCER: &str = "s3sl-source-sequencer";
/// User metadata naming the source version copied.
pub const META_SOURCE_VERSION_ID: &str = "s3sl-source-version-id";
/// User metadata naming the source eTag copied.
pub const META_SOURCE_ETAG: &str = "s3sl-source-etag";

/// The keys of [`source_origin`]: what a destination records of its source.
const ORIGIN_KEYS: [&str; 3] = [
    META_SOURCE_SEQUENCER,
    META_SOURCE_VERSION_ID,
    META_SOURCE_ETAG,
];

/// The part of `user` metadata that records the source ([`ORIGIN_KEYS`]).
pub fn recorded_origin(user: &HashMap<String, String>) -> HashMap<String, String> {
    ORIGIN_KEYS
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), user.get(*key)?.clone())))
        .collect()
}

/// Writes retried after a failed condition: once, as a newer write landing
/// between our `HeadObject` and our write is rare and a second one rarer.
pub const CONDITION_RETRIES: usize = 1;

/// Orders two sequencers of one key as AWS documents: the shorter is padded
/// with zeros on the right, then the hexadecimal strings compare
/// lexicographically (case folded).
pub fn compare_sequencers(a: &str, b: &str) -> Ordering {
    let width = a.len().max(b.len());
    let pad = |s: &str| format!("{:0<width$}", s.to_ascii_uppercase());
    pad(a).cmp(&pad(b))
}

/// The precondition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Write whatever is there (copies without a sequencer).
    Unconditional,
    /// `If-Match`: only over the destination we looked at.
    IfMatch(String),
    /// `If-None-Match: *`: only where there is no destination yet.
    IfNoneMatch,
}

impl WriteCondition {
    /// The `If-Match` header value.
    pub fn if_match(&self) -> Option<String> {
        match self {
            WriteCondition::IfMatch(etag) => Some(etag.clone()),
            _ => None,
        }
    }

    /// The `If-None-Match` header value.
    pub fn if_none_match(&self) -> Option<String> {
        matches!(self, WriteCondition::IfNoneMatch).then(|| "*".to_owned())
    }
}

/// What to do about the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write under this condition.
    Write(WriteCondition),
    /// The destination holds a copy of the same or a newer event: do not write.
    Superseded,
}

/// How a write ended.
#[derive(Debug, Clone)]
pub enum Completion {
    /// The object was written.
    Written(Written),
    /// A newer copy is (or landed) there; nothing of ours was written.
    Superseded,
    /// A fan-out segment's parts are in S3, not yet every part: the segment
    /// that finds them all completes the upload.
    Deferred,
}

/// The sequencer of the event being copied, and where it goes.
#[derive(Debug, Clone)]
pub struct NewestWins {
    /// The client.
    pub client: Client,
    /// The destination.
    pub destination: Destination,
    /// The source event's sequencer.
    pub sequencer: String,
}

impl NewestWins {
    /// `HeadObject` of the destination: superseded when it records a
    /// sequencer ≥ ours, else the condition that keeps it as we saw it.
    ///
    /// # Cancellation
    ///
    /// Dropping the future only drops the request.
    pub async fn decide(&self) -> Result<Decision, CopyError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.destination.bucket)
            .key(&self.destination.key)
            .send()
            .await;
        let output = match head {
            Ok(output) => output,
            Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                return Ok(Decision::Write(WriteCondition::IfNoneMatch));
            }
            Err(error) => return Err(write_error("head", &self.destination, error)),
        };
        let recorded = output
            .metadata()
            .and_then(|metadata| metadata.get(META_SOURCE_SEQUENCER));
        if let Some(recorded) = recorded
            && compare_sequencers(recorded, &self.sequencer) != Ordering::Less
        {
            tracing::info!(
                "s3://{}/{} holds a copy of sequencer {recorded}, not older than ours ({})",
                self.destination.bucket,
                self.destination.key,
                self.sequencer
            );
            return Ok(Decision::Superseded);
        }
        let etag = self.destination.required("head", "etag", output.e_tag())?;
        Ok(Decision::Write(WriteCondition::IfMatch(etag.to_owned())))
    }
}

/// How a copy writes: unconditionally, or (with a sequencer) newest wins.
#[derive(Debug, Clone)]
pub struct WritePlan {
    /// The sequencer and where it goes, for event-driven copies.
    pub newest: Option<NewestWins>,
    /// The precondition of the write, from the destination seen at the start.
    pub condition: WriteCondition,
    /// User metadata recording what the destination is copied from.
    pub origin: HashMap<String, String>,
}

impl WritePlan {
    /// The plan of a copy that writes nothing (the destination holds the
    /// copy of a newer event): no condition, no origin.
    pub fn superseded() -> WritePlan {
        WritePlan {
            newest: None,
            condition: WriteCondition::Unconditional,
            origin: HashMap::new(),
        }
    }

    /// The plan for copying `source` to `destination`; `None` when the
    /// destination already holds the copy of the same or a newer event.
    ///
    /// # Cancellation
    ///
    /// The destination's `HeadObject` is raced against `cancel`.
    pub async fn new(
        client: &Client,
        destination: &Destination,
        source: &ResolvedSource,
        cancel: &CancellationToken,
    ) -> Result<Option<WritePlan>, CopyError> {
        let Some(sequencer) = source.spec.sequencer.clone() else {
            return Ok(Some(WritePlan {
                newest: None,
                condition: WriteCondition::Unconditional,
                origin: HashMap::new(),
            }));
        };
        let newest = NewestWins {
            client: client.clone(),
            destination: destination.clone(),
            sequencer,
        };
        let decided = tokio::select! {
            () = cancel.cancelled() => {
                return Err(CopyError::Cancelled { bytes_read: 0, bytes_written: 0 });
            }
            decided = newest.decide() => decided?,
        };
        let condition = match decided {
            Decision::Write(condition) => condition,
            Decision::Superseded => return Ok(None),
        };
        let origin = source_origin(source).unwrap_or_default();
        Ok(Some(WritePlan {
            newest: Some(newest),
            condition,
            origin,
        }))
    }
}

/// The user metadata a newest-wins copy of `source` records (its
/// sequencer, version and ETag); `None` without a sequencer.
pub(crate) fn source_origin(source: &ResolvedSource) -> Option<HashMap<String, String>> {
    let sequencer = source.spec.sequencer.as_deref()?;
    let version = match &source.pin {
        Pin::Version(version) => Some(version.as_str()),
        Pin::ETag(_) => None,
    };
    Some(origin(sequencer, version, source.spec.etag.as_deref()))
}

/// The user metadata recording a source of `sequencer`, `version_id` and `etag`.
fn origin(
    sequencer: &str,
    version_id: Option<&str>,
    etag: Option<&str>,
) -> HashMap<String, String> {
    let mut origin = HashMap::new();
    origin.insert(META_SOURCE_SEQUENCER.to_owned(), sequencer.to_owned());
    if let Some(version) = version_id {
        origin.insert(META_SOURCE_VERSION_ID.to_owned(), version.to_owned());
    }
    if let Some(etag) = etag {
        origin.insert(
            META_SOURCE_ETAG.to_owned(),
            etag.trim_matches('"').to_owned(),
        );
    }
    origin
}

/// Runs `write` under `condition`; when the condition fails (a write landed
/// since we looked), decides again and retries up to [`CONDITION_RETRIES`]
/// times, or ends superseded.
///
/// # Cancellation
///
/// `write` races its own requests against `cancel`; the decision between
/// attempts (a `HeadObject`) is raced here and ends in `cancelled()`, so the
/// caller's abort starts at once, not after S3's answer and its retries.
pub async fn write_newest<W, F>(
    newest: Option<&NewestWins>,
    mut condition: WriteCondition,
    cancel: &CancellationToken,
    cancelled: impl Fn() -> CopyError,
    mut write: W,
) -> Result<Completion, CopyError>
where
    W: FnMut(WriteCondition) -> F,
    F: Future<Output = Result<Written, CopyError>>,
{
    let mut retries = 0;
    loop {
        match write(condition).await {
            Ok(written) => return Ok(Completion::Written(written)),
            Err(error @ CopyError::WriteConflict { .. }) => {
                let Some(newest) = newest else {
                    return Err(error);
                };
                let decided = tokio::select! {
                    () = cancel.cancelled() => return Err(cancelled()),
                    decided = newest.decide() => decided?,
                };
                match decided {
                    Decision::Superseded => return Ok(Completion::Superseded),
                    Decision::Write(_) if retries == CONDITION_RETRIES => return Err(error),
                    Decision::Write(next) => {
                        retries += 1;
                        condition = next;
                    }
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_padded_on_the_right() {
        assert_eq!(
            compare_sequencers("0000000002", "0000000001"),
            Ordering::Greater
        );
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E5"),
            Ordering::Equal
        );
        // "1" is "10" padded: newer than "0F".
        assert_eq!(compare_sequencers("1", "0F"), Ordering::Greater);
        assert_eq!(compare_sequencers("0a", "0A"), Ordering::Equal);
    }
}
