//! Small objects: many one-request GETs and PUTs of a few KiB, so many at once, for request rate and latency.

use super::{Bench, Failure};
use crate::bench::case::{Case, SMALL_OBJECT_BYTES, SMALL_REQUESTS};
use tokio_util::sync::CancellationToken;

/// GETs of the small objects in turn.
pub async fn gets(bench: &Bench, case: &Case, cancel: &CancellationToken) -> Result<u64, Failure> {
    super::concurrently(
        0..SMALL_REQUESTS,
        case.concurrency,
        cancel,
        |i| async move {
            let key = &bench.small_keys[i % bench.small_keys.len()];
            let output = bench
                .client
                .get_object()
                .bucket(&bench.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| Failure::of_request(case, &e))?;
            let body = output
                .body
                .collect()
                .await
                .map_err(|e| Failure::of_request(case, &e))?;
            Ok(body.into_bytes().len() as u64)
        },
    )
    .await
}

/// PUTs over the small objects in turn (each overwritten in place).
pub async fn puts(bench: &Bench, case: &Case, cancel: &CancellationToken) -> Result<u64, Failure> {
    super::concurrently(
        0..SMALL_REQUESTS,
        case.concurrency,
        cancel,
        |i| async move {
            let key = &bench.small_keys[i % bench.small_keys.len()];
            put_small(bench, &bench.client, key)
                .await
                .map_err(|e| Failure::of_request(case, &e))?;
            Ok(SMALL_OBJECT_BYTES as u64)
        },
    )
    .await
}

/// One small object, marked as the bench's.
pub(crate) async fn put_small(
    bench: &Bench,
    client: &aws_sdk_s3::Client,
    key: &str,
) -> Result<(), aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>> {
    client
        .put_object()
        .bucket(&bench.bucket)
        .key(key)
        .set_metadata(Some(bench.payload.marker.clone()))
        .set_storage_class(bench.payload.options.storage_class.clone())
        .set_server_side_encryption(bench.payload.options.sse.clone())
        .set_ssekms_key_id(bench.payload.options.kms_key_id.clone())
        .set_acl(bench.payload.options.acl.clone())
        .set_expected_bucket_owner(bench.payload.options.expected_bucket_owner.clone())
        .body(bench.payload.block.slice(..SMALL_OBJECT_BYTES).into())
        .send()
        .await
        .map(drop)
}
