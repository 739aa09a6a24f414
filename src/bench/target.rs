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

/// An earlier run's leftovers younger than this may belong to a run still
/// going (a Lambda invocation lasts 15 minutes at most): they are left
/// alone and the prefix is refused. Older ones are removed.
pub const LEFTOVER_MIN_AGE: Duration = Duration::from_secs(16 * 60);

/// Requests the cleanup keeps in flight: a run writes a few dozen objects.
const CLEANUP_CONCURRENCY: usize = 16;

/// Keys `DeleteObjects` takes at once (S3's limit).
const DELETE_BATCH: usize = 1000;

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
    /// When it was written (or the upload started).
    at: Option<SystemTime>,
    /// The upload id, for an open upload.
    upload_id: Option<String>,
}

fn system_time(time: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    time.and_then(|t| SystemTime::try_from(*t).ok())
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
                    at: system_time(object.last_modified()),
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
                    at: system_time(upload.initiated()),
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

/// What [`prepare`] removed of earlier runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    /// Objects deleted.
    pub objects: usize,
    /// Uploads aborted.
    pub uploads: usize,
}

/// Checks that `target` holds nothing but earlier runs' leftovers, and
/// removes those (older than [`LEFTOVER_MIN_AGE`]): a prefix holding
/// anything else is refused before anything is written.
pub async fn prepare(client: &Client, target: &BenchTarget) -> Result<Removed, BenchError> {
    let objects = list_objects(client, &target.bucket, &target.prefix).await?;
    let uploads = list_uploads(client, &target.bucket, &target.prefix).await?;
    let now = SystemTime::now();
    let mut foreign = Vec::new();
    let mut leftovers = Vec::new();
    for item in objects.into_iter().chain(uploads) {
        let Some(run) = run_of(target, &item.key) else {
            foreign.push(item.key);
            continue;
        };
        if item.upload_id.is_none() {
            // Under the run directory by name: ours only if it says so.
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
        let age = item
            .at
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default();
        if age < LEFTOVER_MIN_AGE {
            return Err(BenchError::Busy {
                target: target.to_string(),
                run: run.to_owned(),
                age_seconds: age.as_secs(),
                min_age_seconds: LEFTOVER_MIN_AGE.as_secs(),
            });
        }
        leftovers.push(item);
    }
    if let Some(first) = foreign.first() {
        return Err(BenchError::PrefixNotEmpty {
            target: target.to_string(),
            count: foreign.len(),
            first: first.clone(),
        });
    }
    remove(client, &target.bucket, leftovers).await
}

/// Aborts the uploads and deletes the objects in `items`.
async fn remove(client: &Client, bucket: &str, items: Vec<Listed>) -> Result<Removed, BenchError> {
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
                Ok(_) => Ok(()),
                // Gone already: what an abort is for.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_upload()) =>
                {
                    Ok(())
                }
                Err(error) => Err(BenchError::s3(
                    format!("aborting the upload of s3://{bucket}/{}", upload.key),
                    &error,
                )),
            }
        })
        .buffer_unordered(CLEANUP_CONCURRENCY);
    while let Some(answer) = aborts.next().await {
        answer?;
        removed.uploads += 1;
    }
    for batch in objects.chunks(DELETE_BATCH) {
        removed.objects += delete_batch(client, bucket, batch).await?;
    }
    Ok(removed)
}

/// Deletes `batch`: one `DeleteObjects`, or one `DeleteObject` each where
/// the store has no `DeleteObjects`.
async fn delete_batch(
    client: &Client,
    bucket: &str,
    batch: &[Listed],
) -> Result<usize, BenchError> {
    let identifiers: Vec<ObjectIdentifier> = batch
        .iter()
        .filter_map(|item| ObjectIdentifier::builder().key(&item.key).build().ok())
        .collect();
    let delete = Delete::builder()
        .set_objects(Some(identifiers))
        .quiet(true)
        .build()
        .map_err(|e| BenchError::s3("building a DeleteObjects request", &e))?;
    match client
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
    {
        Ok(output) if output.errors().is_empty() => return Ok(batch.len()),
        Ok(output) => {
            let first = &output.errors()[0];
            return Err(BenchError::S3 {
                what: format!("deleting s3://{bucket}/{}", first.key().unwrap_or_default()),
                cause: first.message().unwrap_or("refused").to_owned(),
            });
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
    let keys: Vec<String> = batch.iter().map(|item| item.key.clone()).collect();
    let mut deletes = futures_util::stream::iter(keys)
        .map(|key| async move {
            client
                .delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| BenchError::s3(format!("deleting s3://{bucket}/{key}"), &e))
        })
        .buffer_unordered(CLEANUP_CONCURRENCY);
    let mut deleted = 0;
    while let Some(answer) = deletes.next().await {
        answer?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Removes everything under `run_prefix` (uploads first, then objects) and
/// checks nothing is left.
pub async fn clean(client: &Client, bucket: &str, run_prefix: &str) -> Result<Removed, BenchError> {
    let uploads = list_uploads(client, bucket, run_prefix).await?;
    let objects = list_objects(client, bucket, run_prefix).await?;
    let removed = remove(client, bucket, uploads.into_iter().chain(objects).collect()).await?;
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
        assert_eq!(run_of(&target, "bench/data.csv"), None);
        assert_eq!(run_of(&target, "other/s3-stream-lambda-bench-r1/x"), None);
    }
}
