//! Bucket operations: HeadBucket, CreateBucket, ListMultipartUploads and ListObjectsV2.

use super::super::body::read_small;
use super::super::config::{DEFAULT_REGION, MAX_XML_BODY_BYTES};
use super::super::error::S3Error;
use super::super::request::Query;
use super::super::response::{ResponseBody, empty, full, set_header};
use super::super::time::iso8601;
use super::super::xml::XmlWriter;
use super::Ctx;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

/// Most uploads one ListMultipartUploads page lists, as S3's default and maximum.
const MAX_UPLOADS_PER_PAGE: usize = 1000;

/// Most objects one ListObjectsV2 page lists, as S3's default and maximum.
const MAX_KEYS_PER_PAGE: usize = 1000;

/// The owner id reported on uploads and objects: fixed, as there are no accounts.
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
    let max_uploads = page_size(query, "max-uploads", MAX_UPLOADS_PER_PAGE)?;
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

/// ListObjectsV2: the objects whose keys start with `prefix`, bytewise in key order,
/// after the continuation token's key (else after `start-after`), one page of
/// `max-keys`. Delimiters are not supported; `encoding-type` is ignored, so keys are
/// sent as they are (and no `EncodingType` tells the client to decode them).
pub fn list_objects_v2(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    let query = &ctx.target.query;
    if let Some(delimiter) = query.get("delimiter").filter(|text| !text.is_empty()) {
        return Err(S3Error::NotImplemented {
            operation: format!("ListObjectsV2 with delimiter {delimiter:?}"),
        });
    }
    let prefix = query.get("prefix").unwrap_or("");
    let start_after = query.get("start-after");
    let token = query.get("continuation-token");
    let max_keys = page_size(query, "max-keys", MAX_KEYS_PER_PAGE)?;
    let after = match token {
        Some(token) => token_key(token)?,
        None => start_after.unwrap_or("").to_owned(),
    };
    let page = ctx
        .shared
        .store
        .objects(&ctx.target.bucket, prefix, &after, max_keys)?;
    // S3 answers `max-keys=0` with an empty page that is not truncated.
    let next = match page.objects.last() {
        Some(last) if page.truncated => Some(key_token(&last.key)),
        _ => None,
    };
    let mut xml = XmlWriter::new("ListBucketResult", true);
    xml.element("Name", &ctx.target.bucket)
        .element("Prefix", prefix);
    if let Some(token) = token {
        xml.element("ContinuationToken", token);
    }
    if let Some(next) = &next {
        xml.element("NextContinuationToken", next);
    }
    xml.element("KeyCount", &page.objects.len().to_string())
        .element("MaxKeys", &max_keys.to_string())
        .element("IsTruncated", if next.is_some() { "true" } else { "false" });
    if let Some(start_after) = start_after {
        xml.element("StartAfter", start_after);
    }
    let owner = query.get("fetch-owner") == Some("true");
    for object in &page.objects {
        xml.open("Contents")
            .element("Key", &object.key)
            .element("LastModified", &iso8601(object.last_modified))
            .element("ETag", &object.etag)
            .element("Size", &object.len.to_string())
            .element("StorageClass", "STANDARD");
        if owner {
            xml.open("Owner")
                .element("ID", OWNER_ID)
                .element("DisplayName", OWNER_ID)
                .close();
        }
        xml.close();
    }
    let mut response = Response::new(full(xml.finish()));
    set_header(response.headers_mut(), "content-type", "application/xml");
    Ok(response)
}

/// The page size query parameter `name` asks for: `max` when absent, and at most `max`.
fn page_size(query: &Query, name: &'static str, max: usize) -> Result<usize, S3Error> {
    let size = match query.get(name) {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| S3Error::InvalidArgument {
                name,
                detail: format!("{text:?} is not a number"),
            })?,
        None => max,
    };
    Ok(size.min(max))
}

/// The opaque continuation token naming `key`, the last key of a page: its bytes in hex.
fn key_token(key: &str) -> String {
    key.bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// The key a continuation token from [`key_token`] names.
fn token_key(token: &str) -> Result<String, S3Error> {
    let incorrect = || S3Error::InvalidArgument {
        name: "continuation-token",
        detail: "the continuation token provided is incorrect".to_owned(),
    };
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return Err(incorrect());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|at| {
            token
                .get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(incorrect)?;
    String::from_utf8(bytes).map_err(|_| incorrect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_reject_garbage() {
        for key in ["a", "dir/a b+c", "é&<>", "\u{10ffff}"] {
            assert_eq!(token_key(&key_token(key)), Ok(key.to_owned()));
        }
        for token in ["", "6", "zz", "é", "é1", "ff"] {
            assert!(token_key(token).is_err(), "{token:?}");
        }
    }
}
