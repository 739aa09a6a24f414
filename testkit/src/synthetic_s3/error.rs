//! Typed errors: the S3 errors the server answers with (status, code and XML body), and
//! the errors of starting it.

use super::chunked::ChunkedError;
use super::response::{ResponseBody, empty, full};
use super::xml::XmlWriter;
use http::{HeaderValue, Response, StatusCode};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the loopback listener failed.
    #[error("binding the synthetic s3 listener failed")]
    Bind(#[source] std::io::Error),
    /// A standard-library listener could not be handed to tokio.
    #[error("adopting the synthetic s3 listener failed")]
    Adopt(#[source] std::io::Error),
}

/// An S3 error answer: its Display is the XML `<Message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    #[error("bucket {bucket} does not exist")]
    NoSuchBucket { bucket: String },
    #[error("key {key} does not exist")]
    NoSuchKey { key: String },
    #[error("version {version_id} of key {key} does not exist")]
    NoSuchVersion { key: String, version_id: String },
    #[error("multipart upload {upload_id} does not exist")]
    NoSuchUpload { upload_id: String },
    #[error("range {range} is not satisfiable for an object of {len} bytes")]
    InvalidRange { range: String, len: u64 },
    #[error("part number {part} is not in an object of {parts} parts")]
    InvalidPartNumber { part: u32, parts: usize },
    #[error("precondition {condition} failed")]
    PreconditionFailed { condition: &'static str },
    #[error("object is not modified")]
    NotModified,
    #[error("body of {len} bytes exceeds the {max}-byte maximum")]
    EntityTooLarge { len: u64, max: u64 },
    #[error(
        "part {part} of {len} bytes is smaller than the {min}-byte minimum for all but the last part"
    )]
    EntityTooSmall { part: u32, len: u64, min: u64 },
    #[error("part {part} is invalid: {detail}")]
    InvalidPart { part: u32, detail: String },
    #[error("part {part} is listed after part {previous}; parts must be in ascending order")]
    InvalidPartOrder { part: u32, previous: u32 },
    #[error("{algorithm} checksum {expected} does not match the computed {computed}")]
    BadDigest {
        algorithm: &'static str,
        expected: String,
        computed: String,
    },
    #[error("request body ended after {received} of its {declared} declared bytes")]
    IncompleteBody { received: u64, declared: u64 },
    #[error("reading the request body failed: {detail}")]
    BodyRead { detail: String },
    #[error("decoding the aws-chunked request body failed: {0}")]
    Chunked(#[from] ChunkedError),
    #[error("request has neither content-length nor x-amz-decoded-content-length")]
    MissingContentLength,
    #[error("xml request body is malformed: {detail}")]
    MalformedXml { detail: String },
    #[error("argument {name} is invalid: {detail}")]
    InvalidArgument { name: &'static str, detail: String },
    #[error("request is invalid: {detail}")]
    InvalidRequest { detail: String },
    #[error("operation {operation} is not implemented by synthetic s3")]
    NotImplemented { operation: String },
    #[error(
        "the bytes of key {key} were discarded on upload (only objects up to {limit} bytes keep theirs)"
    )]
    BodyDiscarded { key: String, limit: u64 },
    #[error("bucket {bucket} already exists and is owned by you")]
    BucketAlreadyOwnedByYou { bucket: String },
}

impl S3Error {
    /// The HTTP status S3 answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            S3Error::NoSuchBucket { .. }
            | S3Error::NoSuchKey { .. }
            | S3Error::NoSuchVersion { .. }
            | S3Error::NoSuchUpload { .. } => StatusCode::NOT_FOUND,
            S3Error::InvalidRange { .. } | S3Error::InvalidPartNumber { .. } => {
                StatusCode::RANGE_NOT_SATISFIABLE
            }
            S3Error::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            S3Error::NotModified => StatusCode::NOT_MODIFIED,
            S3Error::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            S3Error::NotImplemented { .. } | S3Error::BodyDiscarded { .. } => {
                StatusCode::NOT_IMPLEMENTED
            }
            S3Error::BucketAlreadyOwnedByYou { .. } => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `<Code>` S3 answers this error with.
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::NoSuchBucket { .. } => "NoSuchBucket",
            S3Error::NoSuchKey { .. } => "NoSuchKey",
            S3Error::NoSuchVersion { .. } => "NoSuchVersion",
            S3Error::NoSuchUpload { .. } => "NoSuchUpload",
            S3Error::InvalidRange { .. } => "InvalidRange",
            S3Error::InvalidPartNumber { .. } => "InvalidPartNumber",
            S3Error::PreconditionFailed { .. } => "PreconditionFailed",
            S3Error::NotModified => "NotModified",
            S3Error::EntityTooLarge { .. } => "EntityTooLarge",
            S3Error::EntityTooSmall { .. } => "EntityTooSmall",
            S3Error::InvalidPart { .. } => "InvalidPart",
            S3Error::InvalidPartOrder { .. } => "InvalidPartOrder",
            S3Error::BadDigest { .. } => "BadDigest",
            S3Error::IncompleteBody { .. } | S3Error::BodyRead { .. } => "IncompleteBody",
            S3Error::Chunked(_) | S3Error::InvalidRequest { .. } => "InvalidRequest",
            S3Error::MissingContentLength => "MissingContentLength",
            S3Error::MalformedXml { .. } => "MalformedXML",
            S3Error::InvalidArgument { .. } => "InvalidArgument",
            S3Error::NotImplemented { .. } | S3Error::BodyDiscarded { .. } => "NotImplemented",
            S3Error::BucketAlreadyOwnedByYou { .. } => "BucketAlreadyOwnedByYou",
        }
    }

    /// The answer: S3's `<Error>` XML (no body for `HEAD` or 304), with
    /// `Content-Range: bytes */len` on an unsatisfiable range.
    pub fn into_response(
        self,
        resource: &str,
        request_id: &str,
        head: bool,
    ) -> Response<ResponseBody> {
        let status = self.status();
        let body = if head || status == StatusCode::NOT_MODIFIED {
            empty()
        } else {
            let mut xml = XmlWriter::new("Error", false);
            xml.element("Code", self.code())
                .element("Message", &self.to_string())
                .element("Resource", resource)
                .element("RequestId", request_id);
            full(xml.finish())
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if !head && status != StatusCode::NOT_MODIFIED {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
        }
        if let S3Error::InvalidRange { len, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}"))
        {
            headers.insert(http::header::CONTENT_RANGE, value);
        }
        response
    }
}
