//! The streaming copy engine against a real S3-compatible server (moto_server).

mod common;

use aws_sdk_s3::Client;
use bytes::Bytes;
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, Destination, SourceSpec,
    copy_object,
};
use s3_stream_lambda::transform::{Identity, Transform, TransformError};
use std::collections::HashMap;
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

struct Buckets {
    client: Client,
    source: String,
    destination: String,
}

async fn buckets(test: &str) -> Buckets {
    let client = common::client().await;
    let source = common::create_bucket(&client, &format!("{test}-src")).await;
    let destination = common::create_bucket(&client, &format!("{test}-dst")).await;
    Buckets {
        client,
        source,
        destination,
    }
}

impl Buckets {
    fn spec(&self, key: &str, etag: &str, size: usize) -> SourceSpec {
        SourceSpec {
            bucket: self.source.clone(),
            key: key.to_owned(),
            version_id: None,
            etag: Some(etag.trim_matches('"').to_owned()),
            size: Some(size as u64),
            sequencer: None,
        }
    }

    fn destination(&self, key: &str) -> Destination {
        Destination {
            bucket: self.destination.clone(),
            key: key.to_owned(),
        }
    }

    async fn copy(
        &self,
        key: &str,
        etag: &str,
        size: usize,
        transform: Box<dyn Transform>,
        cancel: &CancellationToken,
    ) -> Result<CopyReport, CopyError> {
        let progress = CopyProgress::default();
        copy_object(
            &self.client,
            self.spec(key, etag, size),
            &self.destination(key),
            transform,
            &settings(),
            cancel,
            &progress,
        )
        .await
    }

    /// Puts `data` at `key`, copies it with identity, and checks the bytes.
    async fn round_trip(&self, key: &str, data: Vec<u8>) -> CopyReport {
        let expected = common::sha256(&data);
        let size = data.len();
        let etag = common::put(&self.client, &self.source, key, data).await;
        let report = self
            .copy(
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
        let copied = common::get(&self.client, &self.destination, key).await;
        assert_eq!(copied.len(), size, "{key}: length");
        assert_eq!(common::sha256(&copied), expected, "{key}: sha-256");
        assert_eq!(report.bytes_read, size as u64);
        assert_eq!(report.bytes_written, size as u64);
        report
    }
}

#[tokio::test]
async fn copies_every_size_byte_for_byte() {
    let b = buckets("sizes").await;
    let cases = [
        ("empty", 0, 1),
        ("one-byte", 1, 1),
        ("part-minus-one", PART - 1, 1),
        ("exactly-one-part", PART, 1),
        ("part-plus-one", PART + 1, 2),
        ("three-parts-and-a-tail", 3 * PART + 12_345, 4),
    ];
    for (key, size, parts) in cases {
        let report = b
            .round_trip(key, common::bytes_of(size, size as u64 + 7))
            .await;
        assert_eq!(report.parts, parts, "{key}: parts");
        assert_eq!(report.part_size, MIN_PART_SIZE);
    }
    assert_eq!(
        common::incomplete_uploads(&b.client, &b.destination).await,
        0
    );
}

#[tokio::test]
async fn copies_a_large_object_byte_for_byte() {
    let b = buckets("large").await;
    let size = 100 * MIB as usize + 777;
    let report = b
        .round_trip("large/object.bin", common::bytes_of(size, 42))
        .await;
    assert_eq!(report.parts, 21);
    // The destination's full-object checksum is the one the engine computed.
    let head = b
        .client
        .head_object()
        .bucket(&b.destination)
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
    let b = buckets("keys").await;
    for key in [
        "with space.txt",
        "a+b=c.txt",
        "ünïcødé/日本語 ✓.bin",
        "deep/nested/path/to/object",
    ] {
        b.round_trip(key, common::bytes_of(1_000, 3)).await;
    }
}

#[tokio::test]
async fn carries_metadata_to_the_destination() {
    let b = buckets("metadata").await;
    let data = common::bytes_of(PART + 10, 9);
    let mut meta = HashMap::new();
    meta.insert("owner".to_owned(), "team-a".to_owned());
    for (key, body) in [
        ("meta-single", data[..100].to_vec()),
        ("meta-multi", data.clone()),
    ] {
        let put = b
            .client
            .put_object()
            .bucket(&b.source)
            .key(key)
            .content_type("application/x-test")
            .content_encoding("identity")
            .content_disposition("attachment; filename=\"x.bin\"")
            .content_language("de")
            .cache_control("max-age=60")
            .expires(aws_smithy_types::DateTime::from_secs(2_000_000_000))
            .set_metadata(Some(meta.clone()))
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        b.copy(
            key,
            put.e_tag().unwrap(),
            body.len(),
            Box::new(Identity),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        let head = common::head(&b.client, &b.destination, key).await;
        assert_eq!(head.content_type(), Some("application/x-test"), "{key}");
        assert_eq!(head.content_encoding(), Some("identity"), "{key}");
        assert_eq!(
            head.content_disposition(),
            Some("attachment; filename=\"x.bin\""),
            "{key}"
        );
        assert_eq!(head.content_language(), Some("de"), "{key}");
        assert_eq!(head.cache_control(), Some("max-age=60"), "{key}");
        assert!(
            head.expires_string().is_some_and(|e| e.contains("2033")),
            "{key}: {:?}",
            head.expires_string()
        );
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("owner"))
                .map(String::as_str),
            Some("team-a"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn reports_a_missing_source() {
    let b = buckets("missing").await;
    let error = b
        .copy(
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
    let b = buckets("nodst").await;
    for size in [10, 2 * PART] {
        let key = format!("obj-{size}");
        let etag = common::put(&b.client, &b.source, &key, common::bytes_of(size, 1)).await;
        let progress = CopyProgress::default();
        let destination = Destination {
            bucket: "no-such-bucket-anywhere".into(),
            key: key.clone(),
        };
        let error = copy_object(
            &b.client,
            b.spec(&key, &etag, size),
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
    let b = buckets("superseded").await;
    let old_etag = common::put(&b.client, &b.source, "k", common::bytes_of(100, 1)).await;
    common::put(&b.client, &b.source, "k", common::bytes_of(100, 2)).await;
    let error = b
        .copy(
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
    let b = buckets("failing").await;
    let size = 8 * PART;
    let etag = common::put(&b.client, &b.source, "big", common::bytes_of(size, 5)).await;
    let saboteur = Saboteur {
        seen: 0,
        after: 4 * PART,
        cancel: None,
    };
    let error = b
        .copy(
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
    assert_eq!(
        common::incomplete_uploads(&b.client, &b.destination).await,
        0
    );
    let head = b
        .client
        .head_object()
        .bucket(&b.destination)
        .key("big")
        .send()
        .await;
    assert!(head.is_err(), "nothing is written");
}

#[tokio::test]
async fn a_cancelled_copy_leaves_no_incomplete_upload() {
    let b = buckets("cancelled").await;
    let size = 8 * PART;
    let etag = common::put(&b.client, &b.source, "big", common::bytes_of(size, 6)).await;
    let cancel = CancellationToken::new();
    let saboteur = Saboteur {
        seen: 0,
        after: 4 * PART,
        cancel: Some(cancel.clone()),
    };
    let error = b
        .copy("big", &etag, size, Box::new(saboteur), &cancel)
        .await
        .unwrap_err();
    match error {
        CopyError::Cancelled { bytes_read, .. } => assert!(bytes_read >= 4 * PART as u64),
        other => panic!("expected cancellation, got {other:?}"),
    }
    assert_eq!(
        common::incomplete_uploads(&b.client, &b.destination).await,
        0
    );
}

#[tokio::test]
async fn gzip_output_of_unknown_length_round_trips() {
    use std::io::Read;
    let b = buckets("gzip").await;
    for (key, size) in [("small.txt", 10_000), ("large.bin", 3 * PART + 999)] {
        let data = common::bytes_of(size, 77);
        let etag = common::put(&b.client, &b.source, key, data.clone()).await;
        let transform = s3_stream_lambda::transform::by_name("gzip").unwrap();
        let report = b
            .copy(key, &etag, size, transform, &CancellationToken::new())
            .await
            .unwrap();
        let compressed = common::get(&b.client, &b.destination, key).await;
        assert_eq!(report.bytes_written, compressed.len() as u64);
        let mut decoded = Vec::new();
        // Concatenated members (one per MiB): a multi-member reader.
        flate2::read::MultiGzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(common::sha256(&decoded), common::sha256(&data), "{key}");
        let head = common::head(&b.client, &b.destination, key).await;
        assert_eq!(head.content_type(), Some("application/gzip"));
    }
    assert_eq!(
        common::incomplete_uploads(&b.client, &b.destination).await,
        0
    );
}
