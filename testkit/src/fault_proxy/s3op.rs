//! Classification of a path-style S3 request into the operation it performs.

use http::Method;
use http::request::Parts;

/// Header that turns a PUT into a server-side copy.
const COPY_SOURCE_HEADER: &str = "x-amz-copy-source";

/// The S3 operation a request performs, derived from method, path and query.
///
/// Only path-style addressing (`/bucket` and `/bucket/key`) is understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S3Op {
    /// `GET /bucket/key`.
    GetObject,
    /// `HEAD /bucket/key`.
    HeadObject,
    /// `PUT /bucket/key` without a copy source.
    PutObject,
    /// `PUT /bucket/key` with `x-amz-copy-source` and no `partNumber`.
    CopyObject,
    /// `DELETE /bucket/key` without `uploadId`.
    DeleteObject,
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload,
    /// `PUT /bucket/key?partNumber&uploadId` without a copy source.
    UploadPart,
    /// `PUT /bucket/key?partNumber&uploadId` with `x-amz-copy-source`.
    UploadPartCopy,
    /// `POST /bucket/key?uploadId`.
    CompleteMultipartUpload,
    /// `DELETE /bucket/key?uploadId`.
    AbortMultipartUpload,
    /// `GET /bucket/key?uploadId`.
    ListParts,
    /// `GET /bucket?uploads`.
    ListMultipartUploads,
    /// `GET /bucket` without `uploads` (ListObjects and ListObjectsV2).
    ListObjects,
    /// `HEAD /bucket`.
    HeadBucket,
    /// `GET /bucket/key?tagging`.
    GetObjectTagging,
    /// Anything else.
    Other,
}

impl S3Op {
    /// Classifies a request from its method, path, query and headers.
    pub fn classify(parts: &Parts) -> S3Op {
        let query = parts.uri.query().unwrap_or("");
        let has = |name: &str| has_query_param(query, name);
        let copy = parts.headers.contains_key(COPY_SOURCE_HEADER);
        let has_key = has_key(parts.uri.path());
        let m = &parts.method;
        if !has_key {
            return match *m {
                Method::HEAD => S3Op::HeadBucket,
                Method::GET if has("uploads") => S3Op::ListMultipartUploads,
                Method::GET if query_is_listing(query) => S3Op::ListObjects,
                _ => S3Op::Other,
            };
        }
        match *m {
            Method::GET if has("tagging") => S3Op::GetObjectTagging,
            Method::GET if has("uploadId") => S3Op::ListParts,
            Method::GET if query_is_object_read(query) => S3Op::GetObject,
            Method::HEAD => S3Op::HeadObject,
            Method::PUT if has("partNumber") && has("uploadId") => {
                if copy {
                    S3Op::UploadPartCopy
                } else {
                    S3Op::UploadPart
                }
            }
            Method::PUT if query.is_empty() || has("x-id") => {
                if copy {
                    S3Op::CopyObject
                } else {
                    S3Op::PutObject
                }
            }
            Method::POST if has("uploads") => S3Op::CreateMultipartUpload,
            Method::POST if has("uploadId") => S3Op::CompleteMultipartUpload,
            Method::DELETE if has("uploadId") => S3Op::AbortMultipartUpload,
            Method::DELETE if !has("tagging") => S3Op::DeleteObject,
            _ => S3Op::Other,
        }
    }
}

/// True when `query` contains a parameter named `name` (with or without a value).
pub(super) fn has_query_param(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some(name))
}

/// True when the path names an object (`/bucket/key`), not just a bucket.
fn has_key(path: &str) -> bool {
    let trimmed = path.trim_start_matches('/');
    matches!(trimmed.split_once('/'), Some((_, key)) if !key.is_empty())
}

/// Sub-resources that make a GET on an object something other than GetObject.
const OBJECT_SUBRESOURCES: &[&str] = &["acl", "attributes", "legal-hold", "retention", "torrent"];

/// True when a GET on an object with this query reads the object itself.
fn query_is_object_read(query: &str) -> bool {
    !OBJECT_SUBRESOURCES
        .iter()
        .any(|name| has_query_param(query, name))
}

/// Bucket sub-resources that make a GET on a bucket something other than a listing.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "encryption",
    "lifecycle",
    "location",
    "policy",
    "tagging",
    "versioning",
    "versions",
];

/// True when a GET on a bucket with this query lists its objects.
fn query_is_listing(query: &str) -> bool {
    !BUCKET_SUBRESOURCES
        .iter()
        .any(|name| has_query_param(query, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn op(method: Method, uri: &str, copy: bool) -> S3Op {
        let mut builder = Request::builder().method(method).uri(uri);
        if copy {
            builder = builder.header(COPY_SOURCE_HEADER, "src/key");
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        S3Op::classify(&parts)
    }

    #[test]
    fn classifies_object_operations() {
        assert_eq!(
            op(Method::GET, "/b/k?x-id=GetObject", false),
            S3Op::GetObject
        );
        assert_eq!(op(Method::HEAD, "/b/k", false), S3Op::HeadObject);
        assert_eq!(
            op(Method::PUT, "/b/k?x-id=PutObject", false),
            S3Op::PutObject
        );
        assert_eq!(op(Method::PUT, "/b/k", true), S3Op::CopyObject);
        assert_eq!(op(Method::DELETE, "/b/k", false), S3Op::DeleteObject);
        assert_eq!(
            op(Method::GET, "/b/k?tagging", false),
            S3Op::GetObjectTagging
        );
    }

    #[test]
    fn classifies_multipart_operations() {
        let create = op(Method::POST, "/b/k?uploads", false);
        assert_eq!(create, S3Op::CreateMultipartUpload);
        let part = "/b/k?partNumber=1&uploadId=u";
        assert_eq!(op(Method::PUT, part, false), S3Op::UploadPart);
        assert_eq!(op(Method::PUT, part, true), S3Op::UploadPartCopy);
        let complete = op(Method::POST, "/b/k?uploadId=u", false);
        assert_eq!(complete, S3Op::CompleteMultipartUpload);
        let abort = op(Method::DELETE, "/b/k?uploadId=u", false);
        assert_eq!(abort, S3Op::AbortMultipartUpload);
        assert_eq!(op(Method::GET, "/b/k?uploadId=u", false), S3Op::ListParts);
        let list = op(Method::GET, "/b?uploads", false);
        assert_eq!(list, S3Op::ListMultipartUploads);
    }

    #[test]
    fn classifies_bucket_operations() {
        assert_eq!(op(Method::HEAD, "/b", false), S3Op::HeadBucket);
        assert_eq!(op(Method::HEAD, "/b/", false), S3Op::HeadBucket);
        assert_eq!(op(Method::GET, "/b?list-type=2", false), S3Op::ListObjects);
        assert_eq!(op(Method::GET, "/b?location", false), S3Op::Other);
        assert_eq!(op(Method::PUT, "/b", false), S3Op::Other);
    }
}
