//! A multipart upload owned by a guard: completed, or aborted on every other exit.

use super::abort::{ABORT_BUDGET, AbortOutcome, AbortTarget};
use super::condition::{self, Completion, NewestWins, WriteCondition, write_newest};
use super::orphans::{self, CreateAttempts};
use super::{
    Destination, UploadOptions, Written, complete_error, crc64_base64, crc64nvme, write_error,
};
use crate::copy::assembler::Part;
use crate::copy::error::CopyError;
use crate::copy::source::ObjectMetadata;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A part S3 has: its number, ETag, CRC64NVME (when S3 or we know it) and length.
#[derive(Debug)]
pub struct UploadedPart {
    /// Part number, from 1.
    pub number: u64,
    /// S3's ETag of the part.
    pub etag: String,
    /// The part's CRC64NVME: ours for uploaded parts, S3's for part copies
    /// (`None` where the store reports none).
    pub crc: Option<u64>,
    /// Bytes in the part.
    pub len: u64,
}

/// What [`MultipartUpload::keep`] left in S3.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    /// Parts S3 holds.
    pub parts: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Parts that were in flight and are uploaded again next time.
    pub dropped: u64,
}

/// The error a cancelled upload step returns; the pipeline fills in the
/// byte counts it alone knows.
fn cancelled(uploaded: &AtomicU64) -> CopyError {
    CopyError::Cancelled {
        bytes_read: 0,
        bytes_written: uploaded.load(Ordering::Relaxed),
    }
}

/// How long a cancelled upload may take to learn what it must abort: a
/// `CreateMultipartUpload` in flight naming its upload, then the listing of
/// what ambiguous creates left open. S3 answers each in tens of
/// milliseconds.
pub const CREATE_GRACE: Duration = Duration::from_millis(300);

/// How long a `CompleteMultipartUpload` already sent may still answer once
/// the copy's token fires. S3 may have carried it out: dropping it would
/// report a whole object as unfinished, and the next attempt would find it
/// done. Creates are settled before the completion is sent, so the grace
/// spends the share of [`CLEANUP_BUDGET`] that learning them would have
/// (asserted below).
pub const COMPLETE_GRACE: Duration = CREATE_GRACE;

const _: () = assert!(
    COMPLETE_GRACE.as_millis() <= CREATE_GRACE.as_millis(),
    "a completion's grace fits the cleanup budget only in the creates' share"
);

const _: () = assert!(
    2 * COMPLETE_GRACE.as_millis() <= CLEANUP_BUDGET.as_millis(),
    "a completion and its checksum's read-back fit the cleanup budget of a copy that aborts nothing"
);

/// `request`'s answer, unless `cancel` fires and the request then does not
/// answer within [`COMPLETE_GRACE`] (`None`). For the requests that finish
/// a write S3 may already have carried out: its completion, and the
/// `HeadObject` that reads back a checksum the completion did not report.
/// Both fit the cleanup budget a written copy no longer needs (asserted).
pub(crate) async fn answered_within_grace<F: std::future::Future>(
    request: F,
    cancel: &CancellationToken,
) -> Option<F::Output> {
    tokio::pin!(request);
    tokio::select! {
        output = &mut request => return Some(output),
        () = cancel.cancelled() => {}
    }
    tokio::time::timeout(COMPLETE_GRACE, request).await.ok()
}

/// The most a cancelled upload spends cleaning up from the moment its token
/// fires: [`CREATE_GRACE`] to learn what to abort, then [`ABORT_BUDGET`]
/// for our abort and those of what ambiguous creates left open, sent side
/// by side. With the runtime's time to post it makes the shortest deadline
/// margin the function accepts (`MIN_DEADLINE_MARGIN_MS`, asserted against
/// the default there).
pub const CLEANUP_BUDGET: Duration = CREATE_GRACE.saturating_add(ABORT_BUDGET);

/// A multipart upload in progress: parts upload concurrently, each holding
/// its budget permit until S3 has it.
///
/// The value is the guard of the upload: unless [`MultipartUpload::complete`]
/// succeeded, dropping it (a panic, a dropped copy future) cancels the part
/// tasks and spawns `AbortMultipartUpload` on the runtime (best effort,
/// logged with the upload id). Explicit failures await
/// [`MultipartUpload::abort`] instead, which lets the part requests in
/// flight end first (until the copy is cancelled), so the abort has finished
/// when the copy returns.
pub struct MultipartUpload {
    target: AbortTarget,
    tasks: JoinSet<Result<UploadedPart, CopyError>>,
    done: Vec<UploadedPart>,
    uploaded: Arc<AtomicU64>,
    settled: bool,
    /// Set once the abort path sent `AbortMultipartUpload`: a guard dropped
    /// after that (the process stopping mid-abort) says so.
    abort_sent: bool,
    /// The full-object CRC64NVME to complete with when the parts' own
    /// checksums are unknown (part copies on a store that reports none).
    expected_crc: Option<u64>,
    /// The copy's token: until it fires, the abort path lets the part tasks
    /// in flight end instead of dropping them. S3 documents that a part
    /// still in progress at the abort "might or might not succeed", keeping
    /// its storage: an `UploadPart` whose body was sent before its request
    /// was dropped can still land, and S3 goes on copying an
    /// `UploadPartCopy` whatever becomes of its request; a part whose
    /// request has ended cannot land later.
    settle_until: CancellationToken,
    /// The windows of create attempts whose answers were lost: S3 may have
    /// made an upload in each, which the copy aborts before it answers.
    ambiguous_creates: Vec<orphans::Window>,
    /// What the object records of its source (newest wins' metadata): a
    /// write whose answer was lost is ours only if the destination records
    /// the same.
    origin: HashMap<String, String>,
    /// A resumable copy's upload that is not on its last attempt: a
    /// cancellation keeps it open (its finished parts stay in S3 for the
    /// next attempt) instead of aborting it.
    keep_on_cancel: bool,
    /// Whether the completion's CRC64NVME was combined from the parts' own
    /// (and judged by the copy's check), not merely the expected one sent
    /// for S3 to check: only then may it stand in for a checksum S3 does not
    /// report back.
    crc_combined: bool,
    /// A fan-out segment's share of an upload other segments write into:
    /// only a permanent failure aborts it (a transient one, a deadline or a
    /// dropped guard leaves it to the segment's retry and the others).
    shared: bool,
    /// Parts `1..=contiguous` are all done.
    contiguous: u64,
    /// Done parts above `contiguous + 1`.
    done_above: BTreeSet<u64>,
}

impl MultipartUpload {
    /// The guard of an upload an earlier attempt created, holding `parts`
    /// (verified by the caller against its plan) as already uploaded.
    pub fn resumed(
        client: &Client,
        destination: &Destination,
        upload_id: &str,
        parts: Vec<UploadedPart>,
        metadata: &ObjectMetadata,
        uploaded: Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> MultipartUpload {
        orphans::claim(upload_id);
        let numbers: Vec<u64> = parts.iter().map(|part| part.number).collect();
        let mut upload = MultipartUpload {
            target: AbortTarget {
                client: client.clone(),
                destination: destination.clone(),
                upload_id: upload_id.to_owned(),
            },
            tasks: JoinSet::new(),
            done: parts,
            uploaded,
            settled: false,
            abort_sent: false,
            expected_crc: None,
            settle_until: cancel.clone(),
            ambiguous_creates: Vec::new(),
            origin: condition::recorded_origin(&metadata.user),
            keep_on_cancel: false,
            crc_combined: false,
            shared: false,
            contiguous: 0,
            done_above: BTreeSet::new(),
        };
        for number in numbers {
            upload.note_done(number);
        }
        upload
    }

    /// From now on a cancellation keeps the upload open for a later attempt
    /// ([`Self::fail`]), where it used to abort it.
    pub fn keep_on_cancel(&mut self, keep: bool) {
        self.keep_on_cancel = keep;
    }

    /// The parts S3 has (from earlier attempts and this one's finished
    /// tasks): how many, and their bytes.
    pub fn done(&self) -> (u64, u64) {
        let bytes = self.done.iter().map(|part| part.len).sum();
        (self.done.len() as u64, bytes)
    }

    /// `CreateMultipartUpload` with a full-object CRC64NVME checksum.
    ///
    /// # Cancellation
    ///
    /// Returns `CopyError::Cancelled` when `cancel` fires first. S3 may have
    /// created the upload already, so the request is not dropped at once: it
    /// gets [`CREATE_GRACE`] more to name the upload, which is then aborted,
    /// with what earlier attempts may have made, within [`CLEANUP_BUDGET`]
    /// before this returns. Only an answer later than that (or a dropped
    /// future) leaves an upload we never learnt of to a lifecycle rule.
    pub async fn create(
        client: &Client,
        destination: &Destination,
        metadata: &ObjectMetadata,
        options: &UploadOptions,
        uploaded: Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<MultipartUpload, CopyError> {
        let attempts = CreateAttempts::default();
        let create = client
            .create_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject);
        let mut request = std::pin::pin!(
            with_metadata!(create, metadata, options)
                .customize()
                .interceptor(attempts.clone())
                .send()
        );
        let output = tokio::select! {
            () = cancel.cancelled() => {
                let learnt_by = Instant::now() + CREATE_GRACE;
                let named = match tokio::time::timeout_at(learnt_by, &mut request).await {
                    Ok(Ok(output)) => output.upload_id().map(str::to_owned),
                    _ => None,
                };
                let mut windows = attempts.ambiguous(named.is_some());
                // Found while ours is still listed to order the others.
                let found =
                    orphans::find(client, destination, named.as_deref(), &windows, learnt_by)
                        .await
                        .unwrap_or_default();
                let ours = async {
                    if let Some(upload_id) = named {
                        let target = AbortTarget {
                            client: client.clone(),
                            destination: destination.clone(),
                            upload_id,
                        };
                        target.run().await;
                    }
                };
                let until = learnt_by + ABORT_BUDGET;
                let theirs = orphans::abort_found(client, destination, found, &mut windows, until);
                tokio::join!(ours, theirs);
                return Err(cancelled(&uploaded));
            }
            output = &mut request => output,
        };
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                // No upload of ours, but an earlier attempt may have made
                // one: swept as while the copy runs; once the token fires,
                // what is left within ABORT_BUDGET (no abort of our own to
                // send, so within CLEANUP_BUDGET).
                let mut windows = attempts.ambiguous(false);
                let running = orphans::abort_orphans(
                    client,
                    destination,
                    None,
                    &mut windows,
                    Instant::now() + orphans::SWEEP_BUDGET,
                );
                let cancelled = tokio::select! {
                    biased;
                    () = cancel.cancelled() => true,
                    _ = running => false,
                };
                if cancelled {
                    let until = Instant::now() + ABORT_BUDGET;
                    orphans::abort_orphans(client, destination, None, &mut windows, until).await;
                }
                return Err(write_error("create multipart upload", destination, error));
            }
        };
        let upload_id =
            destination.required("create multipart upload", "upload id", output.upload_id())?;
        orphans::claim(upload_id);
        Ok(MultipartUpload {
            target: AbortTarget {
                client: client.clone(),
                destination: destination.clone(),
                upload_id: upload_id.to_owned(),
            },
            tasks: JoinSet::new(),
            done: Vec::new(),
            uploaded,
            settled: false,
            abort_sent: false,
            expected_crc: None,
            settle_until: cancel.clone(),
            ambiguous_creates: attempts.ambiguous(true),
            origin: condition::recorded_origin(&metadata.user),
            keep_on_cancel: false,
            crc_combined: false,
            shared: false,
            contiguous: 0,
            done_above: BTreeSet::new(),
        })
    }

    /// Aborts what an ambiguous create of this upload may have left open
    /// (nothing when every create attempt was answered) while ours is open,
    /// so the listing places the others around it: within
    /// [`orphans::SWEEP_BUDGET`], raced against the copy's token. The
    /// attempts still unsettled (cancelled midway, a listing that failed, an
    /// abort that did) stay for [`Self::discard`]; an attempt whose upload
    /// the listing did not show made none.
    async fn settle_creates(&mut self) {
        if self.ambiguous_creates.is_empty() {
            return;
        }
        let token = self.settle_until.clone();
        let sweep = orphans::abort_orphans(
            &self.target.client,
            &self.target.destination,
            Some(self.target.upload_id.as_str()),
            &mut self.ambiguous_creates,
            Instant::now() + orphans::SWEEP_BUDGET,
        );
        tokio::select! {
            biased;
            () = token.cancelled() => {}
            _ = sweep => {}
        }
    }

    /// S3's id of this upload.
    pub fn upload_id(&self) -> &str {
        &self.target.upload_id
    }

    /// The upload's abort target: the client, destination and upload id a
    /// part task needs.
    pub fn target(&self) -> &AbortTarget {
        &self.target
    }

    /// Parts still uploading (or copying).
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Completes with `crc` as the full-object CRC64NVME when the parts
    /// carry none (S3 then checks the object against it).
    pub fn expect_crc(&mut self, crc: Option<u64>) {
        self.expected_crc = crc;
    }

    /// Starts a part task (a part copy); its result joins the others.
    pub fn spawn_task<F>(&mut self, task: F)
    where
        F: std::future::Future<Output = Result<UploadedPart, CopyError>> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Waits for one part task to finish and records it; `Ok` when none
    /// is left.
    ///
    /// # Cancellation
    ///
    /// Raced against `cancel`: returns `CopyError::Cancelled`, the tasks
    /// left running for the abort path to cancel.
    pub async fn join_one(&mut self, cancel: &CancellationToken) -> Result<(), CopyError> {
        let joined = tokio::select! {
            () = cancel.cancelled() => return Err(cancelled(&self.uploaded)),
            joined = self.tasks.join_next() => joined,
        };
        match joined {
            Some(joined) => self.record(joined),
            None => Ok(()),
        }
    }

    /// Marks the upload shared with other fan-out segments ([`Self::fail`]
    /// then aborts it only for a permanent failure).
    pub fn share(&mut self) {
        self.shared = true;
    }

    /// Leaves the upload open with what it holds (a fan-out's split, a
    /// segment whose parts are done): nothing is aborted, no task is left.
    pub fn release(mut self) {
        self.tasks.abort_all();
        self.settled = true;
        orphans::release(&self.target.upload_id);
    }

    /// Takes `parts` (a `ListParts` of the whole upload) as what it holds:
    /// a fan-out segment completes with every segment's parts.
    pub fn adopt(&mut self, parts: Vec<UploadedPart>) {
        self.done = parts;
        self.contiguous = 0;
        self.done_above.clear();
        let numbers: Vec<u64> = self.done.iter().map(|part| part.number).collect();
        for number in numbers {
            self.note_done(number);
        }
    }

    /// Counts part `number` done.
    fn note_done(&mut self, number: u64) {
        self.done_above.insert(number);
        while self.done_above.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
        }
    }

    /// The highest `k` with parts `1..=k` all done (uploaded by this
    /// attempt or an earlier one).
    pub fn contiguous_done(&self) -> u64 {
        self.contiguous
    }

    /// Starts uploading `part`; `permit` is released when S3 has it.
    pub fn spawn_part(&mut self, part: Part, permit: OwnedSemaphorePermit) {
        let task = self.part_task(part, permit);
        self.tasks.spawn(task);
    }

    /// The upload of `part`, to spawn (e.g. timed by a resumable copy's
    /// session); `permit` is released when S3 has it.
    pub fn part_task(
        &self,
        part: Part,
        permit: OwnedSemaphorePermit,
    ) -> impl std::future::Future<Output = Result<UploadedPart, CopyError>> + Send + 'static {
        let client = self.target.client.clone();
        let destination = self.target.destination.clone();
        let upload_id = self.target.upload_id.clone();
        let uploaded = Arc::clone(&self.uploaded);
        async move {
            let _permit = permit;
            let len = part.data.len() as u64;
            let crc = crc64nvme(&part.data);
            let output = client
                .upload_part()
                .bucket(&destination.bucket)
                .key(&destination.key)
                .upload_id(&upload_id)
                .part_number(part.number as i32)
                .content_length(len as i64)
                .checksum_crc64_nvme(crc64_base64(crc))
                .body(ByteStream::from(part.data))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| write_error("upload part", &destination, e))?;
            let etag = destination.required("upload part", "etag", output.e_tag())?;
            uploaded.fetch_add(len, Ordering::Relaxed);
            Ok(UploadedPart {
                number: part.number,
                etag: etag.to_owned(),
                crc: Some(crc),
                len,
            })
        }
    }

    fn record(
        &mut self,
        joined: Result<Result<UploadedPart, CopyError>, tokio::task::JoinError>,
    ) -> Result<(), CopyError> {
        match joined {
            Ok(Ok(part)) => {
                self.note_done(part.number);
                self.done.push(part);
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(join_error) => Err(CopyError::Task(join_error.to_string())),
        }
    }

    /// Takes the results of finished part uploads without waiting; the first
    /// failure is returned.
    pub fn collect_finished(&mut self) -> Result<(), CopyError> {
        while let Some(joined) = self.tasks.try_join_next() {
            self.record(joined)?;
        }
        Ok(())
    }

    /// Waits for every part, lets `check` judge the full-object CRC64NVME of
    /// what was uploaded, then `CompleteMultipartUpload` with the parts in
    /// order and that checksum, under `condition`. A failed condition is
    /// decided again by `newest` (S3 keeps the upload open after a 412, so
    /// the completion is retried, or the upload aborted as superseded). Any
    /// failure (a `check` error included) aborts the upload before it returns.
    ///
    /// # Cancellation
    ///
    /// Waiting for the parts is raced against `cancel`; a
    /// `CompleteMultipartUpload` already sent may still answer within
    /// [`COMPLETE_GRACE`]. Past that the upload is aborted (or kept) and
    /// `CopyError::Cancelled` returned; if S3 had completed it after all,
    /// the abort answers `NoSuchUpload` (logged) and the object is whole.
    pub async fn complete(
        mut self,
        cancel: &CancellationToken,
        check: impl FnOnce(u64) -> Result<(), CopyError>,
        newest: Option<&NewestWins>,
        condition: WriteCondition,
    ) -> Result<Completion, CopyError> {
        let prepared = self.prepare(cancel, check).await;
        if prepared.is_ok() {
            self.settle_creates().await;
        }
        let completed = match prepared {
            Ok((crc, parts)) => {
                let this = &self;
                let uploaded = &self.uploaded;
                write_newest(
                    newest,
                    condition,
                    cancel,
                    || cancelled(uploaded),
                    |condition| this.send_complete(crc, parts.clone(), condition, cancel),
                )
                .await
            }
            Err(error) => Err(error),
        };
        match completed {
            Ok(Completion::Written(written)) => {
                self.settled = true;
                orphans::release(&self.target.upload_id);
                Ok(Completion::Written(written))
            }
            Ok(Completion::Superseded) => {
                self.discard().await;
                Ok(Completion::Superseded)
            }
            Ok(Completion::Deferred) => {
                self.release();
                Ok(Completion::Deferred)
            }
            Err(error) => Err(self.fail(error).await),
        }
    }

    /// The failure path: a cancellation of an upload kept for a later
    /// attempt ([`Self::keep_on_cancel`]) keeps it ([`Self::keep`]); every
    /// other failure aborts it ([`Self::abort`]). Returns `error`.
    pub async fn fail(self, error: CopyError) -> CopyError {
        let cancelled = matches!(error, CopyError::Cancelled { .. });
        if (self.keep_on_cancel && cancelled) || (self.shared && !error.class().is_permanent()) {
            self.keep().await;
        } else {
            self.discard().await;
        }
        error
    }

    /// Ends this attempt's part tasks and leaves the upload open for a later
    /// attempt: the parts S3 finished stay; a part still in flight is
    /// dropped (returned: how many) and uploaded again next time. What
    /// ambiguous creates left open is still aborted, within
    /// [`CLEANUP_BUDGET`] once the copy's token has fired.
    pub async fn keep(mut self) -> Kept {
        self.tasks.abort_all();
        let mut dropped = 0;
        while let Some(joined) = self.tasks.join_next().await {
            // A part that finished before it could be cancelled is kept.
            match joined {
                Ok(Ok(part)) => self.done.push(part),
                _ => dropped += 1,
            }
        }
        self.settle_creates().await;
        if !self.ambiguous_creates.is_empty() {
            let started = Instant::now();
            let found = self.found_orphans(started).await;
            let target = &self.target;
            orphans::abort_found(
                &target.client,
                &target.destination,
                found,
                &mut self.ambiguous_creates,
                started + CLEANUP_BUDGET,
            )
            .await;
        }
        self.settled = true;
        orphans::release(&self.target.upload_id);
        tracing::info!(
            "multipart upload {} of s3://{}/{} kept open with {} parts for the next attempt ({dropped} parts in flight dropped)",
            self.target.upload_id,
            self.target.destination.bucket,
            self.target.destination.key,
            self.done.len()
        );
        let (parts, bytes) = self.done();
        Kept {
            parts,
            bytes,
            dropped,
        }
    }

    /// What ambiguous creates left open, listed within [`CREATE_GRACE`] of
    /// `started` while our upload is still open to order the listing.
    async fn found_orphans(&self, started: Instant) -> Vec<orphans::Orphan> {
        let target = &self.target;
        orphans::find(
            &target.client,
            &target.destination,
            Some(target.upload_id.as_str()),
            &self.ambiguous_creates,
            started + CREATE_GRACE,
        )
        .await
        .unwrap_or_default()
    }

    /// Waits for the parts; their full-object checksum and completion list.
    async fn prepare(
        &mut self,
        cancel: &CancellationToken,
        check: impl FnOnce(u64) -> Result<(), CopyError>,
    ) -> Result<(Option<u64>, Vec<CompletedPart>), CopyError> {
        loop {
            let joined = tokio::select! {
                () = cancel.cancelled() => return Err(cancelled(&self.uploaded)),
                joined = self.tasks.join_next() => joined,
            };
            match joined {
                Some(joined) => self.record(joined)?,
                None => break,
            }
        }
        self.done.sort_by_key(|part| part.number);
        let combined = self.done.iter().try_fold(None, |full, part| {
            let crc = part.crc?;
            Some(Some(match full {
                None => crc,
                Some(so_far) => crc_fast::checksum_combine(
                    crc_fast::CrcAlgorithm::Crc64Nvme,
                    so_far,
                    crc,
                    part.len,
                ),
            }))
        });
        let crc = match combined {
            Some(combined) => {
                let crc = combined.unwrap_or_else(|| crc64nvme(&[]));
                check(crc)?;
                self.crc_combined = true;
                Some(crc)
            }
            None => self.expected_crc,
        };
        let parts = self
            .done
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(part.number as i32)
                    .e_tag(&part.etag)
                    .set_checksum_crc64_nvme(part.crc.map(crc64_base64))
                    .build()
            })
            .collect();
        Ok((crc, parts))
    }

    /// One `CompleteMultipartUpload` under `condition`.
    async fn send_complete(
        &self,
        crc: Option<u64>,
        parts: Vec<CompletedPart>,
        condition: WriteCondition,
        cancel: &CancellationToken,
    ) -> Result<Written, CopyError> {
        let part_count = parts.len() as u64;
        let destination = &self.target.destination;
        let request = self
            .target
            .client
            .complete_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(&self.target.upload_id)
            .set_if_match(condition.if_match())
            .set_if_none_match(condition.if_none_match())
            .checksum_type(ChecksumType::FullObject)
            .set_checksum_crc64_nvme(crc.map(crc64_base64))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send();
        let output = answered_within_grace(request, cancel)
            .await
            .ok_or_else(|| cancelled(&self.uploaded))?
            .map_err(|e| {
                let gone = e.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload");
                (gone, complete_error(destination, e))
            });
        let output = match output {
            Ok(output) => output,
            Err((gone, error)) if gone || matches!(error, CopyError::WriteConflict { .. }) => {
                // A 412 is ours only if our upload is gone: completed by the
                // attempt whose answer was lost. Open, another writer met
                // the condition first, however alike its bytes.
                if !gone && !self.gone(cancel).await {
                    return Err(error);
                }
                let client = &self.target.client;
                let expected = super::Expected {
                    crc,
                    origin: &self.origin,
                };
                return match super::landed(client, destination, &expected, part_count, cancel).await
                {
                    Some(written) => Ok(written),
                    None => Err(error),
                };
            }
            Err((_, error)) => return Err(error),
        };
        let etag = destination.required("complete multipart upload", "etag", output.e_tag())?;
        Ok(Written {
            etag: etag.to_owned(),
            version_id: output.version_id().map(str::to_owned),
            crc64nvme: output
                .checksum_crc64_nvme()
                .and_then(super::crc64_decode)
                .or(crc.filter(|_| self.crc_combined)),
            parts: part_count,
        })
    }

    /// Whether S3 no longer knows this upload (`ListParts` answers
    /// `NoSuchUpload`); any other answer, or a cancellation, is no.
    async fn gone(&self, cancel: &CancellationToken) -> bool {
        let target = &self.target;
        let state = super::upload_state(&target.client, &target.destination, &target.upload_id);
        tokio::select! {
            () = cancel.cancelled() => false,
            state = state => matches!(state, Ok(super::UploadState::Gone)),
        }
    }

    /// The one abort path: cancel in-flight parts, drain them,
    /// `AbortMultipartUpload` (retried within [`super::abort::ABORT_BUDGET`],
    /// a failure logged with the upload id), return `error`.
    ///
    /// # Cancellation
    ///
    /// Not raced against the copy's token: it is what a cancellation runs.
    /// Dropped midway, the guard spawns the abort instead.
    pub async fn abort(self, error: CopyError) -> CopyError {
        self.discard().await;
        error
    }

    /// Lets the part tasks in flight end (until the copy's token fires: the
    /// deadline leaves no time to wait), cancels and drains what is left,
    /// then aborts the upload, and what ambiguous creates left open: before
    /// ours while the copy runs; once cancelled, found within
    /// [`CREATE_GRACE`] while ours still orders the listing, then aborted
    /// beside ours, all within [`CLEANUP_BUDGET`].
    async fn discard(mut self) {
        let tasks = &mut self.tasks;
        tokio::select! {
            () = self.settle_until.cancelled() => {}
            () = async { while tasks.join_next().await.is_some() {} } => {}
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.settle_creates().await;
        let started = Instant::now();
        let found = self.found_orphans(started).await;
        let target = &self.target;
        self.abort_sent = true;
        let theirs = orphans::abort_found(
            &target.client,
            &target.destination,
            found,
            &mut self.ambiguous_creates,
            started + CLEANUP_BUDGET,
        );
        tokio::join!(target.run(), theirs);
        self.settled = true;
        orphans::release(&self.target.upload_id);
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if self.shared {
            // Other segments write into it: their retries, or the
            // lifecycle rule, settle it.
            self.tasks.abort_all();
            orphans::release(&self.target.upload_id);
            return;
        }
        orphans::release(&self.target.upload_id);
        let mut tasks = std::mem::take(&mut self.tasks);
        tasks.abort_all();
        let target = self.target.clone();
        if self.abort_sent {
            tracing::warn!(
                "multipart upload {} of s3://{}/{} was dropped before s3 answered its abort: \
                 sending it again in the background (s3 carries out an abort it received; \
                 if neither arrives, the bucket's lifecycle rule removes the upload)",
                target.upload_id,
                target.destination.bucket,
                target.destination.key
            );
        } else {
            tracing::warn!(
                "multipart upload {} of s3://{}/{} was dropped unfinished: aborting it in the background",
                target.upload_id,
                target.destination.bucket,
                target.destination.key
            );
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    while tasks.join_next().await.is_some() {}
                    if target.run().await == AbortOutcome::Failed {
                        tracing::error!(
                            "multipart upload {} stays open after its copy was dropped",
                            target.upload_id
                        );
                    }
                });
            }
            Err(_) => tracing::error!(
                "no runtime to abort multipart upload {} of s3://{}/{}: a lifecycle rule must clean it up",
                target.upload_id,
                target.destination.bucket,
                target.destination.key
            ),
        }
    }
}
