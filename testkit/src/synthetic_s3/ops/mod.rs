//! The router: classifies each path-style request as an S3 operation, runs it, and
//! answers errors in S3's XML form.

mod bucket;
mod complete;
mod copy;
mod multipart;
mod read;
mod tagging;
mod write;

use super::config::SyntheticS3Config;
use super::error::S3Error;
use super::pacing::Pacer;
use super::request::{Target, parse_target};
use super::response::{ResponseBody, set_header};
use super::stats::{Counters, Operation};
use super::store::Store;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// State every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Buckets, objects and uploads.
    pub store: Store,
    /// How the server behaves.
    pub config: SyntheticS3Config,
    /// Counters behind `Stats`.
    pub counters: Arc<Counters>,
    /// The last request id handed out.
    pub request_ids: AtomicU64,
}

/// What one request's handler works with.
struct Ctx {
    shared: Arc<Shared>,
    pacer: Arc<Pacer>,
    target: Target,
    /// The decoded key (empty for bucket operations).
    key: String,
}

/// The operation `method` on `target` asks for.
fn classify(method: &Method, target: &Target, request: &Request<Incoming>) -> Operation {
    let query = &target.query;
    let copy = request.headers().contains_key("x-amz-copy-source");
    match (method, &target.key) {
        _ if target.bucket.is_empty() => Operation::Unsupported,
        (&Method::HEAD, None) if query.pairs().is_empty() => Operation::HeadBucket,
        (&Method::PUT, None) if query.pairs().is_empty() => Operation::CreateBucket,
        (&Method::GET, None) if query.has("uploads") => Operation::ListMultipartUploads,
        (&Method::GET, None) if query.get("list-type") == Some("2") => Operation::ListObjectsV2,
        (_, None) => Operation::Unsupported,
        (&Method::HEAD, Some(_)) => Operation::HeadObject,
        (&Method::GET, Some(_)) if query.has("tagging") => Operation::GetObjectTagging,
        (&Method::GET, Some(_)) if query.has("uploadId") => Operation::ListParts,
        (&Method::GET, Some(_)) if query.has("acl") || query.has("attributes") => {
            Operation::Unsupported
        }
        (&Method::GET, Some(_)) => Operation::GetObject,
        (&Method::PUT, Some(_)) if query.has("tagging") => Operation::PutObjectTagging,
        (&Method::PUT, Some(_)) if copy && query.has("partNumber") && query.has("uploadId") => {
            Operation::UploadPartCopy
        }
        (&Method::PUT, Some(_)) if copy => Operation::Unsupported,
        (&Method::PUT, Some(_)) if query.has("partNumber") && query.has("uploadId") => {
            Operation::UploadPart
        }
        (&Method::PUT, Some(_))
            if query
                .pairs()
                .iter()
                .all(|(name, _)| name.starts_with("x-id")) =>
        {
            Operation::PutObject
        }
        (&Method::POST, Some(_)) if query.has("uploads") => Operation::CreateMultipartUpload,
        (&Method::POST, Some(_)) if query.has("uploadId") => Operation::CompleteMultipartUpload,
        (&Method::DELETE, Some(_)) if query.has("uploadId") => Operation::AbortMultipartUpload,
        (&Method::DELETE, Some(_)) if query.has("tagging") => Operation::DeleteObjectTagging,
        (&Method::DELETE, Some(_)) if query.pairs().iter().all(|(name, _)| name == "x-id") => {
            Operation::DeleteObject
        }
        _ => Operation::Unsupported,
    }
}

/// Answers one request on a connection paced by `pacer`.
pub async fn handle(
    shared: Arc<Shared>,
    pacer: Arc<Pacer>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let request_id = format!(
        "{:016X}",
        shared.request_ids.fetch_add(1, Ordering::Relaxed) + 1
    );
    let head = request.method() == Method::HEAD;
    let resource = request.uri().path().to_owned();
    let result = match parse_target(request.uri()) {
        Ok(target) => {
            let operation = classify(request.method(), &target, &request);
            shared.counters.request(operation);
            let key = target.key.clone().unwrap_or_default();
            let ctx = Ctx {
                shared: Arc::clone(&shared),
                pacer,
                target,
                key,
            };
            dispatch(operation, &ctx, request).await
        }
        Err(error) => {
            shared.counters.request(Operation::Unsupported);
            Err(error)
        }
    };
    let mut response = result.unwrap_or_else(|error| {
        tracing::debug!(%error, code = error.code(), %resource, "synthetic s3 answered an error");
        shared.counters.error();
        error.into_response(&resource, &request_id, head)
    });
    let headers = response.headers_mut();
    set_header(headers, "x-amz-request-id", &request_id);
    set_header(headers, "x-amz-id-2", &request_id);
    set_header(headers, "server", "SyntheticS3");
    Ok(response)
}

async fn dispatch(
    operation: Operation,
    ctx: &Ctx,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    match operation {
        Operation::HeadBucket => bucket::head_bucket(ctx),
        Operation::CreateBucket => bucket::create_bucket(ctx, request).await,
        Operation::ListMultipartUploads => bucket::list_multipart_uploads(ctx),
        Operation::ListObjectsV2 => bucket::list_objects_v2(ctx),
        Operation::HeadObject | Operation::GetObject => read::get_object(ctx, &request),
        Operation::PutObject => write::put_object(ctx, request).await,
        Operation::DeleteObject => write::delete_object(ctx),
        Operation::CreateMultipartUpload => multipart::create(ctx, &request),
        Operation::UploadPart => multipart::upload_part(ctx, request).await,
        Operation::UploadPartCopy => {
            // Here, not in the sync handler: the wait must not hold a runtime thread.
            if let Some(delay) = ctx.shared.config.part_copy_delay {
                tokio::time::sleep(delay).await;
            }
            copy::upload_part_copy(ctx, &request)
        }
        Operation::CompleteMultipartUpload => complete::complete(ctx, request).await,
        Operation::AbortMultipartUpload => multipart::abort(ctx),
        Operation::ListParts => multipart::list_parts(ctx),
        Operation::GetObjectTagging => tagging::get(ctx),
        Operation::PutObjectTagging => tagging::put(ctx, request).await,
        Operation::DeleteObjectTagging => tagging::delete(ctx),
        Operation::Unsupported => Err(S3Error::NotImplemented {
            operation: format!("{} {}", request.method(), request.uri()),
        }),
    }
}
