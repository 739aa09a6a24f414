//! Uploads an ambiguous `CreateMultipartUpload` answer may have left open: found by key and initiation window, aborted.
//!
//! S3 may create an upload and still answer 500, time out or lose the
//! connection; the SDK then retries and the copy uses the second upload,
//! while the first stays open (billed) until a lifecycle rule aborts it. S3
//! returns no metadata for an open upload, so such an orphan is known by
//! what can be known: its key, and an `Initiated` time within the window of
//! one of our own create attempts that got no clear answer.
//!
//! Another live copy of the same key must never lose its upload to this
//! clean-up. A candidate must pass five tests: it is listed before the
//! upload we use (S3 lists one key's uploads by initiation, and our retries
//! are sequential, so our orphans are always older), or, when no upload of
//! ours anchors the listing, its `Initiated` stamp is a clock reading; where
//! the stamp is a clock reading, it falls inside the window of one of
//! *our* unanswered attempts (tens of milliseconds, widened by
//! [`CLOCK_SKEW`], and by a second for a store that stamps whole seconds)
//! that no other candidate took; it holds no parts
//! when we look, at the end of our copy (a live copy uploads parts from its
//! first seconds, an orphan never gets one); and no copy in this process
//! uses it (the live set below, checked again just before the abort). And
//! the candidates must be no more than our unanswered attempts: two copies
//! of one key may create their uploads within one window (or on a store
//! that keeps no time, anywhere before ours), and while the other's has no
//! part yet, nothing tells which is the orphan. The sweep then looks again
//! until the other's first part (or its end) tells them apart, within its
//! budget; past that it aborts none, and the lifecycle rule removes the
//! orphan. A live upload of another sandbox that still slips through
//! answers `NoSuchUpload` to its next part or completion, which fails that
//! copy as transient with nothing written, for its event's retry.

use super::abort::{AbortOutcome, AbortTarget};
use super::{Destination, UploadState, upload_state};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How far S3's clock and ours may disagree around an attempt: NTP keeps
/// both within milliseconds, and 100 ms covers a bad day without widening
/// an attempt's window of tens of milliseconds into seconds, where another
/// sandbox's fresh upload could fall.
pub const CLOCK_SKEW: Duration = Duration::from_millis(100);

/// How near now an `Initiated` stamp must be to count as a clock reading:
/// no copy lasts an hour, and a store that does not keep the time (moto
/// stamps every upload 2010-11-10) is off by years.
const STAMP_PLAUSIBLE: Duration = Duration::from_secs(3600);

/// The most a sweep may take while the copy still runs (raced against its
/// token, which alone keeps the deadline): S3 answers a listing in tens of
/// milliseconds, but a store under load (moto behind a busy test suite)
/// has taken over 1.5 s, and giving up leaves an orphan open.
pub const SWEEP_BUDGET: Duration = Duration::from_secs(10);

/// The first pause between attempts to list the key's uploads; it doubles
/// after each failure, like an abort's, until the sweep's time is up.
const LIST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest pause between listings: an ambiguity waits for another
/// copy's first part, which a live copy sends within a second or two, so
/// the sweep looks at least once a second rather than sleeping through it.
const MAX_LIST_BACKOFF: Duration = Duration::from_secs(1);

/// Most `ListMultipartUploads` pages one clean-up reads: 1,000 open uploads
/// of one key is already far beyond any copy's; the rest waits for the
/// lifecycle rule rather than holding the answer.
const MAX_LIST_PAGES: usize = 5;

/// One create attempt as the SDK sent it: when, and what it heard back.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    sent: SystemTime,
    answered: Option<SystemTime>,
    status: Option<u16>,
}

/// The attempts of one `CreateMultipartUpload`, recorded by an SDK
/// interceptor so that the SDK's own retries (and their rate limiting) stay
/// as they are.
#[derive(Debug, Clone, Default)]
pub struct CreateAttempts(Arc<Mutex<Vec<Attempt>>>);

impl Intercept for CreateAttempts {
    fn name(&self) -> &'static str {
        "CreateAttempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.lock().push(Attempt {
            sent: SystemTime::now(),
            answered: None,
            status: None,
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let status = context.response().map(|r| r.status().as_u16());
        if let Some(last) = self.lock().last_mut() {
            last.answered = Some(SystemTime::now());
            last.status = status;
        }
        Ok(())
    }
}

/// A span of our clock in which S3 may have created an upload we never learnt of.
pub type Window = (SystemTime, SystemTime);

impl CreateAttempts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Attempt>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The windows of the attempts whose answer leaves open whether S3
    /// created an upload: every attempt but the one that named ours
    /// (`succeeded`: the last), unless S3 refused it with a 4xx. An attempt
    /// still unanswered (a cancellation) ends now.
    pub fn ambiguous(&self, succeeded: bool) -> Vec<Window> {
        let attempts = self.lock();
        let count = attempts.len() - usize::from(succeeded && !attempts.is_empty());
        attempts[..count]
            .iter()
            .filter(|attempt| !matches!(attempt.status, Some(400..=499)))
            .map(|attempt| {
                (
                    attempt.sent,
                    attempt.answered.unwrap_or_else(SystemTime::now),
                )
            })
            .collect()
    }
}

/// The upload ids this process's copies are using: never an orphan.
static LIVE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<HashSet<String>>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks `upload_id` as in use by a copy of this process until
/// [`release`].
pub fn claim(upload_id: &str) {
    live()
        .get_or_insert_with(HashSet::new)
        .insert(upload_id.to_owned());
}

/// The copy using `upload_id` is done with it.
pub fn release(upload_id: &str) {
    if let Some(set) = live().as_mut() {
        set.remove(upload_id);
    }
}

fn in_use(upload_id: &str) -> bool {
    live().as_ref().is_some_and(|set| set.contains(upload_id))
}

/// An upload an ambiguous create made, and the window of that attempt.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// S3's id of the upload.
    pub upload_id: String,
    window: Window,
}

/// Finds and aborts, by `until`, the uploads of `destination` that one of
/// `windows` may have created ([`find`], then [`abort_found`]); each window
/// whose upload is settled leaves `windows`. Returns how many it aborted.
///
/// # Cancellation
///
/// Not raced against the copy's token: everything it sends ends by
/// `until`. Dropped midway, it has aborted only orphans, and `windows`
/// holds just the attempts still unsettled, for a later sweep.
pub async fn abort_orphans(
    client: &Client,
    destination: &Destination,
    ours: Option<&str>,
    windows: &mut Vec<Window>,
    until: Instant,
) -> usize {
    let Some(found) = find(client, destination, ours, windows, until).await else {
        return 0;
    };
    // An attempt no listed upload matched made none: settled by the listing.
    windows.retain(|window| found.iter().any(|orphan| orphan.window == *window));
    abort_found(client, destination, found, windows, until).await
}

/// The orphans of `windows` among `destination`'s uploads, listed (with
/// retries) by `until`: with `ours`, those listed before it; without it,
/// only uploads whose `Initiated` stamp is a clock reading inside a window,
/// since nothing else tells an orphan from a newer copy's upload. `None`
/// when it cannot tell by `until`: a listing that failed or ran out of
/// time, or more empty candidates than windows (logged; the bucket's
/// lifecycle rule then removes them), or one without ours.
pub async fn find(
    client: &Client,
    destination: &Destination,
    ours: Option<&str>,
    windows: &[Window],
    until: Instant,
) -> Option<Vec<Orphan>> {
    if windows.is_empty() {
        return Some(Vec::new());
    }
    // Retried like an abort: the SDK's own retries stop when its retry
    // quota is spent, which a burst of faults does.
    let mut backoff = LIST_BACKOFF;
    loop {
        let found = tokio::time::timeout_at(until, candidates(client, destination, ours, windows));
        let problem = match found.await {
            Ok(Ok(Candidates::Orphans(orphans))) => return Some(orphans),
            Ok(Ok(Candidates::Unordered)) => return None,
            Ok(Ok(Candidates::Ambiguous { empty })) => Problem::Ambiguous { empty },
            Ok(Err(error)) => Problem::Listing(error),
            Err(_elapsed) => Problem::Listing("no time left".to_owned()),
        };
        if Instant::now() + backoff >= until {
            match problem {
                Problem::Listing(error) => tracing::error!(
                    "failed to look for the uploads an ambiguous create of s3://{}/{} may have \
                     left open: {error} (a lifecycle rule must clean them up)",
                    destination.bucket,
                    destination.key
                ),
                Problem::Ambiguous { empty } => tracing::error!(
                    "{empty} empty multipart uploads of s3://{}/{} may be the {} an ambiguous \
                     create left open, and no part or stamp told them apart in time: none \
                     aborted, lest another copy's be (a lifecycle rule must clean them up)",
                    destination.bucket,
                    destination.key,
                    windows.len()
                ),
            }
            return None;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_LIST_BACKOFF);
    }
}

/// Why a look for orphans is tried again.
enum Problem {
    /// The listing failed or ran out of time.
    Listing(String),
    /// More empty uploads could be orphans than there were ambiguous attempts.
    Ambiguous { empty: usize },
}

/// Aborts each of `found` in turn by `until`, unless a copy of this process
/// claimed it since; each settled (aborted, or gone already) removes its
/// window from `windows`. Returns how many it aborted.
pub async fn abort_found(
    client: &Client,
    destination: &Destination,
    found: Vec<Orphan>,
    windows: &mut Vec<Window>,
    until: Instant,
) -> usize {
    let mut aborted = 0;
    for orphan in found {
        if in_use(&orphan.upload_id) {
            continue;
        }
        tracing::warn!(
            "multipart upload {} of s3://{}/{} was created by a create attempt whose answer \
             was lost: aborting it",
            orphan.upload_id,
            destination.bucket,
            destination.key
        );
        let target = AbortTarget {
            client: client.clone(),
            destination: destination.clone(),
            upload_id: orphan.upload_id,
        };
        match tokio::time::timeout_at(until, target.run()).await {
            Ok(AbortOutcome::Failed) => continue,
            Ok(outcome) => aborted += usize::from(outcome == AbortOutcome::Aborted),
            Err(_elapsed) => {
                tracing::error!(
                    "no time left to abort multipart upload {} of s3://{}/{} (and any other an \
                     ambiguous create left open): a lifecycle rule must clean it up",
                    target.upload_id,
                    destination.bucket,
                    destination.key
                );
                break;
            }
        }
        if let Some(at) = windows.iter().position(|window| *window == orphan.window) {
            windows.remove(at);
        }
    }
    aborted
}

/// What one listing of the key's uploads tells.
enum Candidates {
    /// Each an upload an ambiguous attempt made, of a window of its own.
    Orphans(Vec<Orphan>),
    /// Ours is not listed: the listing cannot be trusted to order it.
    Unordered,
    /// `empty` uploads, more than there are windows, could each be an
    /// orphan: some are another copy's, which has not uploaded a part yet.
    Ambiguous { empty: usize },
}

/// The orphans [`find`] returns: walking back from ours through the key's
/// uploads (S3 lists one key's uploads by initiation time), the eligible
/// ones, each matched to an ambiguous attempt of its own: an attempt made at
/// most one upload. When more eligible uploads than attempts are found,
/// which are orphans is not known (two copies of the key created theirs
/// within one window, or the store keeps no time), and none is taken.
async fn candidates(
    client: &Client,
    destination: &Destination,
    ours: Option<&str>,
    windows: &[Window],
) -> Result<Candidates, String> {
    let uploads = key_uploads(client, destination).await?;
    let before_ours = match ours {
        Some(ours) => match uploads.iter().position(|(id, _)| id == ours) {
            Some(at) => &uploads[..at],
            None => return Ok(Candidates::Unordered),
        },
        None => &uploads[..],
    };
    let now = SystemTime::now();
    let mut unmatched = windows.to_vec();
    let mut orphans = Vec::new();
    let mut empty = 0;
    for (id, initiated) in before_ours.iter().rev() {
        if in_use(id) || matching_window(*initiated, windows, now, ours.is_some()).is_none() {
            continue;
        }
        match upload_state(client, destination, id).await {
            Ok(UploadState::Empty) => {
                empty += 1;
                if let Some(window) = matching_window(*initiated, &unmatched, now, ours.is_some()) {
                    orphans.push(Orphan {
                        upload_id: id.clone(),
                        window: unmatched.remove(window),
                    });
                }
            }
            Ok(UploadState::HasParts) => tracing::info!(
                "multipart upload {id} of s3://{}/{} holds parts: another copy is using it",
                destination.bucket,
                destination.key
            ),
            // Gone since the listing: completed or aborted by its owner.
            Ok(UploadState::Gone) => {}
            Err(error) => return Err(DisplayErrorContext(&error).to_string()),
        }
    }
    if empty > orphans.len() {
        return Ok(Candidates::Ambiguous { empty });
    }
    Ok(Candidates::Orphans(orphans))
}

/// Which of the `unmatched` windows could have made an upload stamped
/// `initiated`: one that holds the stamp when it is a clock reading (within
/// [`STAMP_PLAUSIBLE`] of now; see [`stamp_in`]); when
/// it is not (moto stamps every upload alike), any (the latest) if the
/// listing is `anchored` at our upload, whose order then decides, else
/// none; and none when no window holds a clock stamp.
fn matching_window(
    initiated: Option<SystemTime>,
    unmatched: &[Window],
    now: SystemTime,
    anchored: bool,
) -> Option<usize> {
    let plausible =
        initiated.filter(|at| *at + STAMP_PLAUSIBLE >= now && *at <= now + STAMP_PLAUSIBLE);
    match plausible {
        Some(at) => unmatched
            .iter()
            .rposition(|(from, to)| stamp_in(at, (*from, *to))),
        None if anchored => unmatched.len().checked_sub(1),
        None => None,
    }
}

/// Whether an upload stamped `at` may have been made within `window`, our
/// clocks [`CLOCK_SKEW`] apart. A whole-second stamp is a store rounding
/// down (S3 lists milliseconds): the upload was made within the second it
/// names.
fn stamp_in(at: SystemTime, (from, to): Window) -> bool {
    let whole_second = at
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|since| since.subsec_nanos() == 0);
    let latest = if whole_second {
        at + Duration::from_secs(1)
    } else {
        at
    };
    latest + CLOCK_SKEW >= from && at <= to + CLOCK_SKEW
}

/// The uploads of exactly `destination`'s key, in S3's order.
async fn key_uploads(
    client: &Client,
    destination: &Destination,
) -> Result<Vec<(String, Option<SystemTime>)>, String> {
    let mut uploads = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    for _ in 0..MAX_LIST_PAGES {
        let page = client
            .list_multipart_uploads()
            .bucket(&destination.bucket)
            .prefix(&destination.key)
            .set_key_marker(markers.0.take())
            .set_upload_id_marker(markers.1.take())
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        for upload in page.uploads() {
            if let (Some(key), Some(id)) = (upload.key(), upload.upload_id())
                && key == destination.key
            {
                let initiated = upload
                    .initiated()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                uploads.push((id.to_owned(), initiated));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        markers = (
            page.next_key_marker().map(str::to_owned),
            page.next_upload_id_marker().map(str::to_owned),
        );
        if markers.0.is_none() {
            break;
        }
    }
    Ok(uploads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Option<u16>) -> Attempt {
        Attempt {
            sent: SystemTime::UNIX_EPOCH,
            answered: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(30)),
            status,
        }
    }

    #[test]
    fn only_unclear_answers_are_ambiguous() {
        let attempts = CreateAttempts::default();
        attempts.lock().extend([
            attempt(Some(500)),
            attempt(Some(403)),
            attempt(None),
            attempt(Some(200)),
        ]);
        // The last named our upload; the 403 created nothing.
        assert_eq!(attempts.ambiguous(true).len(), 2);
        // Cancelled: even the last may have created one.
        assert_eq!(attempts.ambiguous(false).len(), 3);
        assert!(CreateAttempts::default().ambiguous(true).is_empty());
    }

    #[test]
    fn each_upload_takes_a_window_of_its_own() {
        let now = SystemTime::now();
        let ago = |ms: u64| Some(now - Duration::from_millis(ms));
        let windows = [(
            now - Duration::from_secs(10),
            now - Duration::from_millis(9_950),
        )];
        assert_eq!(
            matching_window(ago(9_980), &windows, now, true),
            Some(0),
            "inside"
        );
        assert_eq!(
            matching_window(ago(10_050), &windows, now, true),
            Some(0),
            "within the clock skew"
        );
        assert_eq!(
            matching_window(ago(10_500), &windows, now, true),
            None,
            "half a second early"
        );
        assert_eq!(
            matching_window(ago(60_000), &windows, now, true),
            None,
            "a minute earlier"
        );
        assert_eq!(
            matching_window(ago(1_000), &windows, now, true),
            None,
            "after the window"
        );
        // moto stamps every upload 2010-11-10T20:48:33Z.
        let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_289_422_113);
        assert_eq!(
            matching_window(Some(fixed), &windows, now, true),
            Some(0),
            "no clock"
        );
        assert_eq!(
            matching_window(None, &windows, now, true),
            Some(0),
            "no stamp"
        );
        // Without our upload to order the listing, only a clock stamp tells.
        assert_eq!(matching_window(Some(fixed), &windows, now, false), None);
        assert_eq!(matching_window(None, &windows, now, false), None);
        assert_eq!(matching_window(ago(9_980), &windows, now, false), Some(0));
        // A store that stamps whole seconds: the second that holds the window.
        let second = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let at = second(1_800_000_000);
        let within = [(
            at + Duration::from_millis(400),
            at + Duration::from_millis(450),
        )];
        assert_eq!(matching_window(Some(at), &within, at, false), Some(0));
        assert_eq!(
            matching_window(Some(second(1_800_000_001)), &within, at, false),
            None,
            "the next second"
        );
        // A window once matched is spent: two uploads in one window are
        // one orphan and one upload of someone else.
        assert_eq!(matching_window(ago(9_980), &[], now, true), None);
        assert_eq!(matching_window(Some(fixed), &[], now, true), None);
    }

    #[test]
    fn live_uploads_are_never_orphans() {
        claim("live-upload-id");
        assert!(in_use("live-upload-id"));
        release("live-upload-id");
        assert!(!in_use("live-upload-id"));
    }
}
