//! Newest wins: a late event for an older version never overwrites the copy
//! of a newer one, even when the two copies overlap. Real moto (which honours
//! `If-None-Match: *` on PutObject and CompleteMultipartUpload), the fault
//! proxy in front to make the copies overlap.

use crate::common::{self, Stack};
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::upload::condition::META_SOURCE_SEQUENCER;
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyOutcome, CopyProgress, CopyReport, CopySettings, SourceSpec,
    copy_object,
};
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// The older version: two 5 MiB parts' worth, so it completes a multipart upload.
const V1_SIZE: usize = 2 * MIN_PART_SIZE as usize - 10;
/// The newer version: three parts.
const V2_SIZE: usize = 3 * MIN_PART_SIZE as usize - 10;

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Where every copy of these tests goes, in the destination bucket.
const COPY: &str = "copy";

/// v1 then v2 of one key, as their events announce them.
struct Versions {
    v1: SourceSpec,
    v2: SourceSpec,
    v2_size: usize,
}

/// A stack whose versioned source holds v1 then v2 of one key (multipart sizes).
async fn setup(test: &str) -> (Stack, Versions) {
    setup_sized(test, V1_SIZE, V2_SIZE).await
}

/// [`setup`] with versions of these sizes.
async fn setup_sized(test: &str, v1_size: usize, v2_size: usize) -> (Stack, Versions) {
    let s = Stack::new(test).await;
    common::enable_versioning(&s.client, &s.source).await;
    let mut specs = Vec::new();
    for (size, seed, sequencer) in [(v1_size, 1, "0000000001"), (v2_size, 2, "0000000002")] {
        let put = s
            .put_request("object")
            .body(common::bytes_of(size, seed).into())
            .send()
            .await
            .expect("put a version");
        specs.push(SourceSpec {
            bucket: s.source.clone(),
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
    (s, Versions { v1, v2, v2_size })
}

/// The copy of `source` to [`COPY`] through the proxy, as a spawned task.
fn spawn_copy(
    s: &Stack,
    source: &SourceSpec,
) -> tokio::task::JoinHandle<Result<CopyReport, CopyError>> {
    let client = s.proxied.clone();
    let source = source.clone();
    let destination = s.destination_object(COPY);
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

/// The report of a copy that ends, does not panic and does not fail.
async fn report(copy: tokio::task::JoinHandle<Result<CopyReport, CopyError>>) -> CopyReport {
    let joined = timeout(PATIENCE, copy).await.expect("the copy ends");
    joined
        .expect("the copy does not panic")
        .unwrap_or_else(|e| {
            panic!(
                "copy failed: {}",
                s3_stream_lambda::runtime::error_chain(&e)
            )
        })
}

/// Copies `source` to [`COPY`] and waits for its report.
async fn copy(s: &Stack, source: &SourceSpec) -> CopyReport {
    report(spawn_copy(s, source)).await
}

/// Copies `first` and, once its `op` reached the proxy (the test holds it
/// there), `second`; returns their reports, `first`'s first.
async fn overlap(
    s: &Stack,
    first: &SourceSpec,
    op: S3Op,
    second: &SourceSpec,
) -> (CopyReport, CopyReport) {
    let first = spawn_copy(s, first);
    s.wait_for(op, 1, PATIENCE).await;
    let second = copy(s, second).await;
    (report(first).await, second)
}

/// The statuses the proxy saw S3 (or itself) answer to `op`.
fn answered(s: &Stack, op: S3Op) -> Vec<u16> {
    s.proxy
        .log()
        .iter()
        .filter(|e| e.op == op)
        .filter_map(|e| e.status.map(|status| status.as_u16()))
        .collect()
}

/// The destination holds v2, records its sequencer, and no upload is open.
async fn assert_destination_is_v2(s: &Stack, versions: &Versions) {
    let copied = s.get(COPY).await;
    assert_eq!(copied.len(), versions.v2_size, "the destination holds v2");
    assert_eq!(
        common::sha256(&copied),
        common::sha256(&common::bytes_of(versions.v2_size, 2))
    );
    let head = s.head(COPY).await;
    assert_eq!(
        head.metadata()
            .and_then(|metadata| metadata.get(META_SOURCE_SEQUENCER))
            .map(String::as_str),
        Some("0000000002")
    );
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_late_event_for_an_older_version_is_superseded() {
    let (s, versions) = setup("newest-late").await;
    let v2 = copy(&s, &versions.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    let v1 = copy(&s, &versions.v1).await;
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    assert_eq!(v1.bytes_written, 0);
    assert_destination_is_v2(&s, &versions).await;
}

#[tokio::test]
async fn an_older_copy_overlapping_a_held_newer_completion_is_superseded() {
    let (s, versions) = setup("newest-held").await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::HoldResponse(Duration::from_secs(3)),
        )
        .times(Times::First(1)),
    );
    let (v2, v1) = overlap(
        &s,
        &versions.v2,
        S3Op::CompleteMultipartUpload,
        &versions.v1,
    )
    .await;
    assert_eq!(v1.outcome, CopyOutcome::Superseded);
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    assert_destination_is_v2(&s, &versions).await;
}

/// v1 looks at the destination (absent) and reaches its write first; that
/// write is delayed until v2 has landed, so only the conditional write
/// (`If-None-Match: *`, answered 412 by moto) keeps v1 from overwriting v2.
/// Rows: v1's write is its multipart completion, or its single PutObject.
#[tokio::test]
async fn an_older_write_landing_after_a_newer_one_fails_its_condition() {
    // (row, v1's size, v2's size, v1's write, how long it is delayed, v2's parts)
    let cases = [
        (
            "completion",
            V1_SIZE,
            V2_SIZE,
            S3Op::CompleteMultipartUpload,
            Duration::from_secs(8),
            3,
        ),
        (
            "put",
            1_000,
            2_000,
            S3Op::PutObject,
            Duration::from_secs(5),
            1,
        ),
    ];
    for (row, v1_size, v2_size, write, delay, parts) in cases {
        eprintln!("row {row}");
        let (s, versions) = setup_sized(&format!("newest-race-{row}"), v1_size, v2_size).await;
        s.proxy
            .add_rule(Rule::new(Matcher::s3(write), Fault::Delay(delay)).times(Times::First(1)));
        let (v1, v2) = overlap(&s, &versions.v1, write, &versions.v2).await;
        assert_eq!(v2.outcome, CopyOutcome::Copied, "{row}");
        assert_eq!(v2.parts, parts, "{row}");
        assert_eq!(
            v1.outcome,
            CopyOutcome::Superseded,
            "{row}: v1 ends superseded, not failed"
        );
        let answered = answered(&s, write);
        assert!(
            answered.contains(&412),
            "{row}: v1's write was refused: {answered:?}"
        );
        assert_destination_is_v2(&s, &versions).await;
    }
}

/// moto ignores `If-Match` on CompleteMultipartUpload, so the proxy answers
/// S3's 412 to v2's first (If-Match) completion, as S3 would had another
/// write landed: v2 looks again, still finds v1 older, and completes the
/// upload S3 kept open.
#[tokio::test]
async fn a_refused_completion_over_an_older_copy_is_retried() {
    let (s, versions) = setup("newest-retry").await;
    let v1 = copy(&s, &versions.v1).await;
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
    let v2 = copy(&s, &versions.v2).await;
    assert_eq!(v2.outcome, CopyOutcome::Copied);
    assert_eq!(s.proxy.hits(refused), 1, "v2 completed with If-Match");
    assert_destination_is_v2(&s, &versions).await;
}
