//! An identity copy ends with the source's own full-object CRC64NVME, or
//! writes nothing: a byte flipped on the way is caught before completion.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, Destination, SourceSpec,
    copy_object,
};
use s3_stream_lambda::transform::{Gzip, Identity, Transform};
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// 12 MiB: three ranged reads and three parts at 5 MiB.
const SIZE: usize = 12 * MIB as usize;

/// How long one copy may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

struct Setup {
    direct: Client,
    proxy: FaultProxy,
    source: SourceSpec,
    destination: Destination,
}

/// Buckets and a 12 MiB source uploaded with a full-object CRC64NVME.
async fn setup(test: &str) -> Setup {
    let direct = common::client().await;
    let source_bucket = common::create_bucket(&direct, &format!("{test}-src")).await;
    let destination_bucket = common::create_bucket(&direct, &format!("{test}-dst")).await;
    let put = direct
        .put_object()
        .bucket(&source_bucket)
        .key("object")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from(common::bytes_of(SIZE, 11)))
        .send()
        .await
        .expect("put the source");
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start the fault proxy");
    Setup {
        direct,
        proxy,
        source: SourceSpec {
            bucket: source_bucket,
            key: "object".into(),
            etag: put.e_tag().map(|etag| etag.trim_matches('"').to_owned()),
            size: Some(SIZE as u64),
            ..SourceSpec::default()
        },
        destination: Destination {
            bucket: destination_bucket,
            key: "object".into(),
        },
    }
}

impl Setup {
    async fn copy(&self, transform: Box<dyn Transform>) -> Result<CopyReport, CopyError> {
        let client = common::client_for(&self.proxy.endpoint()).await;
        let settings = CopySettings {
            part_size: MIN_PART_SIZE,
            // Streams: these tests are of the streaming path.
            mode: CopyMode::Stream,
            ..CopySettings::default()
        };
        let progress = CopyProgress::default();
        let cancel = CancellationToken::new();
        let copy = copy_object(
            &client,
            self.source.clone(),
            &self.destination,
            transform,
            &settings,
            &cancel,
            &progress,
        );
        timeout(PATIENCE, copy).await.expect("the copy ends")
    }
}

#[tokio::test]
async fn moto_stores_a_full_object_crc64nvme() {
    let s = setup("moto-checksum").await;
    let head = s
        .direct
        .head_object()
        .bucket(&s.source.bucket)
        .key(&s.source.key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head the source");
    assert!(head.checksum_crc64_nvme().is_some(), "{head:?}");
}

#[tokio::test]
async fn an_untouched_identity_copy_is_verified_against_the_source() {
    let s = setup("verified").await;
    let report = s.copy(Box::new(Identity)).await.expect("the copy succeeds");
    assert_eq!(report.verified, "source-crc64nvme");
    assert_eq!(report.parts, 3);
    let copied = common::get(&s.direct, &s.destination.bucket, &s.destination.key).await;
    assert_eq!(
        common::sha256(&copied),
        common::sha256(&common::bytes_of(SIZE, 11))
    );
}

#[tokio::test]
async fn a_transformed_copy_says_why_it_is_not_verified() {
    let s = setup("transformed").await;
    let report = s
        .copy(Box::new(Gzip::default()))
        .await
        .expect("the copy succeeds");
    assert_eq!(report.verified, "transformed");
}

#[tokio::test]
async fn a_flipped_byte_fails_the_copy_and_writes_nothing() {
    let s = setup("flipped").await;
    let rule = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::GetObject).header("range"),
            Fault::FlipByte(1000),
        )
        .times(Times::Nth(2)),
    );
    let error = s
        .copy(Box::new(Identity))
        .await
        .expect_err("a flipped byte fails the copy");
    assert_eq!(s.proxy.hits(rule), 1, "the fault fired");
    assert_eq!(error.error_type(), "Copy.ChecksumMismatch", "{error:?}");
    let exists = s
        .direct
        .head_object()
        .bucket(&s.destination.bucket)
        .key(&s.destination.key)
        .send()
        .await;
    assert!(exists.is_err(), "the destination must not exist");
    assert_eq!(
        common::incomplete_uploads(&s.direct, &s.destination.bucket).await,
        0
    );
}
