//! The streaming copy engine against a real S3-compatible server (moto_server).

use crate::common::{self, Described, Stack};
use bytes::Bytes;
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, Destination, SourceSpec,
    copy_object,
};
use s3_stream_lambda::transform::{Identity, Transform, TransformError};
use tokio_util::sync::CancellationToken;

/// 5 MiB parts: S3's minimum, so multi-part cases stay small and fast.
const PART: usize = MIN_PART_SIZE as usize;

fn settings() -> CopySettings {
    CopySettings {
        part_size: MIN_PART_SIZE,
        upload_concurrency: 3,
        read_ahead: 2,
        // Streams: these tests are of the streaming path.
        mode: CopyMode::Stream,
        ..CopySettings::default()
    }
}

/// The source object `key` of `size` bytes at `etag`.
fn spec(s: &Stack, key: &str, etag: &str, size: usize) -> SourceSpec {
    SourceSpec {
        size: Some(size as u64),
        ..s.source_spec(key, etag)
    }
}

/// Copies `key` to the same key, straight to the server (no proxy).
async fn copy(
    s: &Stack,
    key: &str,
    etag: &str,
    size: usize,
    transform: Box<dyn Transform>,
    cancel: &CancellationToken,
) -> Result<CopyReport, CopyError> {
    copy_object(
        &s.client,
        spec(s, key, etag, size),
        &s.destination_object(key),
        transform,
        &settings(),
        cancel,
        &CopyProgress::default(),
    )
    .await
}

/// Puts `data` at `key`, copies it with identity, and checks the bytes.
async fn round_trip(s: &Stack, key: &str, data: Vec<u8>) -> CopyReport {
    let expected = common::sha256(&data);
    let size = data.len();
    let etag = s.put(key, data).await;
    let report = copy(
        s,
        key,
        &etag,
        size,
        Box::new(Identity),
        &CancellationToken::new(),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "copy of {key:?} ({size} bytes) failed: {}",
            s3_stream_lambda::runtime::error_chain(&e)
        )
    });
    let copied = s.get(key).await;
    assert_eq!(copied.len(), size, "{key}: length");
    assert_eq!(common::sha256(&copied), expected, "{key}: sha-256");
    assert_eq!(report.bytes_read, size as u64);
    assert_eq!(report.bytes_written, size as u64);
    report
}

#[tokio::test]
async fn copies_every_size_byte_for_byte() {
    let s = Stack::new("sizes").await;
    let cases = [
        ("empty", 0, 1),
        ("one-byte", 1, 1),
        ("part-minus-one", PART - 1, 1),
        ("exactly-one-part", PART, 1),
        ("part-plus-one", PART + 1, 2),
        ("three-parts-and-a-tail", 3 * PART + 12_345, 4),
    ];
    for (key, size, parts) in cases {
        let report = round_trip(&s, key, common::bytes_of(size, size as u64 + 7)).await;
        assert_eq!(report.parts, parts, "{key}: parts");
        assert_eq!(report.part_size, MIN_PART_SIZE);
    }
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn copies_a_large_object_byte_for_byte() {
    let s = Stack::new("large").await;
    let size = 100 * MIB as usize + 777;
    let report = round_trip(&s, "large/object.bin", common::bytes_of(size, 42)).await;
    assert_eq!(report.parts, 21);
    // The destination's full-object checksum is the one the engine computed.
    let head = s
        .client
        .head_object()
        .bucket(&s.destination)
        .key("large/object.bin")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.checksum_crc64_nvme(),
        report.checksum_crc64nvme.as_deref()
    );
}

#[tokio::test]
async fn copies_keys_with_spaces_plus_unicode_and_slashes() {
    let s = Stack::new("keys").await;
    for key in [
        "with space.txt",
        "a+b=c.txt",
        "ünïcødé/日本語 ✓.bin",
        "deep/nested/path/to/object",
    ] {
        round_trip(&s, key, common::bytes_of(1_000, 3)).await;
    }
}

#[tokio::test]
async fn carries_metadata_to_the_destination() {
    let s = Stack::new("metadata").await;
    let data = common::bytes_of(PART + 10, 9);
    let described = Described {
        content_type: "application/x-test",
        content_disposition: "attachment; filename=\"x.bin\"",
        cache_control: "max-age=60",
        content_language: "de",
        owner: "team-a",
    };
    for (key, body) in [
        ("meta-single", data[..100].to_vec()),
        ("meta-multi", data.clone()),
    ] {
        let etag = common::send_put(
            described
                .put(s.put_request(key))
                .content_encoding("identity")
                .expires(aws_smithy_types::DateTime::from_secs(2_000_000_000))
                .body(body.clone().into()),
        )
        .await;
        copy(
            &s,
            key,
            &etag,
            body.len(),
            Box::new(Identity),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        let head = s.head(key).await;
        described.assert_on(&head, key);
        assert_eq!(head.content_encoding(), Some("identity"), "{key}");
        assert!(
            head.expires_string().is_some_and(|e| e.contains("2033")),
            "{key}: {:?}",
            head.expires_string()
        );
    }
}

#[tokio::test]
async fn reports_a_missing_source() {
    let s = Stack::new("missing").await;
    let error = copy(
        &s,
        "no/such key",
        "0123456789abcdef0123456789abcdef",
        10,
        Box::new(Identity),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CopyError::SourceGone { .. }), "{error:?}");
    assert_eq!(error.error_type(), "S3.NoSuchKey");
    assert!(error.to_string().contains("no/such key"));
}

#[tokio::test]
async fn reports_a_missing_destination_bucket() {
    let s = Stack::new("nodst").await;
    for size in [10, 2 * PART] {
        let key = format!("obj-{size}");
        let etag = s.put(&key, common::bytes_of(size, 1)).await;
        let progress = CopyProgress::default();
        let destination = Destination {
            bucket: "no-such-bucket-anywhere".into(),
            key: key.clone(),
        };
        let error = copy_object(
            &s.client,
            spec(&s, &key, &etag, size),
            &destination,
            Box::new(Identity),
            &settings(),
            &CancellationToken::new(),
            &progress,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, CopyError::DestinationBucketMissing { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "destination bucket no-such-bucket-anywhere does not exist"
        );
    }
}

#[tokio::test]
async fn reports_a_superseded_source() {
    let s = Stack::new("superseded").await;
    let old_etag = s.put("k", common::bytes_of(100, 1)).await;
    s.put("k", common::bytes_of(100, 2)).await;
    let error = copy(
        &s,
        "k",
        &old_etag,
        100,
        Box::new(Identity),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CopyError::Superseded { .. }), "{error:?}");
    assert!(error.class().is_permanent());
}

/// Passes bytes through, then fails (or cancels) once `after` bytes went by.
struct Saboteur {
    seen: usize,
    after: usize,
    cancel: Option<CancellationToken>,
}

impl Transform for Saboteur {
    fn name(&self) -> &'static str {
        "saboteur"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.seen += input.len();
        if self.seen > self.after {
            match &self.cancel {
                Some(cancel) => cancel.cancel(),
                None => {
                    return Err(TransformError {
                        name: "saboteur",
                        message: "failed on purpose".into(),
                    });
                }
            }
        }
        output.push(input);
        Ok(())
    }

    fn finish(&mut self, _output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_transform_leaves_no_incomplete_upload() {
    let s = Stack::new("failing").await;
    let size = 8 * PART;
    let etag = s.put("big", common::bytes_of(size, 5)).await;
    let saboteur = Saboteur {
        seen: 0,
        after: 4 * PART,
        cancel: None,
    };
    let error = copy(
        &s,
        "big",
        &etag,
        size,
        Box::new(saboteur),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CopyError::Transform(_)), "{error:?}");
    assert_eq!(error.error_type(), "Transform.Failed");
    assert_eq!(s.open_uploads().await, 0);
    let head = s
        .client
        .head_object()
        .bucket(&s.destination)
        .key("big")
        .send()
        .await;
    assert!(head.is_err(), "nothing is written");
}

#[tokio::test]
async fn a_cancelled_copy_leaves_no_incomplete_upload() {
    let s = Stack::new("cancelled").await;
    let size = 8 * PART;
    let etag = s.put("big", common::bytes_of(size, 6)).await;
    let cancel = CancellationToken::new();
    let saboteur = Saboteur {
        seen: 0,
        after: 4 * PART,
        cancel: Some(cancel.clone()),
    };
    let error = copy(&s, "big", &etag, size, Box::new(saboteur), &cancel)
        .await
        .unwrap_err();
    match error {
        CopyError::Cancelled { bytes_read, .. } => assert!(bytes_read >= 4 * PART as u64),
        other => panic!("expected cancellation, got {other:?}"),
    }
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn gzip_output_of_unknown_length_round_trips() {
    use std::io::Read;
    let s = Stack::new("gzip").await;
    for (key, size) in [("small.txt", 10_000), ("large.bin", 3 * PART + 999)] {
        let data = common::bytes_of(size, 77);
        let etag = s.put(key, data.clone()).await;
        let transform = s3_stream_lambda::transform::by_name("gzip").unwrap();
        let report = copy(&s, key, &etag, size, transform, &CancellationToken::new())
            .await
            .unwrap();
        let compressed = s.get(key).await;
        assert_eq!(report.bytes_written, compressed.len() as u64);
        let mut decoded = Vec::new();
        // Concatenated members (one per MiB): a multi-member reader.
        flate2::read::MultiGzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(common::sha256(&decoded), common::sha256(&data), "{key}");
        let head = s.head(key).await;
        assert_eq!(head.content_type(), Some("application/gzip"));
    }
    assert_eq!(s.open_uploads().await, 0);
}
