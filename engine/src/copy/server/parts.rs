//! `UploadPartCopy` ranges in a guarded multipart upload: server-side copies above the part copy size.

use super::refusal::{PreconditionOf, copy_error};
use super::{CopyMethod, PartCopyPlan, ServerCopied};
use crate::copy::context::CopyContext;
use crate::copy::error::CopyError;
use crate::copy::resume::checkpoint::PartPlan;
use crate::copy::resume::{self, Opened, Ready, Session};
use crate::copy::source::SourceSpec;
use crate::copy::source::tags;
use crate::copy::upload::condition::Completion;
use crate::copy::upload::{Destination, MultipartUpload, UploadedPart, crc64_decode};
use aws_sdk_s3::Client;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Copies the object as `plan`'s ranges, at most the configured part copies
/// in flight, into a multipart upload created with the source's metadata,
/// tags and a full-object CRC64NVME; completes it newest-wins. Any failure
/// takes the upload's one abort path before it returns.
///
/// # Cancellation
///
/// Every await is raced against the copy's token; the upload is aborted
/// before `CopyError::Cancelled` returns.
pub(crate) async fn copy_parts(
    copy: &CopyContext<'_>,
    plan: &PartCopyPlan,
) -> Result<ServerCopied, CopyError> {
    let mut metadata = super::destination_metadata(copy);
    if copy.settings.copy_tags {
        metadata.tagging = tokio::select! {
            () = copy.cancel.cancelled() => return Err(copy.cancelled()),
            tagging = tags::read(copy.source_client, copy.source) => tagging?,
        };
    }
    let proposed = PartPlan {
        method: CopyMethod::Server,
        part_size: plan.part_size,
        parts: plan.parts(),
        size: plan.size,
    };
    let Opened {
        mut upload,
        plan: recorded,
        done,
        mut session,
        ..
    } = Box::pin(resume::open(copy, &metadata, proposed, None)).await?;
    let plan = PartCopyPlan {
        size: recorded.size,
        part_size: recorded.part_size,
    };
    // Stores that report no part checksums: S3 checks the whole object
    // against the source's CRC64NVME on completion instead.
    upload.expect_crc(copy.verify.expected_crc());
    match start_parts(copy, &plan, &done, session.as_ref(), &mut upload).await {
        Ok(Started::All) => {}
        Ok(Started::Stopped) => {
            if let Some(session) = &session {
                return Err(session.stop(copy, upload).await);
            }
        }
        Err(error) => return Err(resume::fail(session.as_ref(), copy, upload, error).await),
    }
    if let Some(session) = &mut session {
        match Box::pin(session.ready_to_complete(copy, &mut upload)).await {
            Ok(Ready::Complete) => {}
            Ok(Ready::Deferred) => {
                upload.release();
                return Ok(ServerCopied {
                    completion: Completion::Deferred,
                    plan,
                    attempts: Vec::new(),
                });
            }
            Ok(Ready::NoTime) => return Err(session.stop(copy, upload).await),
            Ok(Ready::Gone) => {
                upload.release();
                return Err(session.gone(copy));
            }
            Err(error) => return Err(session.fail(copy, upload, error).await),
        }
        session.all_parts_done();
    }
    let verify = copy.verify;
    let completion = upload
        .complete(
            copy.cancel,
            |crc| verify.check(crc),
            copy.write_plan.newest.as_ref(),
            copy.write_plan.condition.clone(),
        )
        .await;
    let attempts = match (&session, &completion) {
        (Some(session), Ok(_)) => {
            session.forget(copy).await;
            session.bytes_per_attempt(plan.size)
        }
        (Some(session), Err(_)) => {
            let error = completion.err().unwrap_or_else(|| copy.cancelled());
            return Err(session.completed_with(copy, error).await);
        }
        (None, _) => Vec::new(),
    };
    Ok(ServerCopied {
        completion: completion?,
        plan,
        attempts,
    })
}

/// How starting the parts ended.
enum Started {
    /// Every missing part is started (and may still be in flight).
    All,
    /// The attempt stopped early: the next part would not finish before the
    /// deadline margin; the parts in flight were waited for.
    Stopped,
}

/// Starts every part copy S3 does not have (`done`), waiting for one to
/// finish whenever the configured number are in flight; a resumable
/// attempt stops starting parts that would not finish before its deadline
/// margin and waits for those in flight.
async fn start_parts(
    copy: &CopyContext<'_>,
    plan: &PartCopyPlan,
    done: &BTreeSet<u64>,
    session: Option<&Session>,
    upload: &mut MultipartUpload,
) -> Result<Started, CopyError> {
    let concurrency = copy.settings.server.concurrency.max(1);
    let copy_source = super::copy_source(copy.source);
    let if_match = super::copy_source_if_match(copy.source);
    for (number, start, end) in plan.ranges() {
        if done.contains(&number) {
            continue;
        }
        while upload.in_flight() >= concurrency {
            upload.join_one(copy.cancel).await?;
        }
        if session.is_some_and(|session| !session.may_start()) {
            while upload.in_flight() > 0 {
                upload.join_one(copy.cancel).await?;
            }
            return Ok(Started::Stopped);
        }
        let target = upload.target();
        let part = PartCopy {
            client: target.client.clone(),
            source: copy.source.spec.clone(),
            destination: target.destination.clone(),
            upload_id: target.upload_id.clone(),
            copy_source: copy_source.clone(),
            if_match: if_match.clone(),
            number,
            start,
            end,
            written: Arc::clone(&copy.progress.bytes_written),
        };
        resume::spawn(session, upload, part.send());
    }
    while upload.in_flight() > 0 {
        upload.join_one(copy.cancel).await?;
    }
    Ok(Started::All)
}

/// One `UploadPartCopy`, owned by its task.
struct PartCopy {
    client: Client,
    source: SourceSpec,
    destination: Destination,
    upload_id: String,
    copy_source: String,
    if_match: Option<String>,
    number: u64,
    start: u64,
    end: u64,
    written: Arc<AtomicU64>,
}

impl PartCopy {
    async fn send(self) -> Result<UploadedPart, CopyError> {
        let output = self
            .client
            .upload_part_copy()
            .bucket(&self.destination.bucket)
            .key(&self.destination.key)
            .upload_id(&self.upload_id)
            .part_number(self.number as i32)
            .copy_source(&self.copy_source)
            .copy_source_range(format!("bytes={}-{}", self.start, self.end))
            .set_copy_source_if_match(self.if_match.clone())
            .send()
            .await
            .map_err(|e| {
                copy_error(
                    &self.source,
                    &self.destination,
                    "upload part copy",
                    PreconditionOf::Source,
                    e,
                )
            })?;
        let result = output.copy_part_result();
        let etag = self.destination.required(
            "upload part copy",
            "etag",
            result.and_then(|result| result.e_tag()),
        )?;
        let len = self.end - self.start + 1;
        self.written.fetch_add(len, Ordering::Relaxed);
        Ok(UploadedPart {
            number: self.number,
            etag: etag.to_owned(),
            crc: result
                .and_then(|result| result.checksum_crc64_nvme())
                .and_then(crc64_decode),
            len,
        })
    }
}
