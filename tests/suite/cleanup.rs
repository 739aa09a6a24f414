//! No copy leaves a multipart upload behind: not on cancellation during
//! CompleteMultipartUpload, not when a transform panics, not when the copy
//! future is dropped. Real moto, the fault proxy in front.

use crate::common::{self, Stack};
use bytes::Bytes;
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, SourceSpec, copy_object,
};
use s3_stream_lambda::transform::{Identity, Transform, TransformError};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Three 5 MiB parts and a tail: a multipart upload with parts in flight.
const SIZE: usize = 3 * MIN_PART_SIZE as usize + 1_000;

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// A test's stack, with a multipart source `object` to copy to the same key.
async fn setup(test: &str) -> (Stack, SourceSpec) {
    let s = Stack::new(test).await;
    let etag = s.put("object", common::bytes_of(SIZE, 5)).await;
    let source = SourceSpec {
        size: Some(SIZE as u64),
        ..s.source_spec("object", &etag)
    };
    (s, source)
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

/// The copy of `source` through the proxy as a spawned task, so a panic or
/// an abort of it is observable.
fn spawn_copy(
    s: &Stack,
    source: &SourceSpec,
    transform: Box<dyn Transform>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Result<CopyReport, CopyError>> {
    let client = s.proxied.clone();
    let destination = s.destination_object(&source.key);
    let source = source.clone();
    tokio::spawn(async move {
        copy_object(
            &client,
            source,
            &destination,
            transform,
            &settings(),
            &cancel,
            &CopyProgress::default(),
        )
        .await
    })
}

#[tokio::test]
async fn a_cancel_during_complete_aborts_before_the_copy_returns() {
    let (s, source) = setup("cancel-complete").await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CompleteMultipartUpload),
        Fault::HoldResponse(Duration::from_secs(60)),
    ));
    let cancel = CancellationToken::new();
    let copy = spawn_copy(&s, &source, Box::new(Identity), cancel.clone());
    s.wait_for(S3Op::CompleteMultipartUpload, 1, PATIENCE).await;
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
    s.wait_for_no_open_uploads(PATIENCE).await;
}

#[tokio::test]
async fn a_cancel_while_the_upload_is_being_created_aborts_the_upload_s3_made() {
    let (s, source) = setup("cancel-create").await;
    // moto creates the upload; its answer (the upload id) is held back, so
    // the cancellation comes while S3 has an upload the copy has not named.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CreateMultipartUpload),
        Fault::HoldResponse(Duration::from_millis(150)),
    ));
    let cancel = CancellationToken::new();
    let copy = spawn_copy(&s, &source, Box::new(Identity), cancel.clone());
    s.wait_for(S3Op::CreateMultipartUpload, 1, PATIENCE).await;
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
    s.wait_for_no_open_uploads(PATIENCE).await;
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
    let (s, source) = setup("transform-panics").await;
    let copy = spawn_copy(
        &s,
        &source,
        Box::new(PanicsOnThird { seen: 0 }),
        CancellationToken::new(),
    );
    let joined = timeout(PATIENCE, copy).await.expect("the copy ends");
    let error = joined.expect_err("the transform panicked");
    assert!(error.is_panic(), "{error}");
    s.wait_for(S3Op::AbortMultipartUpload, 1, PATIENCE).await;
    s.wait_for_no_open_uploads(PATIENCE).await;
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
    let (s, source) = setup("dropped-copy").await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPart),
            Fault::HoldResponse(Duration::from_secs(60)),
        )
        .times(Times::Always),
    );
    let copy = spawn_copy(&s, &source, Box::new(Identity), CancellationToken::new());
    s.wait_for(S3Op::UploadPart, 1, PATIENCE).await;
    copy.abort();
    let joined = timeout(PATIENCE, copy)
        .await
        .expect("the aborted copy ends");
    assert!(joined.expect_err("aborted").is_cancelled());
    s.wait_for(S3Op::AbortMultipartUpload, 1, PATIENCE).await;
    s.wait_for_no_open_uploads(PATIENCE).await;
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
    let (s, source) = setup("transform-length").await;
    let copy = spawn_copy(&s, &source, Box::new(AddsAByte), CancellationToken::new());
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
    s.wait_for_no_open_uploads(PATIENCE).await;
}
