//! Source reads survive cut, short and throttled bodies: resumed from the next
//! unread byte, counted in the report, never silently truncated (moto behind
//! the fault proxy).

use crate::common::{self, Stack};
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyProgress, CopyReport, CopySettings, ReadRetryPolicy, SourceSpec,
    copy_object,
};
use s3_stream_lambda::runtime::error_chain;
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Outcome, Rule, S3Op, Times};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// 24 MiB: five 5 MiB ranged GETs, the last one shorter.
const SIZE: usize = 24 * MIB as usize;

/// Where the cut of the first test falls: inside every 5 MiB range.
const CUT_AFTER: u64 = 3 * MIB;

/// Where the cut of the unrecoverable test falls: three attempts of this read
/// less than one range.
const SHORT_CUT_AFTER: u64 = 256 * 1024;

/// Every test fails rather than hang past this.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Fast retries so failing cases finish quickly.
fn fast_policy() -> ReadRetryPolicy {
    ReadRetryPolicy {
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..ReadRetryPolicy::default()
    }
}

fn settings(read_retry: ReadRetryPolicy) -> CopySettings {
    CopySettings {
        part_size: MIN_PART_SIZE,
        upload_concurrency: 3,
        read_ahead: 2,
        read_retry,
        // Streams: these tests are of the streaming path.
        mode: CopyMode::Stream,
        ..CopySettings::default()
    }
}

/// Ranged GETs of the source (every read of a multi-range copy, resumes included).
fn ranged_gets() -> Matcher {
    Matcher::s3(S3Op::GetObject).header("range")
}

/// Puts `size` deterministic bytes at `key`; returns their eTag and SHA-256.
async fn put_sized(s: &Stack, key: &str, seed: u64, size: usize) -> (String, String) {
    let data = common::bytes_of(size, seed);
    let sha = common::sha256(&data);
    let etag = s.put(key, data).await;
    (etag, sha)
}

/// Copies the `size` bytes at `key` through the proxy with identity.
async fn copy(
    s: &Stack,
    key: &str,
    etag: &str,
    size: usize,
    read_retry: ReadRetryPolicy,
) -> Result<CopyReport, CopyError> {
    let spec = SourceSpec {
        size: Some(size as u64),
        ..s.source_spec(key, etag)
    };
    copy_object(
        &s.proxied,
        spec,
        &s.destination_object(key),
        Box::new(Identity),
        &settings(read_retry),
        &CancellationToken::new(),
        &CopyProgress::default(),
    )
    .await
}

/// The destination's `size` bytes match `sha` and nothing is left half-uploaded.
async fn assert_copied(s: &Stack, key: &str, sha: &str, size: usize) {
    let copied = s.get(key).await;
    assert_eq!(copied.len(), size, "{key}: length");
    assert_eq!(common::sha256(&copied), sha, "{key}: sha-256");
    assert_eq!(s.open_uploads().await, 0);
}

async fn within<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn cut_bodies_are_resumed_and_counted() {
    within(async {
        let s = Stack::new("cut-resumed").await;
        let (etag, sha) = put_sized(&s, "big.bin", 11, SIZE).await;
        let cut = s.proxy.add_rule(
            Rule::new(ranged_gets(), Fault::CutBodyAfter(CUT_AFTER)).times(Times::EveryNth(2)),
        );
        let report = copy(&s, "big.bin", &etag, SIZE, fast_policy())
            .await
            .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)));
        // The rule also fires on resumes shorter than the cut, which pass whole:
        // only the exchanges it aborted are cuts.
        let fired = s.proxy.hits(cut);
        let cuts = s
            .proxy
            .log()
            .iter()
            .filter(|e| e.rule == Some(cut) && e.outcome == Outcome::Aborted)
            .count();
        assert!(cuts >= 2 && fired >= cuts, "{cuts} cuts of {fired} hits");
        assert!(
            report.read_retries >= cuts as u64,
            "{} retries for {cuts} cuts",
            report.read_retries
        );
        assert_eq!(report.bytes_read, SIZE as u64);
        assert_copied(&s, "big.bin", &sha, SIZE).await;
    })
    .await;
}

#[tokio::test]
async fn a_body_cut_on_every_attempt_fails_naming_key_and_offset() {
    within(async {
        let s = Stack::new("cut-always").await;
        let (etag, _) = put_sized(&s, "doomed.bin", 12, SIZE).await;
        // The first two ranges pass, so a multipart upload exists when a read fails.
        s.proxy.add_rule(
            Rule::new(ranged_gets(), Fault::Delay(Duration::ZERO)).times(Times::First(2)),
        );
        let cut = s.proxy.add_rule(Rule::new(
            ranged_gets(),
            Fault::CutBodyAfter(SHORT_CUT_AFTER),
        ));
        let policy = ReadRetryPolicy {
            max_attempts: 3,
            ..fast_policy()
        };
        let error = copy(&s, "doomed.bin", &etag, SIZE, policy)
            .await
            .expect_err("a body cut on every attempt must fail the copy");
        let message = error_chain(&error);
        assert_eq!(error.error_type(), "S3.GetObjectFailed", "{message}");
        let CopyError::ReadExhausted {
            key,
            offset,
            attempts,
            ..
        } = &error
        else {
            panic!("expected ReadExhausted, got {message}");
        };
        assert_eq!((key.as_str(), *attempts), ("doomed.bin", 3));
        // Each attempt brings at most the cut (bytes in flight die with the reset).
        assert!(*offset >= 2 * MIN_PART_SIZE, "{message}");
        assert!(offset % MIN_PART_SIZE <= 3 * SHORT_CUT_AFTER, "{message}");
        assert!(
            message.contains("doomed.bin") && message.contains(&format!("from byte {offset}")),
            "{message}"
        );
        assert!(s.proxy.hits(cut) >= 3);
        assert_eq!(s.open_uploads().await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_throttled_body_is_left_for_a_new_get() {
    within(async {
        let s = Stack::new("throttled").await;
        let (etag, sha) = put_sized(&s, "slow.bin", 13, SIZE).await;
        let throttle = s.proxy.add_rule(
            Rule::new(
                ranged_gets(),
                Fault::Throttle {
                    bytes_per_sec: 256 * 1024,
                },
            )
            .times(Times::First(1)),
        );
        let policy = ReadRetryPolicy {
            min_throughput: MIB,
            throughput_window: Duration::from_secs(1),
            ..fast_policy()
        };
        let report = copy(&s, "slow.bin", &etag, SIZE, policy)
            .await
            .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)));
        assert_eq!(s.proxy.hits(throttle), 1);
        assert!(
            report.read_retries >= 1,
            "the throttled read was not resumed"
        );
        assert_copied(&s, "slow.bin", &sha, SIZE).await;
    })
    .await;
}

#[tokio::test]
async fn a_resume_refused_with_412_is_superseded_at_once() {
    within(async {
        let s = Stack::new("resume-412").await;
        let (etag, _) = put_sized(&s, "changed.bin", 14, SIZE).await;
        s.proxy
            .add_rule(Rule::new(ranged_gets(), Fault::CutBodyAfter(MIB)).times(Times::First(1)));
        let refused = s.proxy.add_rule(Rule::new(
            ranged_gets(),
            Fault::s3_error(
                http::StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ),
        ));
        let error = copy(&s, "changed.bin", &etag, SIZE, fast_policy())
            .await
            .expect_err("a source changed mid-copy must fail the copy");
        assert!(
            matches!(error, CopyError::Superseded { .. }),
            "{}",
            error_chain(&error)
        );
        // Each reader meets the 412 once: it is never retried.
        let refusals = s.proxy.hits(refused);
        assert!((1..=3).contains(&refusals), "{refusals} refused GETs");
        assert_eq!(s.open_uploads().await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_wrong_content_range_fails_the_copy() {
    within(async {
        let s = Stack::new("wrong-range").await;
        let (etag, _) = put_sized(&s, "odd.bin", 15, SIZE).await;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_RANGE,
            http::HeaderValue::from_static("bytes 0-9/25165824"),
        );
        s.proxy.add_rule(
            Rule::new(
                ranged_gets(),
                Fault::Respond {
                    status: http::StatusCode::PARTIAL_CONTENT,
                    headers,
                    body: bytes::Bytes::from_static(b"0123456789"),
                },
            )
            .times(Times::First(1)),
        );
        let error = copy(&s, "odd.bin", &etag, SIZE, fast_policy())
            .await
            .expect_err("a wrong content-range must fail the copy");
        let message = error_chain(&error);
        assert!(matches!(error, CopyError::WrongRange { .. }), "{message}");
        assert!(message.contains("bytes 0-9/25165824"), "{message}");
        assert_eq!(s.open_uploads().await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_cut_whole_object_read_resumes_with_a_range() {
    within(async {
        let s = Stack::new("whole-cut").await;
        let size = 4 * MIB as usize;
        let (etag, sha) = put_sized(&s, "small.bin", 16, size).await;
        let cut = s.proxy.add_rule(
            Rule::new(Matcher::s3(S3Op::GetObject), Fault::CutBodyAfter(MIB))
                .times(Times::First(1)),
        );
        let report = copy(&s, "small.bin", &etag, size, fast_policy())
            .await
            .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)));
        assert_eq!(s.proxy.hits(cut), 1);
        assert_eq!(report.read_retries, 1);
        assert_eq!(report.parts, 1);
        assert_copied(&s, "small.bin", &sha, size).await;
    })
    .await;
}

#[tokio::test]
async fn a_throttled_part_upload_is_sent_again_from_a_new_read() {
    within(async {
        let s = Stack::new("upload-throttled").await;
        let (etag, sha) = put_sized(&s, "throttled.bin", 17, SIZE).await;
        // A streamed part's body cannot be replayed by the SDK: the copy
        // itself reads the range again and re-sends the part.
        let throttle = s.proxy.add_rule(
            Rule::new(
                Matcher::s3(S3Op::UploadPart),
                Fault::s3_error(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "reduce your rate",
                ),
            )
            .times(Times::First(2)),
        );
        let report = copy(&s, "throttled.bin", &etag, SIZE, fast_policy())
            .await
            .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)));
        assert_eq!(s.proxy.hits(throttle), 2);
        assert_eq!(report.upload_retries, 2, "{report:?}");
        assert_eq!(report.parts, 5);
        assert_eq!(
            report.bytes_read, SIZE as u64,
            "re-reads are not counted twice"
        );
        assert_copied(&s, "throttled.bin", &sha, SIZE).await;
    })
    .await;
}
