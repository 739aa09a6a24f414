//! The end of a server-side copy: its checksum judged against the source's, and its report.

use super::PartCopyPlan;
use crate::copy::context::CopyContext;
use crate::copy::error::CopyError;
use crate::copy::report::{self, CopyReport};
use crate::copy::source::ResolvedSource;
use crate::copy::upload::abort::ABORT_BUDGET;
use crate::copy::upload::{Written, crc64_base64};
use crate::copy::verify::{VERIFIED_SOURCE_CRC64NVME, VERIFIED_UNREPORTED};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Instant;

/// The report's `verified` for a written multipart or server-side copy: the
/// CRC64NVME S3 reported for the copy (or, unreported, stores for it),
/// compared with the source's. A mismatch (which S3
/// itself should have refused) deletes the written object again and fails.
///
/// # Cancellation
///
/// The deletion after a mismatch is cleanup: not raced against the copy's
/// token, bounded by the abort budget.
pub(crate) async fn settle(
    copy: &CopyContext<'_>,
    written: &Written,
) -> Result<&'static str, CopyError> {
    let reported = match (copy.verify.expected_crc(), written.crc64nvme) {
        (Some(_), None) => stored_crc(copy, written).await,
        (_, reported) => reported,
    };
    match (copy.verify.expected_crc(), reported) {
        (Some(expected), Some(got)) if expected != got => {
            delete_written(copy, written).await;
            Err(CopyError::CopiedChecksumMismatch {
                bucket: copy.source.spec.bucket.clone(),
                key: copy.source.spec.key.clone(),
                expected: crc64_base64(expected),
                got: crc64_base64(got),
            })
        }
        (Some(_), Some(_)) => Ok(VERIFIED_SOURCE_CRC64NVME),
        (Some(_), None) => Ok(VERIFIED_UNREPORTED),
        (None, _) => Ok(copy.verify.word()),
    }
}

/// The full-object CRC64NVME S3 stores for what the copy wrote, when the
/// completion did not report it (a store that answers without it): one
/// `HeadObject` with checksum mode, which may still answer within
/// [`COMPLETE_GRACE`](crate::copy::upload::multipart::COMPLETE_GRACE) once
/// the copy's token fired (a completion that landed in its own grace).
/// `None` when S3 has none, a composite one, or does not answer.
async fn stored_crc(copy: &CopyContext<'_>, written: &Written) -> Option<u64> {
    let head = copy
        .client
        .head_object()
        .bucket(&copy.destination.bucket)
        .key(&copy.destination.key)
        // "null" (an unversioned bucket's) names the current object anyway.
        .set_version_id(written.version_id.clone().filter(|v| v != "null"))
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send();
    let output = crate::copy::upload::multipart::answered_within_grace(head, copy.cancel)
        .await?
        .ok()?;
    output
        .checksum_crc64_nvme()
        .and_then(crate::copy::upload::crc64_decode)
}

/// Deletes the object (its version, on a versioned bucket) a copy wrote;
/// a failure is logged.
async fn delete_written(copy: &CopyContext<'_>, written: &Written) {
    let destination = copy.destination;
    let request = copy
        .client
        .delete_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .set_version_id(written.version_id.clone())
        .send();
    match tokio::time::timeout(ABORT_BUDGET, request).await {
        Ok(Ok(_)) => tracing::warn!(
            "deleted s3://{}/{}: its checksum is not the source's",
            destination.bucket,
            destination.key
        ),
        Ok(Err(error)) => tracing::error!(
            "failed to delete s3://{}/{} whose checksum is not the source's: {}",
            destination.bucket,
            destination.key,
            DisplayErrorContext(&error)
        ),
        Err(_) => tracing::error!(
            "failed to delete s3://{}/{} whose checksum is not the source's: timed out",
            destination.bucket,
            destination.key
        ),
    }
}

/// The report of a written server-side copy.
pub(crate) fn report(
    resolved: &ResolvedSource,
    written: &Written,
    plan: &PartCopyPlan,
    verified: &str,
    started: Instant,
) -> CopyReport {
    let elapsed = started.elapsed();
    CopyReport {
        bytes_read: resolved.size,
        bytes_written: resolved.size,
        bytes_through_function: 0,
        part_size: plan.part_size,
        multipart: !plan.is_single(),
        duration_ms: elapsed.as_millis() as u64,
        mb_per_s: report::megabytes_per_second(resolved.size, elapsed),
        verified: verified.to_owned(),
        ..CopyReport::written(resolved, written, super::CopyMethod::Server)
    }
}
