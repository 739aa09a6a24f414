//! The source's tags, read (`GetObjectTagging`) so a copy that rewrites the object carries them.

use super::{ObjectMetadata, Pin, ResolvedSource};
use crate::copy::error::CopyError;
use crate::copy::failure_class::FailureClass;
use crate::copy::server::refusal;
use aws_sdk_s3::Client;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters a tag key or value keeps in `x-amz-tagging` (a URL query):
/// the unreserved ones; the rest are percent-encoded.
const TAG_TEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The source's tags as `x-amz-tagging` carries them (`k=v&…`,
/// URL-encoded), `None` when it has none. A store that does not implement
/// tagging has none; any other failure (e.g. `s3:GetObjectTagging` denied)
/// fails the copy, naming the permission.
///
/// # Cancellation
///
/// Dropping the future drops the request.
pub(crate) async fn read(
    client: &Client,
    source: &ResolvedSource,
) -> Result<Option<String>, CopyError> {
    let spec = &source.spec;
    let mut request = client
        .get_object_tagging()
        .bucket(&spec.bucket)
        .key(&spec.key);
    if let Pin::Version(version) = &source.pin {
        request = request.version_id(version);
    }
    let output = match request.send().await {
        Ok(output) => output,
        Err(error) if refusal::fallback_reason(&error).is_some() => {
            tracing::warn!(
                "s3://{}/{}: the store does not implement tagging: copying without tags",
                spec.bucket,
                spec.key
            );
            return Ok(None);
        }
        Err(error) => {
            return Err(CopyError::SourceTags {
                bucket: spec.bucket.clone(),
                key: spec.key.clone(),
                class: FailureClass::of_sdk(&error),
                source: Box::new(error),
            });
        }
    };
    let encoded: Vec<String> = output
        .tag_set()
        .iter()
        .map(|tag| {
            format!(
                "{}={}",
                utf8_percent_encode(tag.key(), TAG_TEXT),
                utf8_percent_encode(tag.value(), TAG_TEXT)
            )
        })
        .collect();
    Ok((!encoded.is_empty()).then(|| encoded.join("&")))
}

/// Sets `metadata.tagging` to the source's tags when `copy_tags` is on and
/// the source may have any: S3 sends `x-amz-tagging-count` only for an
/// object with tags, so a count of zero or none costs no request.
///
/// # Cancellation
///
/// Dropping the future drops the request.
pub(crate) async fn carry(
    client: &Client,
    source: &ResolvedSource,
    metadata: &mut ObjectMetadata,
    copy_tags: bool,
) -> Result<(), CopyError> {
    if copy_tags && metadata.tag_count.is_some_and(|count| count > 0) {
        metadata.tagging = read(client, source).await?;
    }
    Ok(())
}
