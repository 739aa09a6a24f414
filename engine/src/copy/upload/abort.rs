//! `AbortMultipartUpload`, retried with backoff within a fixed time budget.

use super::Destination;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Duration;
use tokio::time::Instant;

/// The most time one abort may take, retries included: below the handler's
/// default 2 s deadline margin, so an abort started when the deadline nears
/// has finished before the answer is posted and Lambda freezes the sandbox.
pub const ABORT_BUDGET: Duration = Duration::from_millis(1500);

/// The first pause between abort attempts; it doubles after each failure.
/// 50 ms leaves room for four or five attempts within [`ABORT_BUDGET`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Attempts [`ABORT_BUDGET`] must leave room for at least, their requests
/// included: the pauses before them double from [`FIRST_BACKOFF`].
const MIN_ABORT_ATTEMPTS: u32 = 4;

const _: () = assert!(
    // 50 + 100 + 200 ms of pauses before the 4th attempt, at most half the budget.
    FIRST_BACKOFF.as_millis() * ((1 << (MIN_ABORT_ATTEMPTS - 1)) - 1) * 2
        <= ABORT_BUDGET.as_millis(),
    "the abort budget must leave room for its attempts"
);

/// The multipart upload an abort names.
#[derive(Debug, Clone)]
pub struct AbortTarget {
    /// The client to send the abort with.
    pub client: Client,
    /// Where the upload was going.
    pub destination: Destination,
    /// S3's upload id.
    pub upload_id: String,
}

/// What the abort ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortOutcome {
    /// S3 aborted the upload.
    Aborted,
    /// S3 no longer knows the upload: it was completed (the object is whole) or already aborted.
    NoSuchUpload,
    /// Every attempt failed within the budget; a lifecycle rule must clean it up.
    Failed,
}

impl AbortTarget {
    /// Sends `AbortMultipartUpload`, retrying failures with backoff until
    /// [`ABORT_BUDGET`] is spent, and logs the outcome with the upload id.
    ///
    /// # Cancellation
    ///
    /// Deliberately not raced against the copy's token: the abort is the
    /// cleanup of a cancellation. Dropping the future mid-request leaves the
    /// upload open for a lifecycle rule.
    pub async fn run(&self) -> AbortOutcome {
        let deadline = Instant::now() + ABORT_BUDGET;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = self
                .client
                .abort_multipart_upload()
                .bucket(&self.destination.bucket)
                .key(&self.destination.key)
                .upload_id(&self.upload_id)
                .send();
            let last_error = match tokio::time::timeout_at(deadline, request).await {
                Ok(Ok(_)) => {
                    tracing::info!(
                        "aborted multipart upload {} of s3://{}/{}",
                        self.upload_id,
                        self.destination.bucket,
                        self.destination.key
                    );
                    return AbortOutcome::Aborted;
                }
                Ok(Err(error))
                    if error.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload") =>
                {
                    tracing::warn!(
                        "multipart upload {} of s3://{}/{} was no longer open when aborted: \
                         it completed (the object is whole) or was aborted already",
                        self.upload_id,
                        self.destination.bucket,
                        self.destination.key
                    );
                    return AbortOutcome::NoSuchUpload;
                }
                Ok(Err(error)) => DisplayErrorContext(&error).to_string(),
                Err(_elapsed) => "abort budget spent waiting for S3".to_owned(),
            };
            let now = Instant::now();
            if now + backoff >= deadline {
                tracing::error!(
                    "failed to abort multipart upload {} of s3://{}/{} after {attempt} attempts: \
                     {last_error} (a lifecycle rule must clean it up)",
                    self.upload_id,
                    self.destination.bucket,
                    self.destination.key
                );
                return AbortOutcome::Failed;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}
