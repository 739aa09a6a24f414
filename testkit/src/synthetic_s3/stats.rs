//! Request counters per operation and byte counters, read as a `Stats` snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// An S3 operation as the router classifies a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    HeadBucket,
    CreateBucket,
    ListMultipartUploads,
    ListObjectsV2,
    HeadObject,
    GetObject,
    PutObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    /// Anything else, answered 501 NotImplemented.
    Unsupported,
}

impl Operation {
    /// Every operation, in counter order.
    pub const ALL: [Operation; 18] = [
        Operation::HeadBucket,
        Operation::CreateBucket,
        Operation::ListMultipartUploads,
        Operation::ListObjectsV2,
        Operation::HeadObject,
        Operation::GetObject,
        Operation::PutObject,
        Operation::DeleteObject,
        Operation::CreateMultipartUpload,
        Operation::UploadPart,
        Operation::UploadPartCopy,
        Operation::CompleteMultipartUpload,
        Operation::AbortMultipartUpload,
        Operation::ListParts,
        Operation::GetObjectTagging,
        Operation::PutObjectTagging,
        Operation::DeleteObjectTagging,
        Operation::Unsupported,
    ];

    fn index(self) -> usize {
        Operation::ALL
            .iter()
            .position(|operation| *operation == self)
            .unwrap_or(Operation::ALL.len() - 1)
    }
}

/// What the server has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received per operation (operations never asked for are absent).
    pub requests: BTreeMap<Operation, u64>,
    /// Requests answered with an S3 error.
    pub errors: u64,
    /// Object body bytes sent by GetObject.
    pub bytes_served: u64,
    /// Request body bytes received, as on the wire (aws-chunked framing included).
    pub bytes_received: u64,
}

impl Stats {
    /// Requests received for `operation`.
    pub fn requests_of(&self, operation: Operation) -> u64 {
        self.requests.get(&operation).copied().unwrap_or(0)
    }
}

/// The live counters behind `Stats`.
#[derive(Debug, Default)]
pub struct Counters {
    requests: [AtomicU64; Operation::ALL.len()],
    errors: AtomicU64,
    bytes_served: AtomicU64,
    bytes_received: AtomicU64,
}

impl Counters {
    /// Counts a request for `operation`.
    pub fn request(&self, operation: Operation) {
        self.requests[operation.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error answer.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `bytes` of object body sent.
    pub fn served(&self, bytes: u64) {
        self.bytes_served.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts `bytes` of request body received.
    pub fn received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> Stats {
        let requests = Operation::ALL
            .iter()
            .zip(&self.requests)
            .map(|(operation, count)| (*operation, count.load(Ordering::Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect();
        Stats {
            requests,
            errors: self.errors.load(Ordering::Relaxed),
            bytes_served: self.bytes_served.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}
