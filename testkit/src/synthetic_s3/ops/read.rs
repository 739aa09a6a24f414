//! GetObject and HeadObject: versions, conditions, byte ranges, part numbers and
//! checksum mode, over generated or kept bytes.

use super::super::checksum::{ChecksumType, crc64nvme_base64};
use super::super::config::KEEP_BYTES_LIMIT;
use super::super::error::S3Error;
use super::super::object::StoredObject;
use super::super::request::{byte_range, etag_matches, header};
use super::super::response::{ResponseBody, empty, object_stream, set_header};
use super::super::time::http_date;
use super::Ctx;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;

/// GetObject (or HeadObject, for `HEAD`). Objects uploaded above `KEEP_BYTES_LIMIT`
/// kept no bytes: HEAD works, GET answers 501 NotImplemented.
pub fn get_object(
    ctx: &Ctx,
    request: &Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let head = request.method() == Method::HEAD;
    let headers = request.headers();
    let object = ctx.shared.store.object(&ctx.target.bucket, &ctx.key)?;
    if let Some(version_id) = ctx.target.query.get("versionId")
        && version_id != object.version()
    {
        return Err(S3Error::NoSuchVersion {
            key: ctx.key.clone(),
            version_id: version_id.to_owned(),
        });
    }
    if let Some(condition) = header(headers, "if-match")
        && !etag_matches(condition, &object.etag)
    {
        return Err(S3Error::PreconditionFailed {
            condition: "If-Match",
        });
    }
    if let Some(condition) = header(headers, "if-none-match")
        && etag_matches(condition, &object.etag)
    {
        return Err(S3Error::NotModified);
    }
    let range = match ctx.target.query.get("partNumber") {
        Some(number) => {
            if headers.contains_key("range") {
                return Err(S3Error::InvalidRequest {
                    detail: "range and partnumber cannot both be given".to_owned(),
                });
            }
            Some(part_range(&object, number)?)
        }
        None => byte_range(header(headers, "range"), object.len)?,
    };
    let source = object.source();
    let body = match (&source, head) {
        (_, true) => empty(),
        (None, false) => {
            return Err(S3Error::BodyDiscarded {
                key: ctx.key.clone(),
                limit: KEEP_BYTES_LIMIT,
            });
        }
        (Some(source), false) => {
            let (start, len) =
                range.map_or((0, object.len), |(first, last)| (first, last - first + 1));
            object_stream(
                source.clone(),
                start,
                len,
                Arc::clone(&ctx.pacer),
                Arc::clone(&ctx.shared.counters),
            )
        }
    };
    let mut response = Response::new(body);
    let out = response.headers_mut();
    object_headers(out, &object, ctx.shared.config.versioning);
    match range {
        Some((first, last)) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let out = response.headers_mut();
            set_header(out, "content-length", &(last - first + 1).to_string());
            set_header(
                out,
                "content-range",
                &format!("bytes {first}-{last}/{}", object.len),
            );
            if ctx.target.query.has("partNumber") {
                let parts = object.part_lengths.len().max(1);
                set_header(out, "x-amz-mp-parts-count", &parts.to_string());
            }
        }
        None => {
            set_header(out, "content-length", &object.len.to_string());
            let enabled = header(headers, "x-amz-checksum-mode")
                .is_some_and(|mode| mode.eq_ignore_ascii_case("ENABLED"));
            if enabled {
                checksum_headers(out, &object);
            }
        }
    }
    Ok(response)
}

/// The inclusive range of part `number` (a non-multipart object is one part).
fn part_range(object: &StoredObject, number: &str) -> Result<(u64, u64), S3Error> {
    let part = number
        .parse::<u32>()
        .map_err(|_| S3Error::InvalidArgument {
            name: "partNumber",
            detail: format!("{number:?} is not a part number"),
        })?;
    let lengths: &[u64] = match object.part_lengths.as_slice() {
        [] => std::slice::from_ref(&object.len),
        lengths => lengths,
    };
    let index = (part as usize)
        .checked_sub(1)
        .filter(|index| *index < lengths.len());
    let Some(index) = index.filter(|index| lengths[*index] > 0) else {
        return Err(S3Error::InvalidPartNumber {
            part,
            parts: lengths.len(),
        });
    };
    let first: u64 = lengths[..index].iter().sum();
    Ok((first, first + lengths[index] - 1))
}

/// The headers every GET and HEAD of `object` carries.
fn object_headers(out: &mut HeaderMap, object: &StoredObject, versioning: bool) {
    set_header(out, "etag", &object.etag);
    set_header(out, "last-modified", &http_date(object.last_modified));
    set_header(out, "content-type", object.content_type());
    set_header(out, "accept-ranges", "bytes");
    let fields = &object.headers;
    let optional = [
        ("content-encoding", &fields.content_encoding),
        ("content-disposition", &fields.content_disposition),
        ("content-language", &fields.content_language),
        ("cache-control", &fields.cache_control),
        ("expires", &fields.expires),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            set_header(out, name, value);
        }
    }
    for (name, value) in &fields.metadata {
        set_header(out, &format!("x-amz-meta-{name}"), value);
    }
    if !fields.tags.is_empty() {
        set_header(out, "x-amz-tagging-count", &fields.tags.len().to_string());
    }
    if versioning || object.version_id.is_some() {
        set_header(out, "x-amz-version-id", object.version());
    }
}

/// The object's checksum as S3 returns it in checksum mode: the algorithm it was
/// uploaded with, else its CRC64NVME, when known.
fn checksum_headers(out: &mut HeaderMap, object: &StoredObject) {
    let kind = object.checksum_type.unwrap_or(ChecksumType::FullObject);
    match (&object.checksum, object.crc64nvme) {
        (Some((algorithm, value)), _) => set_header(out, algorithm.header(), value),
        (None, Some(crc)) => set_header(out, "x-amz-checksum-crc64nvme", &crc64nvme_base64(crc)),
        (None, None) => return,
    }
    set_header(out, "x-amz-checksum-type", kind.as_str());
}
