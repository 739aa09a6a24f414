//! Multipart uploads: CreateMultipartUpload, UploadPart, ListParts and
//! AbortMultipartUpload (CompleteMultipartUpload has its own module).

use super::super::body::{BodyPlan, receive};
use super::super::checksum::{ChecksumAlgorithm, ChecksumType};
use super::super::config::{MAX_PART_NUMBER, MAX_UPLOAD_BYTES};
use super::super::error::S3Error;
use super::super::generate::hash_etag;
use super::super::request::{header, object_headers};
use super::super::response::{ResponseBody, empty, full, set_header};
use super::super::time::iso8601;
use super::super::upload::{Part, Upload};
use super::super::xml::XmlWriter;
use super::Ctx;
use super::write::{checksum_header, refuse};
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The checksum algorithm and type a CreateMultipartUpload asks for, checked as S3
/// checks them: CRC64NVME is full-object only, SHAs composite only, and the type's
/// default follows the algorithm.
fn checksum_choice(
    headers: &HeaderMap,
) -> Result<(Option<ChecksumAlgorithm>, Option<ChecksumType>), S3Error> {
    let invalid = |detail: String| S3Error::InvalidRequest { detail };
    let algorithm = header(headers, "x-amz-checksum-algorithm")
        .map(|name| {
            ChecksumAlgorithm::parse(name)
                .ok_or_else(|| invalid(format!("checksum algorithm {name} is unknown")))
        })
        .transpose()?;
    let kind = header(headers, "x-amz-checksum-type")
        .map(|name| {
            ChecksumType::parse(name)
                .ok_or_else(|| invalid(format!("checksum type {name} is unknown")))
        })
        .transpose()?;
    match (algorithm, kind) {
        (None, Some(_)) => Err(invalid(
            "x-amz-checksum-type needs x-amz-checksum-algorithm".to_owned(),
        )),
        (None, None) => Ok((None, None)),
        (Some(ChecksumAlgorithm::Crc64Nvme), Some(ChecksumType::Composite)) => Err(invalid(
            "crc64nvme supports only the full_object checksum type".to_owned(),
        )),
        (Some(algorithm), Some(ChecksumType::FullObject)) if !algorithm.is_crc() => {
            Err(invalid(format!(
                "{} supports only the composite checksum type",
                algorithm.as_str()
            )))
        }
        (Some(algorithm), Some(kind)) => Ok((Some(algorithm), Some(kind))),
        (Some(ChecksumAlgorithm::Crc64Nvme), None) => Ok((
            Some(ChecksumAlgorithm::Crc64Nvme),
            Some(ChecksumType::FullObject),
        )),
        (Some(algorithm), None) => Ok((Some(algorithm), Some(ChecksumType::Composite))),
    }
}

/// CreateMultipartUpload: remembers the destination, headers and checksum choice.
pub fn create(ctx: &Ctx, request: &Request<Incoming>) -> Result<Response<ResponseBody>, S3Error> {
    let headers = request.headers();
    let (algorithm, checksum_type) = checksum_choice(headers)?;
    let upload = Upload {
        bucket: ctx.target.bucket.clone(),
        key: ctx.key.clone(),
        headers: object_headers(headers)?,
        algorithm,
        checksum_type,
        initiated: SystemTime::now(),
        parts: BTreeMap::new(),
    };
    let upload_id = ctx.shared.store.create_upload(upload)?;
    let mut xml = XmlWriter::new("InitiateMultipartUploadResult", true);
    xml.element("Bucket", &ctx.target.bucket)
        .element("Key", &ctx.key)
        .element("UploadId", &upload_id);
    let mut response = Response::new(full(xml.finish()));
    let out = response.headers_mut();
    set_header(out, "content-type", "application/xml");
    if let Some(algorithm) = algorithm {
        set_header(out, "x-amz-checksum-algorithm", algorithm.as_str());
    }
    if let Some(kind) = checksum_type {
        set_header(out, "x-amz-checksum-type", kind.as_str());
    }
    Ok(response)
}

/// The part number and upload id of a part request.
pub(super) fn part_target(ctx: &Ctx) -> Result<(u32, String), S3Error> {
    let query = &ctx.target.query;
    let number = query.get("partNumber").unwrap_or("");
    let part = number
        .parse::<u32>()
        .ok()
        .filter(|part| (1..=MAX_PART_NUMBER).contains(part))
        .ok_or_else(|| S3Error::InvalidArgument {
            name: "partNumber",
            detail: format!("part number {number:?} is not an integer from 1 to {MAX_PART_NUMBER}"),
        })?;
    Ok((part, query.get("uploadId").unwrap_or("").to_owned()))
}

/// The part number, upload id and body plan of an UploadPart, checked before its body
/// is read: any sent checksum must be in the upload's algorithm.
fn prepare_part(ctx: &Ctx, headers: &HeaderMap) -> Result<(u32, String, BodyPlan), S3Error> {
    let (number, upload_id) = part_target(ctx)?;
    let upload = ctx
        .shared
        .store
        .upload(&upload_id, &ctx.target.bucket, &ctx.key)?;
    let plan = BodyPlan::from_headers(headers, MAX_UPLOAD_BYTES, upload.algorithm)?;
    let sent = plan
        .header_checksum
        .as_ref()
        .map(|(algorithm, _)| *algorithm)
        .or(plan.trailer_checksum);
    if let (Some(expected), Some(actual)) = (upload.algorithm, sent)
        && expected != actual
    {
        return Err(S3Error::InvalidRequest {
            detail: format!(
                "checksum type mismatch occurred, expected checksum type: {}, actual checksum type: {}",
                expected.as_str().to_ascii_lowercase(),
                actual.as_str().to_ascii_lowercase()
            ),
        });
    }
    Ok((number, upload_id, plan))
}

/// UploadPart: streams the part through the checksums like PutObject, requires any sent
/// checksum to be in the upload's algorithm, and records length, CRC64NVME and ETag.
pub async fn upload_part(
    ctx: &Ctx,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let (parts, body) = request.into_parts();
    let (number, upload_id, plan) = match prepare_part(ctx, &parts.headers) {
        Ok(prepared) => prepared,
        Err(error) => return Err(refuse(body, error, ctx).await),
    };
    let body = receive(body, &plan, &ctx.pacer, &ctx.shared.counters).await?;
    let part = Part {
        len: body.len,
        crc64nvme: body.crc64nvme,
        etag: hash_etag([body.len, body.crc64nvme, u64::from(number)], None),
        checksum: body.checksum,
        bytes: body.bytes,
        stored: SystemTime::now(),
    };
    let mut response = Response::new(empty());
    let out = response.headers_mut();
    set_header(out, "etag", &part.etag);
    checksum_header(out, part.checksum.as_ref(), Some(part.crc64nvme));
    ctx.shared.store.put_part(&upload_id, number, part)?;
    Ok(response)
}

/// AbortMultipartUpload: 204, or NoSuchUpload.
pub fn abort(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    let upload_id = ctx.target.query.get("uploadId").unwrap_or("");
    ctx.shared
        .store
        .abort(upload_id, &ctx.target.bucket, &ctx.key)?;
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Most parts one ListParts page lists, as S3's default and maximum.
const MAX_PARTS_PER_PAGE: usize = 1000;

/// ListParts: the parts of an open upload numbered above `part-number-marker`, one
/// page of `max-parts`, each with its size, ETag and the upload's checksum; or
/// NoSuchUpload.
pub fn list_parts(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    let query = &ctx.target.query;
    let upload_id = query.get("uploadId").unwrap_or("");
    let number = |name: &'static str, default: usize| match query.get(name) {
        Some(text) => text.parse::<usize>().map_err(|_| S3Error::InvalidArgument {
            name,
            detail: format!("{text:?} is not a number"),
        }),
        None => Ok(default),
    };
    let marker = number("part-number-marker", 0)?;
    let max_parts = number("max-parts", MAX_PARTS_PER_PAGE)?.min(MAX_PARTS_PER_PAGE);
    let after = u32::try_from(marker).unwrap_or(u32::MAX);
    let page = ctx
        .shared
        .store
        .parts(upload_id, &ctx.target.bucket, &ctx.key, after, max_parts)?;
    let (upload, parts, truncated) = (page.upload, page.parts, page.truncated);
    let mut xml = XmlWriter::new("ListPartsResult", true);
    xml.element("Bucket", &ctx.target.bucket)
        .element("Key", &ctx.key)
        .element("UploadId", upload_id)
        .element("PartNumberMarker", &marker.to_string());
    // The last part listed, or the request's marker for an empty page, so
    // a paging loop always moves on from where it was.
    let next = parts.last().map_or(after, |(last, _)| *last);
    xml.element("NextPartNumberMarker", &next.to_string());
    xml.element("MaxParts", &max_parts.to_string())
        .element("IsTruncated", if truncated { "true" } else { "false" })
        .element("StorageClass", "STANDARD");
    if let Some(algorithm) = upload.algorithm {
        xml.element("ChecksumAlgorithm", algorithm.as_str());
    }
    if let Some(kind) = upload.checksum_type {
        xml.element("ChecksumType", kind.as_str());
    }
    for (number, part) in &parts {
        xml.open("Part")
            .element("PartNumber", &number.to_string())
            .element("LastModified", &iso8601(part.stored))
            .element("ETag", &part.etag)
            .element("Size", &part.len.to_string());
        if let Some((algorithm, value)) = &part.checksum {
            xml.element(algorithm.xml_element(), value);
        }
        xml.close();
    }
    let mut response = Response::new(full(xml.finish()));
    *response.status_mut() = StatusCode::OK;
    set_header(response.headers_mut(), "content-type", "application/xml");
    Ok(response)
}
