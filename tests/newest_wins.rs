//! Newest wins: a late event for an older version never overwrites the copy
//! of a newer one, even when the two copies overlap. Real moto (which honours
//! `If-None-Match: *` on PutObject and CompleteMultipartUpload), the fault
//! proxy in front to make the copies overlap.

mod common;

use aws_sdk_s3::Client;
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::upload::condition::META_SOURCE_SEQUENCER;
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyOutcome, CopyProgress, CopyReport, CopySettings, Destination,
    SourceSpec, copy_object,
};
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// The older version: two 5 MiB parts' worth, so it completes a multipart upload.
const V1_SIZE: usize = 2 * MIN_PART_SIZE as usize - 10;
/// The newer version: three parts.
const V2_SIZE: usize = 3 * MIN_PART_SIZE as usize - 10;

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

struct Setup {
    direct: Client,
    proxied: Client,
    proxy: FaultProxy,
    v1: SourceSpec,
    v2: SourceSpec,
    v2_size: usize,
    destination: Destination,
}

/// A versioned source with v1 then v2 of one key (multipart sizes), and their events' specs.
async fn setup(test: &str) -> Setup {
    setup_sized(test, V1_SIZE, V2_SIZE).await
}

/// [`setup`] with versions of these sizes.
async fn setup_sized(test: &str, v1_size: usize, v2_size: usize) -> Setup {
    let direct = common::client().await;
    let source = common::create_bucket(&direct, &format!("{test}-src")).await;
    let destination = common::create_bucket(&direct, &format!("{test}-dst")).await;
    common::enable_versioning(&direct, &source).await;
    let mut specs = Vec::new();
    for (size, seed, sequencer) in [(v1_size, 1, "0000000001"), (v2_size, 2, "0000000002")] {
        let put = direct
            .put_object()
            .bucket(&source)
            .key("object")
            .body(common::bytes_of(size, seed).into())
            .send()
            .await
            .expect("put a version");
        specs.push(SourceSpec {
            bucket: source.clone(),
            key: "object".into(),
            version_id: put.version_id().map(str::to_owned),
            etag: put.e_tag().map(|etag| etag.trim_matches('"').to_owned()),
            size: Some(size as u64),
            sequencer: Some(sequencer.into()),
        });
    }
    assert!(specs[0].version_id.is_some(), "moto versions the source");
    let v2 = specs.pop().expect("v2");
    let v1 = specs.pop().expect("v1");
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start the fault proxy");
    let proxied = common::client_for(&proxy.endpoint()).await;
    Setup {
        direct,
        proxied,
        proxy,
        v1,
        v2,
        v2_size,
        destination: Destination {
            bucket: destination,
            key: "copy".into(),
        },
    }
}

impl Setup {
    fn spawn_copy(
        &self,
        source: &SourceSpec,
    ) -> tokio::task::JoinHandle<Result<CopyReport, CopyError>> {
        let client = self.proxied.clone();
        let source = source.clone();
        let destination = self.destination.clone();
        tokio::spawn(async move {
            let settings = CopySettings {
                part_size: MIN_PART_SIZE,
                // Streams: these tests are of the streaming path.
                mode: CopyMode::Stream,
                ..CopySettings::default()
            };
            copy_object(
                &client,
                source,
                &destination,
                Box::new(Identity),
                &settings,
                &CancellationToken::new(),
                &CopyProgress::default(),
            )
            .await
        })
    }

    async fn copy(&self, source: &SourceSpec) -> CopyReport {
        let joined = timeout(PATIENCE, self.spawn_copy(source))
            .await
            .expect("the copy ends");
        joined
            .expect("the copy does not panic")
            .unwrap_or_else(|e| {
                panic!(
                    "copy failed: {}",
                    s3_stream_lambda::runtime::error_chain(&e)
                )
            })
    }

    /// Waits until the proxy has seen `count` requests of `op`.
    async fn wait_for(&self, op: S3Op, count: usize) {
        let seen = timeout(PATIENCE, async {
            while self.proxy.log().iter().filter(|e| e.op == op).count() < count {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "no {op:?} reached the proxy");
    }

    /// The destination holds v2, records its sequencer, and no upload is open.
    async fn assert_destination_is_v2(&self) {
        let copied = common::get(
            &self.direct,
            &self.destination.bucket,
            &self.destination.key,
        )
        .await;
        assert_eq!(copied.len(), self.v2_size, "the destination holds v2");
        assert_eq!(
            common::sha256(&copied),
            common::sha256(&common::bytes_of(self.v2_size, 2))
        );
        let head = common::head(
            &self.direct,
            &self.destination.bucket,
            &self.destination.key,
        )
        .await;
        assert_eq!(
            head.metadata()
                .and_then(|metadata| metadata.get(META_SOURCE_SEQUENCER))
                .map(String::as_str),
            Some("0000000002")
        );
        assert_eq!(
            common::incomplete_uploads(&self.direct, &self.destination.bucket).await,
            0
        );
    }
}

#[tokio::test]
async fn a_late_event_for_an_older_version_is_superseded() {
    let s = setup("newest-late").await;
    let v2 = s.copy(&s.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    let v1 = s.copy(&s.v1).await;
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    assert_eq!(v1.bytes_written, 0);
    s.assert_destination_is_v2().await;
}

#[tokio::test]
async fn an_older_copy_overlapping_a_held_newer_completion_is_superseded() {
    let s = setup("newest-held").await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::HoldResponse(Duration::from_secs(3)),
        )
        .times(Times::First(1)),
    );
    let v2 = s.spawn_copy(&s.v2);
    s.wait_for(S3Op::CompleteMultipartUpload, 1).await;
    let v1 = s.copy(&s.v1).await;
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    let v2 = timeout(PATIENCE, v2)
        .await
        .expect("v2 ends")
        .expect("v2 does not panic")
        .expect("v2 is copied");
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    s.assert_destination_is_v2().await;
}

/// v1 looks at the destination (absent) and reaches its completion first;
/// that completion is delayed until v2 has landed, so only the conditional
/// write (`If-None-Match: *`, answered 412) keeps v1 from overwriting v2.
#[tokio::test]
async fn an_older_completion_landing_after_a_newer_one_fails_its_condition() {
    let s = setup("newest-race").await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::Delay(Duration::from_secs(8)),
        )
        .times(Times::First(1)),
    );
    let v1 = s.spawn_copy(&s.v1);
    s.wait_for(S3Op::CompleteMultipartUpload, 1).await;
    let v2 = s.copy(&s.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    let v1 = timeout(PATIENCE, v1)
        .await
        .expect("v1 ends")
        .expect("v1 does not panic")
        .expect("v1 ends superseded, not failed");
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    let answered = s
        .proxy
        .log()
        .iter()
        .filter(|e| e.op == S3Op::CompleteMultipartUpload)
        .filter_map(|e| e.status.map(|status| status.as_u16()))
        .collect::<Vec<_>>();
    assert!(
        answered.contains(&412),
        "v1's completion was refused: {answered:?}"
    );
    s.assert_destination_is_v2().await;
}

/// moto ignores `If-Match` on CompleteMultipartUpload, so the proxy answers
/// S3's 412 to v2's first (If-Match) completion, as S3 would had another
/// write landed: v2 looks again, still finds v1 older, and completes the
/// upload S3 kept open.
#[tokio::test]
async fn a_refused_completion_over_an_older_copy_is_retried() {
    let s = setup("newest-retry").await;
    let v1 = s.copy(&s.v1).await;
    assert_eq!(v1.outcome, CopyOutcome::Copied);
    let refused = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload).header("if-match"),
            Fault::s3_error(
                http::StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ),
        )
        .times(Times::First(1)),
    );
    let v2 = s.copy(&s.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    assert_eq!(s.proxy.hits(refused), 1, "v2 completed with If-Match");
    s.assert_destination_is_v2().await;
}

/// The single-PutObject path: v1's PUT is delayed until v2's has landed, so
/// only its `If-None-Match: *` (answered 412 by moto) keeps v2 in place.
#[tokio::test]
async fn an_older_put_landing_after_a_newer_one_fails_its_condition() {
    let s = setup_sized("newest-put", 1_000, 2_000).await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::PutObject),
            Fault::Delay(Duration::from_secs(5)),
        )
        .times(Times::First(1)),
    );
    let v1 = s.spawn_copy(&s.v1);
    s.wait_for(S3Op::PutObject, 1).await;
    let v2 = s.copy(&s.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    assert_eq!(v2.parts, 1);
    let v1 = timeout(PATIENCE, v1)
        .await
        .expect("v1 ends")
        .expect("v1 does not panic")
        .expect("v1 ends superseded, not failed");
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    let answered = s
        .proxy
        .log()
        .iter()
        .filter(|e| e.op == S3Op::PutObject)
        .filter_map(|e| e.status.map(|status| status.as_u16()))
        .collect::<Vec<_>>();
    assert!(
        answered.contains(&412),
        "v1's PUT was refused: {answered:?}"
    );
    s.assert_destination_is_v2().await;
}
