//! CompleteMultipartUpload: checks the listed parts as S3 does, combines the part
//! CRCs into the full-object checksum, and stores the object if its condition holds.

use super::super::body::read_small;
use super::super::checksum::{
    ChecksumAlgorithm, ChecksumType, combine, composite, crc64nvme_base64,
};
use super::super::config::{
    KEEP_BYTES_LIMIT, MAX_OBJECT_BYTES, MAX_XML_BODY_BYTES, MIN_PART_BYTES,
};
use super::super::error::S3Error;
use super::super::generate::hash_etag;
use super::super::object::StoredObject;
use super::super::request::{etag_matches, header, number_header, write_condition};
use super::super::response::{ResponseBody, full, set_header};
use super::super::upload::{Part, Upload};
use super::super::xml::{XmlWriter, child_text, children};
use super::Ctx;
use bytes::BytesMut;
use http::{Request, Response};
use hyper::body::Incoming;
use std::time::SystemTime;

/// One `<Part>` of the request.
struct Listed {
    number: u32,
    etag: String,
    checksums: Vec<(ChecksumAlgorithm, String)>,
}

fn malformed(detail: &str) -> S3Error {
    S3Error::MalformedXml {
        detail: detail.to_owned(),
    }
}

/// The parts a `<CompleteMultipartUpload>` document lists, in document order.
fn listed_parts(text: &str) -> Result<Vec<Listed>, S3Error> {
    if children(text, "CompleteMultipartUpload").is_empty() {
        return Err(malformed("the root element is not completemultipartupload"));
    }
    let parts = children(text, "Part");
    if parts.is_empty() {
        return Err(malformed("the list of parts is empty"));
    }
    parts
        .into_iter()
        .map(|part| {
            let number = child_text(part, "PartNumber")
                .and_then(|number| number.parse::<u32>().ok())
                .ok_or_else(|| malformed("a part has no valid partnumber"))?;
            let etag = child_text(part, "ETag").ok_or_else(|| malformed("a part has no etag"))?;
            let checksums = ChecksumAlgorithm::ALL
                .into_iter()
                .filter_map(|algorithm| {
                    Some((algorithm, child_text(part, algorithm.xml_element())?))
                })
                .collect();
            Ok(Listed {
                number,
                etag,
                checksums,
            })
        })
        .collect()
}

/// Checks listed part `listed` against uploaded `part`.
fn check_part(listed: &Listed, part: &Part) -> Result<(), S3Error> {
    let invalid = |detail: String| S3Error::InvalidPart {
        part: listed.number,
        detail,
    };
    if !etag_matches(&listed.etag, &part.etag) {
        return Err(invalid(format!(
            "etag {} does not match the uploaded {}",
            listed.etag, part.etag
        )));
    }
    for (algorithm, value) in &listed.checksums {
        let uploaded = match (algorithm, &part.checksum) {
            (ChecksumAlgorithm::Crc64Nvme, _) => crc64nvme_base64(part.crc64nvme),
            (_, Some((kind, uploaded))) if kind == algorithm => uploaded.clone(),
            _ => {
                return Err(invalid(format!(
                    "no {} checksum was uploaded for it",
                    algorithm.as_str()
                )));
            }
        };
        let same = match algorithm.is_crc() {
            true => {
                algorithm.decode(value).is_some()
                    && algorithm.decode(value) == algorithm.decode(&uploaded)
            }
            false => value.trim() == uploaded,
        };
        if !same {
            return Err(invalid(format!(
                "listed {} checksum {value} does not match the uploaded {uploaded}",
                algorithm.as_str()
            )));
        }
    }
    Ok(())
}

/// The object upload `upload` assembles from `listed`, or why S3 would refuse it.
fn assemble(
    upload: &Upload,
    listed: &[Listed],
    sent: Option<(ChecksumAlgorithm, String)>,
    object_size: Option<u64>,
) -> Result<StoredObject, S3Error> {
    for pair in listed.windows(2) {
        if pair[1].number <= pair[0].number {
            return Err(S3Error::InvalidPartOrder {
                part: pair[1].number,
                previous: pair[0].number,
            });
        }
    }
    let mut parts = Vec::with_capacity(listed.len());
    for (index, entry) in listed.iter().enumerate() {
        let part = upload
            .parts
            .get(&entry.number)
            .ok_or_else(|| S3Error::InvalidPart {
                part: entry.number,
                detail: "it was not uploaded".to_owned(),
            })?;
        check_part(entry, part)?;
        if index + 1 < listed.len() && part.len < MIN_PART_BYTES {
            return Err(S3Error::EntityTooSmall {
                part: entry.number,
                len: part.len,
                min: MIN_PART_BYTES,
            });
        }
        parts.push(part);
    }
    let len: u64 = parts.iter().map(|part| part.len).sum();
    if len > MAX_OBJECT_BYTES {
        return Err(S3Error::EntityTooLarge {
            len,
            max: MAX_OBJECT_BYTES,
        });
    }
    if let Some(size) = object_size.filter(|size| *size != len) {
        return Err(S3Error::InvalidRequest {
            detail: format!("x-amz-mp-object-size {size} does not match the parts' {len} bytes"),
        });
    }
    let crc = parts
        .iter()
        .fold(None, |so_far: Option<u64>, part| match so_far {
            None => Some(part.crc64nvme),
            Some(crc) => combine(ChecksumAlgorithm::Crc64Nvme, crc, part.crc64nvme, part.len),
        });
    let crc = crc.unwrap_or_else(|| super::super::checksum::crc64nvme(&[]));
    let checksum = upload_checksum(upload, &parts);
    if let Some((algorithm, value)) = sent {
        let computed = match (&checksum, algorithm) {
            (_, ChecksumAlgorithm::Crc64Nvme) => Some(crc64nvme_base64(crc)),
            (Some((kind, computed)), _) if *kind == algorithm => Some(computed.clone()),
            _ => None,
        };
        if let Some(computed) = computed.filter(|computed| *computed != value.trim()) {
            return Err(S3Error::BadDigest {
                algorithm: algorithm.as_str(),
                expected: value,
                computed,
            });
        }
    }
    let bytes = (len <= KEEP_BYTES_LIMIT)
        .then(|| {
            parts.iter().try_fold(BytesMut::new(), |mut all, part| {
                all.extend_from_slice(part.bytes.as_ref()?);
                Some(all)
            })
        })
        .flatten()
        .map(BytesMut::freeze);
    let checksum_type = match checksum {
        Some(_) => upload.checksum_type,
        None => Some(ChecksumType::FullObject),
    };
    Ok(StoredObject {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        len,
        etag: hash_etag(
            parts.iter().flat_map(|part| [part.len, part.crc64nvme]),
            Some(parts.len()),
        ),
        crc64nvme: Some(crc),
        checksum_type,
        checksum,
        bytes,
        generated_seed: None,
        generated_period: None,
        headers: upload.headers.clone(),
        version_id: None,
        last_modified: SystemTime::now(),
        part_lengths: parts.iter().map(|part| part.len).collect(),
    })
}

/// The object checksum in the upload's algorithm other than CRC64NVME: full-object
/// CRCs combine, composite CRCs hash the part checksums and end in `-N`; `None` when a
/// part lacks one or the algorithm is a SHA (not computed here).
fn upload_checksum(upload: &Upload, parts: &[&Part]) -> Option<(ChecksumAlgorithm, String)> {
    let algorithm = upload
        .algorithm
        .filter(|algorithm| *algorithm != ChecksumAlgorithm::Crc64Nvme)?;
    let values = parts
        .iter()
        .map(|part| match &part.checksum {
            Some((kind, value)) if *kind == algorithm => algorithm.decode(value),
            _ => None,
        })
        .collect::<Option<Vec<u64>>>()?;
    match upload.checksum_type {
        Some(ChecksumType::FullObject) => {
            let mut combined: Option<u64> = None;
            for (part, value) in parts.iter().zip(&values) {
                combined = Some(match combined {
                    None => *value,
                    Some(so_far) => combine(algorithm, so_far, *value, part.len)?,
                });
            }
            Some((algorithm, algorithm.encode(combined?)))
        }
        _ => {
            let value = composite(algorithm, &values)?;
            Some((
                algorithm,
                format!("{}-{}", algorithm.encode(value), parts.len()),
            ))
        }
    }
}

/// CompleteMultipartUpload.
pub async fn complete(
    ctx: &Ctx,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let upload_id = ctx.target.query.get("uploadId").unwrap_or("").to_owned();
    let headers = request.headers().clone();
    let condition = write_condition(&headers)?;
    let object_size = number_header(&headers, "x-amz-mp-object-size")?;
    let sent = ChecksumAlgorithm::ALL
        .into_iter()
        .find_map(|algorithm| Some((algorithm, header(&headers, algorithm.header())?.to_owned())));
    let body = read_small(
        request.into_body(),
        MAX_XML_BODY_BYTES,
        &ctx.shared.counters,
    )
    .await?;
    let text = std::str::from_utf8(&body).map_err(|_| malformed("the body is not utf-8"))?;
    let listed = listed_parts(text)?;
    let (bucket, key) = (&ctx.target.bucket, &ctx.key);
    let stored = ctx
        .shared
        .store
        .complete(&upload_id, bucket, key, &condition, |upload| {
            assemble(upload, &listed, sent, object_size)
        })?;
    let host = header(&headers, "host").unwrap_or("127.0.0.1");
    let mut xml = XmlWriter::new("CompleteMultipartUploadResult", true);
    xml.element("Location", &format!("http://{host}/{bucket}/{key}"))
        .element("Bucket", bucket)
        .element("Key", key)
        .element("ETag", &stored.etag);
    match (&stored.checksum, stored.crc64nvme) {
        (Some((algorithm, value)), _) => {
            xml.element(algorithm.xml_element(), value);
        }
        (None, Some(crc)) => {
            xml.element("ChecksumCRC64NVME", &crc64nvme_base64(crc));
        }
        (None, None) => {}
    }
    let kind = stored.checksum_type.unwrap_or(ChecksumType::FullObject);
    xml.element("ChecksumType", kind.as_str());
    let mut response = Response::new(full(xml.finish()));
    let out = response.headers_mut();
    set_header(out, "content-type", "application/xml");
    if let Some(version_id) = &stored.version_id {
        set_header(out, "x-amz-version-id", version_id);
    }
    Ok(response)
}
