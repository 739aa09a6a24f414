//! The one context every copy method is given: clients, resolved source, destination and write plan, settings, token and counters.

use super::error::CopyError;
use super::source::{ObjectMetadata, ResolvedSource};
use super::upload::Destination;
use super::upload::condition::WritePlan;
use super::verify::Verify;
use super::{CopyProgress, CopySettings};
use aws_sdk_s3::Client;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What [`super::copy_object`] settled before choosing a method, shared by
/// the server-side, piped and streaming methods alike.
pub(crate) struct CopyContext<'a> {
    /// Reads the source (`HeadObject`, `GetObject`, `GetObjectTagging`):
    /// its region's client.
    pub source_client: &'a Client,
    /// Writes the destination and sends server-side copies (S3 serves a
    /// copy from the destination's region).
    pub client: &'a Client,
    /// The source, resolved and pinned.
    pub source: &'a ResolvedSource,
    pub destination: &'a Destination,
    pub settings: &'a CopySettings,
    /// Newest wins: the write's precondition and the origin recorded.
    pub write_plan: &'a WritePlan,
    /// How the copy's checksum is judged before it is completed.
    pub verify: &'a Verify,
    pub cancel: &'a CancellationToken,
    pub progress: &'a CopyProgress,
    /// When the copy began, for its report.
    pub started: Instant,
}

impl CopyContext<'_> {
    /// The error a cancelled step returns, with the bytes counted so far.
    pub fn cancelled(&self) -> CopyError {
        CopyError::Cancelled {
            bytes_read: self.progress.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.progress.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// Fills the copy's byte counts into a cancellation from a lower layer.
    pub fn counted(&self, error: CopyError) -> CopyError {
        match error {
            CopyError::Cancelled { .. } => self.cancelled(),
            other => other,
        }
    }

    /// The destination's metadata: `source`'s, the options' own
    /// ([`super::upload::UploadOptions::metadata`]), then the recorded origin.
    pub fn destination_metadata(&self, source: &ObjectMetadata) -> ObjectMetadata {
        let mut metadata = source.clone();
        metadata.user.extend(self.settings.options.metadata.clone());
        metadata.user.extend(self.write_plan.origin.clone());
        metadata
    }
}
