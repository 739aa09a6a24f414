//! One `CopyObject`: a server-side copy of an object up to the part copy size.

use super::refusal::{PreconditionOf, copy_error};
use crate::copy::context::CopyContext;
use crate::copy::error::CopyError;
use crate::copy::source::{ObjectMetadata, Pin, read_error};
use crate::copy::upload::condition::{Completion, WriteCondition, recorded_origin, write_newest};
use crate::copy::upload::{Expected, UploadOptions, Written, crc64_decode, landed, with_metadata};
use aws_sdk_s3::types::{ChecksumAlgorithm, MetadataDirective, TaggingDirective};
use std::sync::atomic::Ordering;

/// Copies the object with one `CopyObject` (metadata replaced by the
/// source's plus the recorded origin, tags copied, CRC64NVME computed by
/// S3), under the write plan's condition, newest wins.
///
/// # Cancellation
///
/// Each request is raced against the copy's token; a `CopyObject` S3 had
/// already received may still land whole.
pub(super) async fn copy_object(copy: &CopyContext<'_>) -> Result<Completion, CopyError> {
    let metadata = super::destination_metadata(copy);
    let plan = copy.write_plan;
    write_newest(
        plan.newest.as_ref(),
        plan.condition.clone(),
        copy.cancel,
        || copy.cancelled(),
        |condition| {
            let metadata = &metadata;
            async move { send(copy, metadata, condition).await }
        },
    )
    .await
}

/// Whose condition a 412 to this request failed.
fn precondition_of(copy: &CopyContext<'_>, condition: &WriteCondition) -> PreconditionOf {
    let source = super::copy_source_if_match(copy.source).is_some();
    let destination = *condition != WriteCondition::Unconditional;
    match (source, destination) {
        (true, false) => PreconditionOf::Source,
        (true, true) => PreconditionOf::Either,
        (false, _) => PreconditionOf::Destination,
    }
}

async fn send(
    copy: &CopyContext<'_>,
    metadata: &ObjectMetadata,
    condition: WriteCondition,
) -> Result<Written, CopyError> {
    let destination = copy.destination;
    let precondition = precondition_of(copy, &condition);
    let options: &UploadOptions = &copy.settings.options;
    let request = copy
        .client
        .copy_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .copy_source(super::copy_source(copy.source))
        .set_copy_source_if_match(super::copy_source_if_match(copy.source))
        .set_if_match(condition.if_match())
        .set_if_none_match(condition.if_none_match())
        .metadata_directive(MetadataDirective::Replace)
        .tagging_directive(if copy.settings.copy_tags {
            TaggingDirective::Copy
        } else {
            TaggingDirective::Replace
        })
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme);
    let request = with_metadata!(request, metadata, options).send();
    let output = tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        output = request => output,
    }
    .map_err(|e| {
        copy_error(
            &copy.source.spec,
            destination,
            "copy object",
            precondition,
            e,
        )
    });
    let output = match output {
        Err(CopyError::WriteConflict { .. })
            if precondition == PreconditionOf::Either && source_changed(copy).await? =>
        {
            return Err(CopyError::Superseded {
                bucket: copy.source.spec.bucket.clone(),
                key: copy.source.spec.key.clone(),
            });
        }
        Err(error @ CopyError::WriteConflict { .. }) => {
            // A retry after a 500 that S3 answered once the copy was made.
            let expected = Expected {
                crc: copy.verify.expected_crc(),
                origin: &recorded_origin(&metadata.user),
            };
            return match landed(copy.client, destination, &expected, 1, copy.cancel).await {
                Some(written) => {
                    copy.progress
                        .bytes_written
                        .fetch_add(copy.source.size, Ordering::Relaxed);
                    Ok(written)
                }
                None => Err(error),
            };
        }
        other => other?,
    };
    let result = output.copy_object_result();
    let etag = destination.required(
        "copy object",
        "etag",
        result.and_then(|result| result.e_tag()),
    )?;
    copy.progress
        .bytes_written
        .fetch_add(copy.source.size, Ordering::Relaxed);
    Ok(Written {
        etag: etag.to_owned(),
        version_id: output.version_id().map(str::to_owned),
        crc64nvme: result
            .and_then(|result| result.checksum_crc64_nvme())
            .and_then(crc64_decode),
        parts: 1,
    })
}

/// After a 412 that either side's condition may have caused: true when the
/// source no longer matches its pin (the pinned `HeadObject`, sent with the
/// source's own client since S3 serves a bucket only from its region,
/// answers 412 or 404); any other failure is the copy's error, never read
/// as an unchanged source.
///
/// # Cancellation
///
/// Raced against the copy's token.
async fn source_changed(copy: &CopyContext<'_>) -> Result<bool, CopyError> {
    let spec = &copy.source.spec;
    let mut head = copy
        .source_client
        .head_object()
        .bucket(&spec.bucket)
        .key(&spec.key);
    head = match &copy.source.pin {
        Pin::Version(version) => head.version_id(version),
        Pin::ETag(etag) => head.if_match(etag),
    };
    let answer = tokio::select! {
        () = copy.cancel.cancelled() => return Err(copy.cancelled()),
        answer = head.send() => answer,
    };
    match answer {
        Ok(_) => Ok(false),
        Err(error) => match error.raw_response().map(|r| r.status().as_u16()) {
            Some(412) | Some(404) => Ok(true),
            _ => Err(read_error(spec, error)),
        },
    }
}
