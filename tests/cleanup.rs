//! No copy leaves a multipart upload behind: not on cancellation during
//! CompleteMultipartUpload, not when a transform panics, not when the copy
//! future is dropped. Real moto, the fault proxy in front.

mod common;

use aws_sdk_s3::Client;
use bytes::Bytes;
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, Destination, SourceSpec,
    copy_object,
};
use s3_stream_lambda::transform::{Identity, Transform, TransformError};
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Three 5 MiB parts and a tail: a multipart upload with parts in flight.
const SIZE: usize = 3 * MIN_PART_SIZE as usize + 1_000;

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

struct Setup {
    direct: Client,
    proxied: Client,
    proxy: FaultProxy,
    source: SourceSpec,
    destination: Destination,
}

async fn setup(test: &str) -> Setup {
    let direct = common::client().await;
    let source_bucket = common::create_bucket(&direct, &format!("{test}-src")).await;
    let destination_bucket = common::create_bucket(&direct, &format!("{test}-dst")).await;
    let etag = common::put(&direct, &source_bucket, "object", common::bytes_of(SIZE, 5)).await;
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start the fault proxy");
    let proxied = common::client_for(&proxy.endpoint()).await;
    Setup {
        direct,
        proxied,
        proxy,
        source: SourceSpec {
            bucket: source_bucket,
            key: "object".into(),
            etag: Some(etag.trim_matches('"').to_owned()),
            size: Some(SIZE as u64),
            ..SourceSpec::default()
        },
        destination: Destination {
            bucket: destination_bucket,
            key: "object".into(),
        },
    }
}

fn settings() -> CopySettings {
    CopySettings {
        part_size: MIN_PART_SIZE,
        upload_concurrency: 2,
        read_ahead: 2,
        // Streams: these tests are of the streaming path.
        mode: CopyMode::Stream,
        ..CopySettings::default()
    }
}

impl Setup {
    /// The copy as a spawned task, so a panic or an abort of it is observable.
    fn spawn_copy(
        &self,
        transform: Box<dyn Transform>,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<CopyReport, CopyError>> {
        let client = self.proxied.clone();
        let source = self.source.clone();
        let destination = self.destination.clone();
        tokio::spawn(async move {
            let progress = CopyProgress::default();
            copy_object(
                &client,
                source,
                &destination,
                transform,
                &settings(),
                &cancel,
                &progress,
            )
            .await
        })
    }

    /// Waits until the destination bucket has no incomplete upload.
    async fn assert_no_incomplete_uploads(&self) {
        let polled = timeout(PATIENCE, async {
            while common::incomplete_uploads(&self.direct, &self.destination.bucket).await > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            polled.is_ok(),
            "multipart uploads still open after {PATIENCE:?}"
        );
    }

    /// Waits until the proxy has seen a request of `op`.
    async fn wait_for(&self, op: S3Op) {
        let seen = timeout(PATIENCE, async {
            while !self.proxy.log().iter().any(|exchange| exchange.op == op) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "no {op:?} reached the proxy");
    }
}

#[tokio::test]
async fn a_cancel_during_complete_aborts_before_the_copy_returns() {
    let s = setup("cancel-complete").await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CompleteMultipartUpload),
        Fault::HoldResponse(Duration::from_secs(60)),
    ));
    let cancel = CancellationToken::new();
    let copy = s.spawn_copy(Box::new(Identity), cancel.clone());
    s.wait_for(S3Op::CompleteMultipartUpload).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = timeout(Duration::from_secs(5), copy)
        .await
        .expect("the cancelled copy returns within seconds")
        .expect("the copy task does not panic");
    let returned_at = std::time::Instant::now();
    assert!(
        matches!(result, Err(CopyError::Cancelled { .. })),
        "{result:?}"
    );
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    let log = s.proxy.log();
    let abort = log
        .iter()
        .find(|exchange| exchange.op == S3Op::AbortMultipartUpload)
        .expect("an AbortMultipartUpload was sent");
    let responded = abort.responded_at.expect("the abort's response completed");
    assert!(
        responded <= returned_at,
        "the abort must have completed before copy_object returned"
    );
    s.assert_no_incomplete_uploads().await;
}

#[tokio::test]
async fn a_cancel_while_the_upload_is_being_created_aborts_the_upload_s3_made() {
    let s = setup("cancel-create").await;
    // moto creates the upload; its answer (the upload id) is held back, so
    // the cancellation comes while S3 has an upload the copy has not named.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CreateMultipartUpload),
        Fault::HoldResponse(Duration::from_millis(150)),
    ));
    let cancel = CancellationToken::new();
    let copy = s.spawn_copy(Box::new(Identity), cancel.clone());
    s.wait_for(S3Op::CreateMultipartUpload).await;
    cancel.cancel();
    let result = timeout(PATIENCE, copy)
        .await
        .expect("the cancelled copy returns")
        .expect("the copy task does not panic");
    assert!(
        matches!(result, Err(CopyError::Cancelled { .. })),
        "{result:?}"
    );
    assert!(
        s.proxy
            .log()
            .iter()
            .any(|exchange| exchange.op == S3Op::AbortMultipartUpload
                && exchange.responded_at.is_some()),
        "the upload S3 created was aborted before the copy returned"
    );
    s.assert_no_incomplete_uploads().await;
}

/// Identity, except that its third chunk panics.
struct PanicsOnThird {
    seen: usize,
}

impl Transform for PanicsOnThird {
    fn name(&self) -> &'static str {
        "panics-on-third"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.seen += 1;
        assert!(
            self.seen < 3,
            "the test transform panics on its third chunk"
        );
        output.push(input);
        Ok(())
    }

    fn finish(&mut self, _output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        Ok(())
    }

    fn preserves_length(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_panicking_transform_leaves_no_upload_behind() {
    let s = setup("transform-panics").await;
    let copy = s.spawn_copy(
        Box::new(PanicsOnThird { seen: 0 }),
        CancellationToken::new(),
    );
    let joined = timeout(PATIENCE, copy).await.expect("the copy ends");
    let error = joined.expect_err("the transform panicked");
    assert!(error.is_panic(), "{error}");
    s.wait_for(S3Op::AbortMultipartUpload).await;
    s.assert_no_incomplete_uploads().await;
    assert!(
        s.proxy
            .log()
            .iter()
            .any(|exchange| exchange.op == S3Op::CreateMultipartUpload),
        "the upload was open when the transform panicked"
    );
}

#[tokio::test]
async fn a_dropped_copy_leaves_no_upload_behind() {
    let s = setup("dropped-copy").await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPart),
            Fault::HoldResponse(Duration::from_secs(60)),
        )
        .times(Times::Always),
    );
    let copy = s.spawn_copy(Box::new(Identity), CancellationToken::new());
    s.wait_for(S3Op::UploadPart).await;
    copy.abort();
    let joined = timeout(PATIENCE, copy)
        .await
        .expect("the aborted copy ends");
    assert!(joined.expect_err("aborted").is_cancelled());
    s.wait_for(S3Op::AbortMultipartUpload).await;
    s.assert_no_incomplete_uploads().await;
}

/// Declares that it keeps the length, then writes one byte more.
struct AddsAByte;

impl Transform for AddsAByte {
    fn name(&self) -> &'static str {
        "adds-a-byte"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        output.push(input);
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        output.push(Bytes::from_static(b"!"));
        Ok(())
    }

    fn preserves_length(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_transform_that_breaks_its_length_promise_writes_nothing() {
    let s = setup("transform-length").await;
    let copy = s.spawn_copy(Box::new(AddsAByte), CancellationToken::new());
    let error = timeout(PATIENCE, copy)
        .await
        .expect("the copy ends")
        .expect("the copy task does not panic")
        .expect_err("a wrong length is not completed");
    assert!(error.to_string().contains("keeps the length"), "{error}");
    assert_eq!(
        s.proxy
            .log()
            .iter()
            .filter(|exchange| exchange.op == S3Op::CompleteMultipartUpload)
            .count(),
        0,
        "nothing completed"
    );
    s.assert_no_incomplete_uploads().await;
}
