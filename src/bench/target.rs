//! Where a bench measures: one `s3://BUCKET/PREFIX/`, the keys a run writes under it, the refusal of a prefix holding others' objects, and the cleanup.

use super::error::BenchError;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::StreamExt;
use std::time::{Duration, SystemTime};

/// User metadata (`x-amz-meta-…`) on every object a bench writes: its run
/// id. A key under [`RUN_DIRECTORY`] without it is someone else's.
pub const MARKER: &str = "s3-stream-lambda-bench";

/// Every key a run writes is `PREFIX` + this + the run id + `/` + a name, so
/// a run's objects and uploads are listed (and removed) by one prefix.
pub const RUN_DIRECTORY: &str = "s3-stream-lambda-bench-";

/// A run id starts with the Unix second by which the run will have ended,
/// cleanup included: until then (and this much longer, for clocks that
/// differ between the machine that ran it and this one) its objects may be
/// in use, and the prefix is refused; after, they are leftovers, removed.
pub const LEFTOVER_SLACK: Duration = Duration::from_secs(120);

/// Requests the cleanup keeps in flight: a run writes a few dozen objects.
const CLEANUP_CONCURRENCY: usize = 16;

/// Keys (or versions) `DeleteObjects` takes at once (S3's limit).
const DELETE_BATCH: usize = 1000;

/// After a run whose last case was cut off, a write S3 received before the
/// cut may still land (a completion, a `CopyObject`, a small PUT): the
/// cleanup looks again this long after its first pass.
pub(crate) const LATE_WRITE_WAIT: Duration = Duration::from_millis(1500);

/// A new run id: the Unix second `ends` (when the run will have cleaned
/// up), then 64 random bits, so runs started at once never share keys.
pub fn new_run_id(ends: SystemTime) -> String {
    use std::hash::{BuildHasher, Hasher};
    let seconds = ends
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{seconds}-{random:016x}")
}

/// The Unix second a run id says its run ends by.
fn run_ends(run: &str) -> Option<u64> {
    let (seconds, random) = run.split_once('-')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    seconds.parse().ok()
}

/// A bucket and a prefix of it (ending with `/`), where a bench may write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BenchTarget {
    /// The bucket.
    pub bucket: String,
    /// The prefix: not empty, ending with `/`.
    pub prefix: String,
}

/// Why a string is not a bench target.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not `s3://BUCKET/PREFIX/`.
    #[error("must look like s3://BUCKET/PREFIX/, not {0:?}")]
    NotAnS3Url(String),
    /// The bucket is not a bucket name.
    #[error("names {0:?}, which is not a bucket name")]
    Bucket(String),
    /// No prefix: a bench never measures in a whole bucket.
    #[error(
        "must name a prefix, not a whole bucket: a bench writes (and removes) only under a prefix of its own"
    )]
    EmptyPrefix,
    /// The prefix does not end with `/`.
    #[error("must end with / (a prefix of its own), not {0:?}")]
    NoSlash(String),
    /// An empty, `.` or `..` segment, or one named like a run's directory.
    #[error("must not have an empty, . or .. segment, or one starting with {RUN_DIRECTORY}: {0:?}")]
    Segment(String),
}

impl BenchTarget {
    /// Reads `s3://BUCKET/PREFIX/`.
    pub fn parse(url: &str) -> Result<BenchTarget, TargetError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| TargetError::NotAnS3Url(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !crate::config::valid_bucket_name(bucket) {
            return Err(TargetError::Bucket(bucket.to_owned()));
        }
        if prefix.is_empty() {
            return Err(TargetError::EmptyPrefix);
        }
        if !prefix.ends_with('/') {
            return Err(TargetError::NoSlash(prefix.to_owned()));
        }
        if prefix[..prefix.len() - 1].split('/').any(|segment| {
            segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.starts_with(RUN_DIRECTORY)
        }) {
            return Err(TargetError::Segment(prefix.to_owned()));
        }
        Ok(BenchTarget {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// True when `other` is this target or a prefix under it.
    pub fn contains(&self, other: &BenchTarget) -> bool {
        self.bucket == other.bucket && other.prefix.starts_with(&self.prefix)
    }

    /// The key prefix of run `run`.
    pub fn run_prefix(&self, run: &str) -> String {
        format!("{}{RUN_DIRECTORY}{run}/", self.prefix)
    }
}

impl std::fmt::Display for BenchTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// An object or open upload under a prefix.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    /// The upload id, for an open upload.
    upload_id: Option<String>,
}

/// Every object under `prefix`.
async fn list_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, BenchError> {
    let mut listed = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| BenchError::s3(format!("listing s3://{bucket}/{prefix}"), &e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                listed.push(Listed {
                    key: key.to_owned(),
                    upload_id: None,
                });
            }
        }
    }
    Ok(listed)
}

/// Every open multipart upload under `prefix`.
async fn list_uploads(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, BenchError> {
    let mut listed = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut upload_marker: Option<String> = None;
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(upload_marker.take())
            .send()
            .await
            .map_err(|e| {
                BenchError::s3(
                    format!("listing the uploads under s3://{bucket}/{prefix}"),
                    &e,
                )
            })?;
        for upload in page.uploads() {
            if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                listed.push(Listed {
                    key: key.to_owned(),
                    upload_id: Some(id.to_owned()),
                });
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok(listed);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        upload_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && upload_marker.is_none() {
            return Ok(listed);
        }
    }
}

/// The run a key under the target belongs to, when it is under [`RUN_DIRECTORY`].
fn run_of<'k>(target: &BenchTarget, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(&target.prefix)?
        .strip_prefix(RUN_DIRECTORY)?
        .split('/')
        .next()
}

/// What [`prepare`] removed of earlier runs, or [`clean`] of this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    /// Objects deleted.
    pub objects: usize,
    /// Uploads aborted.
    pub uploads: usize,
    /// Noncurrent versions and delete markers deleted (a versioned bucket).
    #[serde(default)]
    pub versions: usize,
}

/// Checks that `target` holds nothing but earlier runs' leftovers (runs
/// past their end, [`LEFTOVER_SLACK`] included), and removes those: a
/// prefix holding anything else is refused before anything is written.
pub async fn prepare(client: &Client, target: &BenchTarget) -> Result<Removed, BenchError> {
    let objects = list_objects(client, &target.bucket, &target.prefix).await?;
    let uploads = list_uploads(client, &target.bucket, &target.prefix).await?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut foreign = Vec::new();
    let mut runs: Vec<String> = Vec::new();
    for item in objects.into_iter().chain(uploads) {
        let Some((run, ends)) =
            run_of(target, &item.key).and_then(|run| Some((run, run_ends(run)?)))
        else {
            foreign.push(item.key);
            continue;
        };
        if item.upload_id.is_none() {
            // Under a run's directory by name: ours only if it says so.
            let head = client
                .head_object()
                .bucket(&target.bucket)
                .key(&item.key)
                .send()
                .await
                .map_err(|e| {
                    BenchError::s3(format!("reading s3://{}/{}", target.bucket, item.key), &e)
                })?;
            if head
                .metadata()
                .and_then(|m| m.get(MARKER))
                .map(String::as_str)
                != Some(run)
            {
                foreign.push(item.key);
                continue;
            }
        }
        if now < ends + LEFTOVER_SLACK.as_secs() {
            return Err(BenchError::Busy {
                target: target.to_string(),
                run: run.to_owned(),
                seconds_left: ends + LEFTOVER_SLACK.as_secs() - now,
            });
        }
        if !runs.iter().any(|known| known == run) {
            runs.push(run.to_owned());
        }
    }
    if let Some(first) = foreign.first() {
        return Err(BenchError::PrefixNotEmpty {
            target: target.to_string(),
            count: foreign.len(),
            first: first.clone(),
        });
    }
    let mut removed = Removed::default();
    for run in runs {
        let cleaned = clean(client, &target.bucket, &target.run_prefix(&run), false).await?;
        removed.objects += cleaned.objects;
        removed.uploads += cleaned.uploads;
        removed.versions += cleaned.versions;
    }
    Ok(removed)
}

/// Aborts the uploads and deletes the objects in `items`, all of them
/// even when some fail (the caller lists again to see what is left); the
/// failures are logged.
async fn remove(client: &Client, bucket: &str, items: Vec<Listed>) -> Removed {
    let (uploads, objects): (Vec<Listed>, Vec<Listed>) =
        items.into_iter().partition(|item| item.upload_id.is_some());
    let mut removed = Removed::default();
    let mut aborts = futures_util::stream::iter(uploads)
        .map(|upload| async move {
            let id = upload.upload_id.unwrap_or_default();
            let answer = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(&upload.key)
                .upload_id(&id)
                .send()
                .await;
            match answer {
                Ok(_) => true,
                // Gone already: what an abort is for.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_upload()) =>
                {
                    true
                }
                Err(error) => {
                    tracing::warn!(
                        "bench: aborting the upload of s3://{bucket}/{} failed: {}",
                        upload.key,
                        crate::runtime::error_chain(&error)
                    );
                    false
                }
            }
        })
        .buffer_unordered(CLEANUP_CONCURRENCY);
    while let Some(aborted) = aborts.next().await {
        removed.uploads += usize::from(aborted);
    }
    let keys: Vec<(String, Option<String>)> =
        objects.into_iter().map(|item| (item.key, None)).collect();
    removed.objects = delete(client, bucket, keys).await;
    removed
}

/// Deletes `keys` (each with a version id, or none): `DeleteObjects` in
/// batches, or one `DeleteObject` each where the store has no
/// `DeleteObjects`. Returns how many were deleted; failures are logged.
async fn delete(client: &Client, bucket: &str, keys: Vec<(String, Option<String>)>) -> usize {
    let mut deleted = 0;
    for batch in keys.chunks(DELETE_BATCH) {
        deleted += match delete_batch(client, bucket, batch).await {
            Ok(count) => count,
            Err(error) => {
                tracing::warn!("bench: {}", crate::runtime::error_chain(&error));
                0
            }
        };
    }
    deleted
}

async fn delete_batch(
    client: &Client,
    bucket: &str,
    batch: &[(String, Option<String>)],
) -> Result<usize, BenchError> {
    let identifiers: Vec<ObjectIdentifier> = batch
        .iter()
        .filter_map(|(key, version)| {
            ObjectIdentifier::builder()
                .key(key)
                .set_version_id(version.clone())
                .build()
                .ok()
        })
        .collect();
    let request = Delete::builder()
        .set_objects(Some(identifiers))
        .quiet(true)
        .build()
        .map_err(|e| BenchError::s3("building a DeleteObjects request", &e))?;
    match client
        .delete_objects()
        .bucket(bucket)
        .delete(request)
        .send()
        .await
    {
        Ok(output) => {
            if let Some(first) = output.errors().first() {
                return Err(BenchError::S3 {
                    what: format!("deleting s3://{bucket}/{}", first.key().unwrap_or_default()),
                    cause: first.message().unwrap_or("refused").to_owned(),
                });
            }
            return Ok(batch.len());
        }
        Err(error)
            if error
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 501) => {}
        Err(error) => {
            return Err(BenchError::s3(
                format!("deleting {} objects in s3://{bucket}", batch.len()),
                &error,
            ));
        }
    }
    let mut deletes = futures_util::stream::iter(batch.to_vec())
        .map(|(key, version)| async move {
            client
                .delete_object()
                .bucket(bucket)
                .key(&key)
                .set_version_id(version)
                .send()
                .await
                .map_err(|e| BenchError::s3(format!("deleting s3://{bucket}/{key}"), &e))
        })
        .buffer_unordered(CLEANUP_CONCURRENCY);
    let mut deleted = 0;
    while let Some(answer) = deletes.next().await {
        match answer {
            Ok(_) => deleted += 1,
            Err(error) => tracing::warn!("bench: {}", crate::runtime::error_chain(&error)),
        }
    }
    Ok(deleted)
}

/// Listings of versions [`purge_versions`] makes at most: each deletes what
/// it finds, so the last finds nothing (a version a paged listing skipped,
/// or one made current by deleting the marker above it, is found again).
const PURGE_PASSES: usize = 4;

/// Deletes every version and delete marker under `prefix`: in a versioned
/// bucket a deleted object leaves its versions, which S3 stores (and
/// bills) until deleted by id. A store without versions (501) or a role
/// without `s3:ListBucketVersions` leaves them, with a warning.
async fn purge_versions(client: &Client, bucket: &str, prefix: &str) -> Result<usize, BenchError> {
    let mut purged = 0;
    for _ in 0..PURGE_PASSES {
        match purge_pass(client, bucket, prefix).await? {
            0 => break,
            deleted => purged += deleted,
        }
    }
    Ok(purged)
}

/// One listing of the versions under `prefix`, each deleted.
async fn purge_pass(client: &Client, bucket: &str, prefix: &str) -> Result<usize, BenchError> {
    let mut versions: Vec<(String, String)> = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = match client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(error) => {
                let status = error.raw_response().map(|r| r.status().as_u16());
                if matches!(status, Some(501 | 403)) {
                    tracing::warn!(
                        "bench: cannot list the versions under s3://{bucket}/{prefix} ({}): a versioned bucket keeps the bench's deleted objects as noncurrent versions",
                        crate::runtime::error_chain(&error)
                    );
                    return Ok(0);
                }
                return Err(BenchError::s3(
                    format!("listing the versions under s3://{bucket}/{prefix}"),
                    &error,
                ));
            }
        };
        for version in page.versions() {
            if let (Some(key), Some(id)) = (version.key(), version.version_id()) {
                versions.push((key.to_owned(), id.to_owned()));
            }
        }
        for marker in page.delete_markers() {
            if let (Some(key), Some(id)) = (marker.key(), marker.version_id()) {
                versions.push((key.to_owned(), id.to_owned()));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    let count = versions.len();
    let mut deletes = futures_util::stream::iter(versions)
        .map(|(key, id)| async move {
            client
                .delete_object()
                .bucket(bucket)
                .key(&key)
                .version_id(&id)
                .send()
                .await
                .map_err(|e| {
                    BenchError::s3(format!("deleting version {id} of s3://{bucket}/{key}"), &e)
                })
        })
        .buffer_unordered(CLEANUP_CONCURRENCY);
    while let Some(answer) = deletes.next().await {
        answer?;
    }
    Ok(count)
}

/// Removes everything under `run_prefix` (uploads first, then objects,
/// then what a versioned bucket keeps of them) and checks that nothing is
/// left. After a cut-off case (`late_writes`), it looks again
/// [`LATE_WRITE_WAIT`] later, for a write S3 carried out after the cut.
pub async fn clean(
    client: &Client,
    bucket: &str,
    run_prefix: &str,
    late_writes: bool,
) -> Result<Removed, BenchError> {
    let mut removed = Removed::default();
    let mut passes = if late_writes { 2 } else { 1 };
    loop {
        let uploads = list_uploads(client, bucket, run_prefix).await?;
        let objects = list_objects(client, bucket, run_prefix).await?;
        let pass = remove(client, bucket, uploads.into_iter().chain(objects).collect()).await;
        removed.objects += pass.objects;
        removed.uploads += pass.uploads;
        passes -= 1;
        if passes == 0 {
            break;
        }
        tokio::time::sleep(LATE_WRITE_WAIT).await;
    }
    removed.versions = purge_versions(client, bucket, run_prefix).await?;
    let uploads = list_uploads(client, bucket, run_prefix).await?.len();
    let objects = list_objects(client, bucket, run_prefix).await?.len();
    if uploads + objects > 0 {
        return Err(BenchError::CleanupIncomplete {
            prefix: format!("s3://{bucket}/{run_prefix}"),
            objects,
            uploads,
        });
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_refuses_whole_buckets() {
        let target = BenchTarget::parse("s3://bench-bucket/a/b/").unwrap();
        assert_eq!(target.bucket, "bench-bucket");
        assert_eq!(target.prefix, "a/b/");
        assert_eq!(target.to_string(), "s3://bench-bucket/a/b/");
        assert_eq!(
            BenchTarget::parse("s3://bench-bucket/"),
            Err(TargetError::EmptyPrefix)
        );
        assert_eq!(
            BenchTarget::parse("s3://bench-bucket"),
            Err(TargetError::EmptyPrefix)
        );
        assert!(matches!(
            BenchTarget::parse("s3://b/a"),
            Err(TargetError::Bucket(_))
        ));
        assert!(matches!(
            BenchTarget::parse("s3://bucket/a"),
            Err(TargetError::NoSlash(_))
        ));
        assert!(matches!(
            BenchTarget::parse("https://x/"),
            Err(TargetError::NotAnS3Url(_))
        ));
    }

    #[test]
    fn a_target_contains_itself_and_prefixes_under_it_only() {
        let allowed = BenchTarget::parse("s3://bucket/bench/").unwrap();
        assert!(allowed.contains(&allowed));
        assert!(allowed.contains(&BenchTarget::parse("s3://bucket/bench/512/").unwrap()));
        assert!(!allowed.contains(&BenchTarget::parse("s3://bucket/benchmark/").unwrap()));
        assert!(!allowed.contains(&BenchTarget::parse("s3://other/bench/").unwrap()));
    }

    #[test]
    fn keys_belong_to_a_run_only_under_the_run_directory() {
        let target = BenchTarget::parse("s3://bucket/bench/").unwrap();
        let key = format!("{}source", target.run_prefix("r1"));
        assert_eq!(run_of(&target, &key), Some("r1"));
        let ends = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let run = new_run_id(ends);
        assert_eq!(run_ends(&run), Some(1_800_000_000));
        assert_ne!(new_run_id(ends), run, "runs started at once differ");
        assert_eq!(run_ends("1800000000-xyz"), None);
        assert_eq!(run_of(&target, "bench/data.csv"), None);
        assert_eq!(run_of(&target, "other/s3-stream-lambda-bench-r1/x"), None);
    }
}
