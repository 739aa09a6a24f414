//! Bucket operations: HeadBucket, CreateBucket and ListMultipartUploads.

use super::super::body::read_small;
use super::super::config::{DEFAULT_REGION, MAX_XML_BODY_BYTES};
use super::super::error::S3Error;
use super::super::response::{ResponseBody, empty, full, set_header};
use super::super::time::iso8601;
use super::super::xml::XmlWriter;
use super::Ctx;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

/// Most uploads one ListMultipartUploads page lists, as S3's default and maximum.
const MAX_UPLOADS_PER_PAGE: usize = 1000;

/// The owner id reported on uploads: fixed, as there are no accounts.
const OWNER_ID: &str = "synthetic-s3-owner";

/// HeadBucket: 200 with the region, or 404.
pub fn head_bucket(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    ctx.shared.store.require_bucket(&ctx.target.bucket)?;
    let mut response = Response::new(empty());
    set_header(
        response.headers_mut(),
        "x-amz-bucket-region",
        &ctx.shared.config.region,
    );
    Ok(response)
}

/// CreateBucket: creates the bucket; the location constraint body is read and ignored.
/// Re-creating one's own bucket is 200 in us-east-1 and BucketAlreadyOwnedByYou
/// elsewhere, as in S3.
pub async fn create_bucket(
    ctx: &Ctx,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    read_small(
        request.into_body(),
        MAX_XML_BODY_BYTES,
        &ctx.shared.counters,
    )
    .await?;
    let bucket = &ctx.target.bucket;
    if !ctx.shared.store.create_bucket(bucket) && ctx.shared.config.region != DEFAULT_REGION {
        return Err(S3Error::BucketAlreadyOwnedByYou {
            bucket: bucket.clone(),
        });
    }
    let mut response = Response::new(empty());
    set_header(response.headers_mut(), "location", &format!("/{bucket}"));
    Ok(response)
}

/// ListMultipartUploads: open uploads by key then id, after the markers, filtered by
/// prefix, one page of `max-uploads` (delimiters are not supported).
pub fn list_multipart_uploads(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    let query = &ctx.target.query;
    let prefix = query.get("prefix").unwrap_or("");
    let key_marker = query.get("key-marker").unwrap_or("");
    let id_marker = query.get("upload-id-marker").unwrap_or("");
    let max_uploads = match query.get("max-uploads") {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| S3Error::InvalidArgument {
                name: "max-uploads",
                detail: format!("{text:?} is not a number"),
            })?,
        None => MAX_UPLOADS_PER_PAGE,
    }
    .min(MAX_UPLOADS_PER_PAGE);
    let uploads: Vec<_> = ctx
        .shared
        .store
        .uploads(&ctx.target.bucket, prefix)?
        .into_iter()
        .filter(|(id, upload)| {
            key_marker.is_empty()
                || upload.key.as_str() > key_marker
                || (upload.key == key_marker && !id_marker.is_empty() && id.as_str() > id_marker)
        })
        .collect();
    let truncated = uploads.len() > max_uploads;
    let page = &uploads[..uploads.len().min(max_uploads)];
    let mut xml = XmlWriter::new("ListMultipartUploadsResult", true);
    xml.element("Bucket", &ctx.target.bucket)
        .element("KeyMarker", key_marker)
        .element("UploadIdMarker", id_marker);
    if let (true, Some((id, upload))) = (truncated, page.last()) {
        xml.element("NextKeyMarker", &upload.key)
            .element("NextUploadIdMarker", id);
    }
    xml.element("Prefix", prefix)
        .element("MaxUploads", &max_uploads.to_string())
        .element("IsTruncated", if truncated { "true" } else { "false" });
    for (id, upload) in page {
        xml.open("Upload")
            .element("Key", &upload.key)
            .element("UploadId", id);
        for owner in ["Initiator", "Owner"] {
            xml.open(owner)
                .element("ID", OWNER_ID)
                .element("DisplayName", OWNER_ID)
                .close();
        }
        xml.element("StorageClass", "STANDARD")
            .element("Initiated", &iso8601(upload.initiated));
        if let Some(algorithm) = upload.algorithm {
            xml.element("ChecksumAlgorithm", algorithm.as_str());
        }
        if let Some(kind) = upload.checksum_type {
            xml.element("ChecksumType", kind.as_str());
        }
        xml.close();
    }
    let mut response = Response::new(full(xml.finish()));
    *response.status_mut() = StatusCode::OK;
    set_header(response.headers_mut(), "content-type", "application/xml");
    Ok(response)
}
