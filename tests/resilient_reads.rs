//! Source reads survive cut, short and throttled bodies: resumed from the next
//! unread byte, counted in the report, never silently truncated (moto behind
//! the fault proxy).

mod common;

use aws_sdk_s3::Client;
use s3_stream_lambda::copy::part_size::{MIB, MIN_PART_SIZE};
use s3_stream_lambda::copy::{
    CopyError, CopyProgress, CopyReport, CopySettings, Destination, ReadRetryPolicy, SourceSpec,
    copy_object,
};
use s3_stream_lambda::runtime::error_chain;
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Outcome, Rule, S3Op, Times};
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
        ..CopySettings::default()
    }
}

/// Ranged GETs of the source (every read of a multi-range copy, resumes included).
fn ranged_gets() -> Matcher {
    Matcher::s3(S3Op::GetObject).header("range")
}

struct Setup {
    proxy: FaultProxy,
    direct: Client,
    through_proxy: Client,
    source: String,
    destination: String,
}

async fn setup(test: &str) -> Setup {
    let direct = common::client().await;
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start fault proxy");
    let through_proxy = common::client_for(&proxy.endpoint()).await;
    let source = common::create_bucket(&direct, &format!("{test}-src")).await;
    let destination = common::create_bucket(&direct, &format!("{test}-dst")).await;
    Setup {
        proxy,
        direct,
        through_proxy,
        source,
        destination,
    }
}

impl Setup {
    /// Puts `SIZE` deterministic bytes at `key`; returns their eTag and SHA-256.
    async fn put(&self, key: &str, seed: u64) -> (String, String) {
        let data = common::bytes_of(SIZE, seed);
        let sha = common::sha256(&data);
        let etag = common::put(&self.direct, &self.source, key, data).await;
        (etag, sha)
    }

    /// Copies `key` through the proxy with identity.
    async fn copy(
        &self,
        key: &str,
        etag: &str,
        read_retry: ReadRetryPolicy,
    ) -> Result<CopyReport, CopyError> {
        let spec = SourceSpec {
            bucket: self.source.clone(),
            key: key.to_owned(),
            version_id: None,
            etag: Some(etag.trim_matches('"').to_owned()),
            size: Some(SIZE as u64),
        };
        let destination = Destination {
            bucket: self.destination.clone(),
            key: key.to_owned(),
        };
        copy_object(
            &self.through_proxy,
            spec,
            &destination,
            Box::new(Identity),
            &settings(read_retry),
            &CancellationToken::new(),
            &CopyProgress::default(),
        )
        .await
    }

    /// The destination's bytes match `sha` and nothing is left half-uploaded.
    async fn assert_copied(&self, key: &str, sha: &str) {
        let copied = common::get(&self.direct, &self.destination, key).await;
        assert_eq!(copied.len(), SIZE, "{key}: length");
        assert_eq!(common::sha256(&copied), sha, "{key}: sha-256");
        assert_eq!(self.incomplete().await, 0);
    }

    async fn incomplete(&self) -> usize {
        common::incomplete_uploads(&self.direct, &self.destination).await
    }
}

async fn within<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn cut_bodies_are_resumed_and_counted() {
    within(async {
        let s = setup("cut-resumed").await;
        let (etag, sha) = s.put("big.bin", 11).await;
        let cut = s.proxy.add_rule(
            Rule::new(ranged_gets(), Fault::CutBodyAfter(CUT_AFTER)).times(Times::EveryNth(2)),
        );
        let report = s
            .copy("big.bin", &etag, fast_policy())
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
        s.assert_copied("big.bin", &sha).await;
    })
    .await;
}

#[tokio::test]
async fn a_body_cut_on_every_attempt_fails_naming_key_and_offset() {
    within(async {
        let s = setup("cut-always").await;
        let (etag, _) = s.put("doomed.bin", 12).await;
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
        let error = s
            .copy("doomed.bin", &etag, policy)
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
        assert_eq!(s.incomplete().await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_throttled_body_is_left_for_a_new_get() {
    within(async {
        let s = setup("throttled").await;
        let (etag, sha) = s.put("slow.bin", 13).await;
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
        let report = s
            .copy("slow.bin", &etag, policy)
            .await
            .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)));
        assert_eq!(s.proxy.hits(throttle), 1);
        assert!(
            report.read_retries >= 1,
            "the throttled read was not resumed"
        );
        s.assert_copied("slow.bin", &sha).await;
    })
    .await;
}
