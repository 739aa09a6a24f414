//! UploadPartCopy: a part made from a range of another object, as S3 makes it: no bytes cross the client's link.

use super::super::checksum::{ChecksumAlgorithm, crc64nvme};
use super::super::error::S3Error;
use super::super::generate::{generated_crc64nvme, hash_etag};
use super::super::request::header;
use super::super::response::{ObjectBytes, ResponseBody, full, set_header};
use super::super::time::iso8601;
use super::super::upload::Part;
use super::super::xml::XmlWriter;
use super::Ctx;
use super::multipart::part_target;
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use std::time::SystemTime;

/// The bucket and key `x-amz-copy-source` names (`bucket/key`, percent-encoded,
/// a leading `/` and a `?versionId=` allowed).
fn copy_source(headers: &HeaderMap) -> Result<(String, String), S3Error> {
    let value = header(headers, "x-amz-copy-source").unwrap_or_default();
    let path = value.split('?').next().unwrap_or_default();
    let decoded = percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| S3Error::InvalidArgument {
            name: "x-amz-copy-source",
            detail: format!("{value:?} is not utf-8 once decoded"),
        })?;
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_owned(), key.to_owned()))
        }
        _ => Err(S3Error::InvalidArgument {
            name: "x-amz-copy-source",
            detail: format!("{value:?} does not name bucket/key"),
        }),
    }
}

/// The inclusive range `x-amz-copy-source-range: bytes=a-b` asks for, within `len`.
fn copy_range(headers: &HeaderMap, len: u64) -> Result<(u64, u64), S3Error> {
    let Some(text) = header(headers, "x-amz-copy-source-range") else {
        return Ok((0, len.saturating_sub(1)));
    };
    let parsed = text.strip_prefix("bytes=").and_then(|range| {
        let (start, end) = range.split_once('-')?;
        Some((start.parse::<u64>().ok()?, end.parse::<u64>().ok()?))
    });
    match parsed {
        Some((start, end)) if start <= end && end < len => Ok((start, end)),
        _ => Err(S3Error::InvalidRange {
            range: text.to_owned(),
            len,
        }),
    }
}

/// UploadPartCopy: checks the source's `x-amz-copy-source-if-match`, checksums the
/// range of the stored object (generating it where it was generated), records the part
/// with its CRC64NVME, and answers `CopyPartResult` with it. The configured
/// `part_copy_delay` is waited by the async dispatcher before this runs.
pub fn upload_part_copy(
    ctx: &Ctx,
    request: &Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let headers = request.headers();
    let (number, upload_id) = part_target(ctx)?;
    let upload = ctx
        .shared
        .store
        .upload(&upload_id, &ctx.target.bucket, &ctx.key)?;
    let (bucket, key) = copy_source(headers)?;
    let source = ctx.shared.store.object(&bucket, &key)?;
    if let Some(expected) = header(headers, "x-amz-copy-source-if-match")
        && expected.trim_matches('"') != source.etag.trim_matches('"')
    {
        return Err(S3Error::PreconditionFailed {
            condition: "x-amz-copy-source-if-match",
        });
    }
    let (start, end) = copy_range(headers, source.len)?;
    let len = end + 1 - start;
    let crc = match source.source() {
        Some(ObjectBytes::Kept(bytes)) => crc64nvme(&bytes[start as usize..=end as usize]),
        // A periodic object's range costs O(period), not O(len): a 5 GiB part of a
        // 2 TiB object is answered in milliseconds.
        Some(ObjectBytes::Generated { seed, period }) => {
            generated_crc64nvme(seed, period, start, len)
        }
        None => {
            return Err(S3Error::InvalidArgument {
                name: "x-amz-copy-source",
                detail: "the source's bytes were not kept".into(),
            });
        }
    };
    let checksum = (upload.algorithm == Some(ChecksumAlgorithm::Crc64Nvme)).then(|| {
        (
            ChecksumAlgorithm::Crc64Nvme,
            ChecksumAlgorithm::Crc64Nvme.encode(crc),
        )
    });
    let part = Part {
        len,
        crc64nvme: crc,
        etag: hash_etag([len, crc, u64::from(number)], None),
        checksum,
        bytes: None,
        stored: std::time::SystemTime::now(),
    };
    let mut xml = XmlWriter::new("CopyPartResult", true);
    xml.element("ETag", &part.etag)
        .element("LastModified", &iso8601(SystemTime::now()));
    if let Some((algorithm, value)) = &part.checksum {
        xml.element(algorithm.xml_element(), value);
    }
    ctx.shared.store.put_part(&upload_id, number, part)?;
    let mut response = Response::new(full(xml.finish()));
    set_header(response.headers_mut(), "content-type", "application/xml");
    Ok(response)
}
