//! An identity copy ends with the source's own full-object CRC64NVME, or
//! writes nothing: a byte flipped on the way is caught before completion.

use crate::common::{self, Stack};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, SourceSpec, copy_object,
};
use s3_stream_lambda::transform::{Gzip, Identity, Transform};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// 12 MiB: three ranged reads and three parts at 5 MiB.
const SIZE: usize = 12 * MIB as usize;

/// How long one copy may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A stack with a 12 MiB source `object` uploaded with a full-object CRC64NVME.
async fn setup(test: &str) -> (Stack, SourceSpec) {
    let s = Stack::new(test).await;
    let etag = common::send_put(
        s.put_request("object")
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .body(ByteStream::from(common::bytes_of(SIZE, 11))),
    )
    .await;
    let source = SourceSpec {
        size: Some(SIZE as u64),
        ..s.source_spec("object", &etag)
    };
    (s, source)
}

/// Copies `source` through the proxy to the same key with `transform`.
async fn copy(
    s: &Stack,
    source: &SourceSpec,
    transform: Box<dyn Transform>,
) -> Result<CopyReport, CopyError> {
    let settings = CopySettings {
        part_size: MIN_PART_SIZE,
        // Streams: these tests are of the streaming path.
        mode: CopyMode::Stream,
        ..CopySettings::default()
    };
    let destination = s.destination_object(&source.key);
    let cancel = CancellationToken::new();
    let progress = CopyProgress::default();
    let copy = copy_object(
        &s.proxied,
        source.clone(),
        &destination,
        transform,
        &settings,
        &cancel,
        &progress,
    );
    timeout(PATIENCE, copy).await.expect("the copy ends")
}

#[tokio::test]
async fn moto_stores_a_full_object_crc64nvme() {
    let (s, source) = setup("moto-checksum").await;
    let head = s
        .client
        .head_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head the source");
    assert!(head.checksum_crc64_nvme().is_some(), "{head:?}");
}

#[tokio::test]
async fn an_untouched_identity_copy_is_verified_against_the_source() {
    let (s, source) = setup("verified").await;
    let report = copy(&s, &source, Box::new(Identity))
        .await
        .expect("the copy succeeds");
    assert_eq!(report.verified, "source-crc64nvme");
    assert_eq!(report.parts, 3);
    let copied = s.get(&source.key).await;
    assert_eq!(
        common::sha256(&copied),
        common::sha256(&common::bytes_of(SIZE, 11))
    );
}

#[tokio::test]
async fn a_transformed_copy_says_why_it_is_not_verified() {
    let (s, source) = setup("transformed").await;
    let report = copy(&s, &source, Box::new(Gzip::default()))
        .await
        .expect("the copy succeeds");
    assert_eq!(report.verified, "transformed");
}

#[tokio::test]
async fn a_flipped_byte_fails_the_copy_and_writes_nothing() {
    let (s, source) = setup("flipped").await;
    let rule = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::GetObject).header("range"),
            Fault::FlipByte(1000),
        )
        .times(Times::Nth(2)),
    );
    let error = copy(&s, &source, Box::new(Identity))
        .await
        .expect_err("a flipped byte fails the copy");
    assert_eq!(s.proxy.hits(rule), 1, "the fault fired");
    assert_eq!(error.error_type(), "Copy.ChecksumMismatch", "{error:?}");
    let exists = s
        .client
        .head_object()
        .bucket(&s.destination)
        .key(&source.key)
        .send()
        .await;
    assert!(exists.is_err(), "the destination must not exist");
    assert_eq!(s.open_uploads().await, 0);
}
