//! The server's state: buckets, object records and open multipart uploads, behind one
//! mutex held only for map operations (never across I/O).

use super::error::S3Error;
use super::generate::hash_hex;
use super::object::StoredObject;
use super::upload::{Part, Upload, WriteCondition};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct Inner {
    buckets: BTreeMap<String, BTreeMap<String, Arc<StoredObject>>>,
    uploads: BTreeMap<String, Upload>,
}

/// All state.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    versioning: bool,
}

impl Store {
    /// An empty store; `versioning` gives every write a fresh version id.
    pub fn new(versioning: bool) -> Store {
        Store {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            versioning,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh opaque id (upload ids, version ids).
    pub fn fresh_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        hash_hex([n, 0x5353_3349])
    }

    /// Creates `bucket`; false if it existed.
    pub fn create_bucket(&self, bucket: &str) -> bool {
        let mut inner = self.lock();
        if inner.buckets.contains_key(bucket) {
            return false;
        }
        inner.buckets.insert(bucket.to_owned(), BTreeMap::new());
        true
    }

    /// Fails with NoSuchBucket unless `bucket` exists.
    pub fn require_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        match self.lock().buckets.contains_key(bucket) {
            true => Ok(()),
            false => Err(no_such_bucket(bucket)),
        }
    }

    /// The object at `bucket`/`key`.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Arc<StoredObject>, S3Error> {
        let inner = self.lock();
        let objects = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        objects.get(key).cloned().ok_or_else(|| S3Error::NoSuchKey {
            key: key.to_owned(),
        })
    }

    /// Up to `max` objects of `bucket` whose keys start with `prefix` and sort after
    /// `after` (bytewise, as S3 orders keys), in key order.
    pub fn objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        max: usize,
    ) -> Result<ObjectsPage, S3Error> {
        let inner = self.lock();
        let objects = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        let start = match after < prefix {
            true => Bound::Included(prefix),
            false => Bound::Excluded(after),
        };
        let mut later = objects
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, object)| Arc::clone(object));
        let page: Vec<_> = later.by_ref().take(max).collect();
        let truncated = later.next().is_some();
        Ok(ObjectsPage {
            objects: page,
            truncated,
        })
    }

    /// Stores `object` if `condition` holds at this instant, giving it a version id.
    pub fn put(
        &self,
        mut object: StoredObject,
        condition: &WriteCondition,
    ) -> Result<Arc<StoredObject>, S3Error> {
        if self.versioning {
            object.version_id = Some(self.fresh_id());
        }
        let mut inner = self.lock();
        let objects = inner
            .buckets
            .get_mut(&object.bucket)
            .ok_or_else(|| no_such_bucket(&object.bucket))?;
        condition.check(objects.get(&object.key).map(Arc::as_ref))?;
        let object = Arc::new(object);
        objects.insert(object.key.clone(), Arc::clone(&object));
        Ok(object)
    }

    /// Stores `object` unconditionally, creating its bucket if needed.
    pub fn insert(&self, mut object: StoredObject) -> Arc<StoredObject> {
        if self.versioning {
            object.version_id = Some(self.fresh_id());
        }
        let object = Arc::new(object);
        let mut inner = self.lock();
        inner
            .buckets
            .entry(object.bucket.clone())
            .or_default()
            .insert(object.key.clone(), Arc::clone(&object));
        object
    }

    /// Replaces the object at `bucket`/`key` by `change(old)`.
    pub fn update(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut StoredObject),
    ) -> Result<(), S3Error> {
        let mut inner = self.lock();
        let objects = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        let slot = objects.get_mut(key).ok_or_else(|| S3Error::NoSuchKey {
            key: key.to_owned(),
        })?;
        change(Arc::make_mut(slot));
        Ok(())
    }

    /// Deletes `bucket`/`key` (absent keys are fine, as in S3).
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let mut inner = self.lock();
        let objects = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        objects.remove(key);
        Ok(())
    }

    /// Opens `upload`; returns its id.
    pub fn create_upload(&self, upload: Upload) -> Result<String, S3Error> {
        let id = self.fresh_id();
        let mut inner = self.lock();
        if !inner.buckets.contains_key(&upload.bucket) {
            return Err(no_such_bucket(&upload.bucket));
        }
        inner.uploads.insert(id.clone(), upload);
        Ok(id)
    }

    /// A copy of upload `id` (without its parts) if it targets `bucket`/`key`.
    pub fn upload(&self, id: &str, bucket: &str, key: &str) -> Result<Upload, S3Error> {
        let inner = self.lock();
        match inner.uploads.get(id) {
            Some(upload) if upload.bucket == bucket && upload.key == key => {
                Ok(upload.without_parts())
            }
            _ => Err(no_such_upload(id)),
        }
    }

    /// Upload `id` of `bucket`/`key` and up to `max` of its parts numbered
    /// above `after`, in order.
    pub fn parts(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        after: u32,
        max: usize,
    ) -> Result<PartsPage, S3Error> {
        let inner = self.lock();
        match inner.uploads.get(id) {
            Some(upload) if upload.bucket == bucket && upload.key == key => {
                let mut later = upload
                    .parts
                    .range(after.saturating_add(1)..)
                    .map(|(number, part)| (*number, part.clone()));
                let page: Vec<_> = later.by_ref().take(max).collect();
                let truncated = later.next().is_some();
                Ok(PartsPage {
                    upload: upload.without_parts(),
                    parts: page,
                    truncated,
                })
            }
            _ => Err(no_such_upload(id)),
        }
    }

    /// Records part `number` of upload `id`.
    pub fn put_part(&self, id: &str, number: u32, part: Part) -> Result<(), S3Error> {
        let mut inner = self.lock();
        let upload = inner
            .uploads
            .get_mut(id)
            .ok_or_else(|| no_such_upload(id))?;
        upload.parts.insert(number, part);
        Ok(())
    }

    /// Completes upload `id`: `assemble` builds the object from the upload (or fails,
    /// leaving the upload open); it is stored if `condition` holds, and the upload closes.
    pub fn complete(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
        assemble: impl FnOnce(&Upload) -> Result<StoredObject, S3Error>,
    ) -> Result<Arc<StoredObject>, S3Error> {
        let version_id = self.versioning.then(|| self.fresh_id());
        let mut inner = self.lock();
        let upload = match inner.uploads.get(id) {
            Some(upload) if upload.bucket == bucket && upload.key == key => upload,
            _ => return Err(no_such_upload(id)),
        };
        let mut object = assemble(upload)?;
        object.version_id = version_id;
        let objects = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        condition.check(objects.get(key).map(Arc::as_ref))?;
        let object = Arc::new(object);
        objects.insert(key.to_owned(), Arc::clone(&object));
        inner.uploads.remove(id);
        Ok(object)
    }

    /// Aborts upload `id` of `bucket`/`key`.
    pub fn abort(&self, id: &str, bucket: &str, key: &str) -> Result<(), S3Error> {
        let mut inner = self.lock();
        match inner.uploads.get(id) {
            Some(upload) if upload.bucket == bucket && upload.key == key => {
                inner.uploads.remove(id);
                Ok(())
            }
            _ => Err(no_such_upload(id)),
        }
    }

    /// `(upload id, upload without parts)` of every open upload in `bucket` whose key
    /// starts with `prefix`, by key then id.
    pub fn uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<(String, Upload)>, S3Error> {
        let inner = self.lock();
        if !inner.buckets.contains_key(bucket) {
            return Err(no_such_bucket(bucket));
        }
        let mut found: Vec<(String, Upload)> = inner
            .uploads
            .iter()
            .filter(|(_, upload)| upload.bucket == bucket && upload.key.starts_with(prefix))
            .map(|(id, upload)| (id.clone(), upload.without_parts()))
            .collect();
        found.sort_by(|a, b| (&a.1.key, &a.0).cmp(&(&b.1.key, &b.0)));
        Ok(found)
    }

    /// How many uploads are open in `bucket`.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let inner = self.lock();
        inner
            .uploads
            .values()
            .filter(|upload| upload.bucket == bucket)
            .count()
    }
}

/// One page of a bucket's objects ([`Store::objects`]).
#[derive(Debug)]
pub struct ObjectsPage {
    /// The objects, by key.
    pub objects: Vec<Arc<StoredObject>>,
    /// Whether matching objects follow this page.
    pub truncated: bool,
}

/// One page of an upload's parts ([`Store::parts`]).
#[derive(Debug)]
pub struct PartsPage {
    /// The upload, without its parts.
    pub upload: Upload,
    /// `(part number, part)`, in order.
    pub parts: Vec<(u32, Part)>,
    /// Whether parts follow this page.
    pub truncated: bool,
}

fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::NoSuchBucket {
        bucket: bucket.to_owned(),
    }
}

fn no_such_upload(id: &str) -> S3Error {
    S3Error::NoSuchUpload {
        upload_id: id.to_owned(),
    }
}
