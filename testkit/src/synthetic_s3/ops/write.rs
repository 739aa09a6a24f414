//! PutObject and DeleteObject.

use super::super::body::{BodyPlan, discard, receive};
use super::super::checksum::{ChecksumAlgorithm, ChecksumType, crc64nvme_base64};
use super::super::config::MAX_UPLOAD_BYTES;
use super::super::error::S3Error;
use super::super::generate::hash_etag;
use super::super::object::{ObjectHeaders, StoredObject};
use super::super::request::{object_headers, write_condition};
use super::super::response::{ResponseBody, empty, set_header};
use super::super::upload::WriteCondition;
use super::Ctx;
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::time::SystemTime;

/// PutObject: streams the body through the checksums (aws-chunked or plain), verifies
/// its length and any sent checksum, then stores the record if the write condition
/// (`If-None-Match: *`, `If-Match`) holds once the body is in, as S3 evaluates it.
pub async fn put_object(
    ctx: &Ctx,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let (parts, body) = request.into_parts();
    let (condition, fields, plan) = match prepare_put(ctx, &parts.headers) {
        Ok(prepared) => prepared,
        Err(error) => return Err(refuse(body, error, ctx).await),
    };
    let body = receive(body, &plan, &ctx.pacer, &ctx.shared.counters).await?;
    let object = StoredObject {
        bucket: ctx.target.bucket.clone(),
        key: ctx.key.clone(),
        len: body.len,
        etag: hash_etag([body.len, body.crc64nvme], None),
        crc64nvme: Some(body.crc64nvme),
        checksum_type: Some(ChecksumType::FullObject),
        checksum: body
            .checksum
            .filter(|(algorithm, _)| *algorithm != ChecksumAlgorithm::Crc64Nvme),
        bytes: body.bytes,
        generated_seed: None,
        generated_period: None,
        headers: fields,
        version_id: None,
        last_modified: SystemTime::now(),
        part_lengths: Vec::new(),
    };
    let stored = ctx.shared.store.put(object, &condition)?;
    let mut response = Response::new(empty());
    let out = response.headers_mut();
    set_header(out, "etag", &stored.etag);
    checksum_header(out, stored.checksum.as_ref(), stored.crc64nvme);
    set_header(
        out,
        "x-amz-checksum-type",
        ChecksumType::FullObject.as_str(),
    );
    if let Some(version_id) = &stored.version_id {
        set_header(out, "x-amz-version-id", version_id);
    }
    Ok(response)
}

/// What a PutObject's headers ask, checked before its body is read.
fn prepare_put(
    ctx: &Ctx,
    headers: &HeaderMap,
) -> Result<(WriteCondition, ObjectHeaders, BodyPlan), S3Error> {
    let condition = write_condition(headers)?;
    let fields = object_headers(headers)?;
    ctx.shared.store.require_bucket(&ctx.target.bucket)?;
    let plan = BodyPlan::from_headers(headers, MAX_UPLOAD_BYTES, None)?;
    Ok((condition, fields, plan))
}

/// Drains the unread `body` of a write refused with `error` (unless it is too large to
/// drain) and returns the error.
pub(super) async fn refuse(body: Incoming, error: S3Error, ctx: &Ctx) -> S3Error {
    if !matches!(error, S3Error::EntityTooLarge { .. }) {
        discard(body, &ctx.shared.counters).await;
    }
    error
}

/// The checksum header of a write's answer: the algorithm sent, else CRC64NVME.
pub(super) fn checksum_header(
    out: &mut HeaderMap,
    checksum: Option<&(ChecksumAlgorithm, String)>,
    crc64nvme: Option<u64>,
) {
    match (checksum, crc64nvme) {
        (Some((algorithm, value)), _) => set_header(out, algorithm.header(), value),
        (None, Some(crc)) => set_header(out, "x-amz-checksum-crc64nvme", &crc64nvme_base64(crc)),
        (None, None) => {}
    }
}

/// DeleteObject: 204 whether or not the key existed.
pub fn delete_object(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    ctx.shared.store.delete(&ctx.target.bucket, &ctx.key)?;
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
