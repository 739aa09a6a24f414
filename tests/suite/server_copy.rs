//! Server-side identity copies on moto: CopyObject and UploadPartCopy keep bytes, metadata,
//! content headers and tags; a changed source, a refusal, throttling and an error inside a 200
//! behave as S3 answers them (the fault proxy produces the answers moto does not give).

use crate::common::{self, Described, Stack};
use aws_sdk_s3::primitives::ByteStream;
use http::StatusCode;
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::{
    Clients, CopyError, CopyMethod, CopyMode, CopyOutcome, CopyProgress, CopyReport, CopySettings,
    ServerCopySettings, SourceSpec, copy_object,
};
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Rule, S3Op, Times};
use tokio_util::sync::CancellationToken;

/// The part copy size of these tests, and so the single-`CopyObject` threshold.
const PART: usize = MIN_PART_SIZE as usize;

fn settings(mode: CopyMode) -> CopySettings {
    CopySettings {
        part_size: MIN_PART_SIZE,
        mode,
        server: ServerCopySettings {
            part_size: MIN_PART_SIZE,
            concurrency: 4,
        },
        ..CopySettings::default()
    }
}

/// The content headers and user metadata of every [`put_described`] source.
const DESCRIBED: Described = Described {
    content_type: "text/csv",
    content_disposition: "attachment; filename=\"report.csv\"",
    cache_control: "max-age=60",
    content_language: "en",
    owner: "team-a",
};

/// Puts `key` in `s`'s source bucket with [`DESCRIBED`] content headers and
/// user metadata and two tags; returns its ETag.
async fn put_described(s: &Stack, key: &str, data: Vec<u8>) -> String {
    common::send_put(
        DESCRIBED
            .put(s.put_request(key))
            .tagging("class=gold&team=a%20b")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc64Nvme)
            .body(ByteStream::from(data)),
    )
    .await
}

/// `key` as an event announces it: pinned to `etag`, with a sequencer,
/// so newest wins is on.
fn announced(s: &Stack, key: &str, etag: &str) -> SourceSpec {
    SourceSpec {
        sequencer: Some("0000000001".into()),
        ..s.source_spec(key, etag)
    }
}

/// Copies `key` at `etag` through the proxy to the same key.
async fn copy(s: &Stack, key: &str, etag: &str, mode: CopyMode) -> Result<CopyReport, CopyError> {
    copy_from(
        s,
        &s.proxied,
        s.source_spec(key, etag),
        mode,
        &CancellationToken::new(),
    )
    .await
}

/// Copies `source` to the same key in the destination bucket.
async fn copy_from(
    s: &Stack,
    clients: impl Into<Clients>,
    source: SourceSpec,
    mode: CopyMode,
    cancel: &CancellationToken,
) -> Result<CopyReport, CopyError> {
    let destination = s.destination_object(&source.key);
    copy_object(
        clients,
        source,
        &destination,
        Box::new(Identity),
        &settings(mode),
        cancel,
        &CopyProgress::default(),
    )
    .await
}

/// The destination's bytes, content headers, user metadata and tags are the source's.
async fn assert_same_object(s: &Stack, key: &str, data: &[u8]) {
    let copied = s.get(key).await;
    assert_eq!(copied.len(), data.len(), "{key}: size");
    assert_eq!(
        common::sha256(&copied),
        common::sha256(data),
        "{key}: bytes"
    );
    DESCRIBED.assert_on(&s.head(key).await, key);
    let tags = s
        .client
        .get_object_tagging()
        .bucket(&s.destination)
        .key(key)
        .send()
        .await
        .expect("get the copy's tags");
    let mut tags: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            ("class".to_owned(), "gold".to_owned()),
            ("team".to_owned(), "a b".to_owned())
        ],
        "{key}: tags"
    );
}

#[tokio::test]
async fn identity_copies_of_every_size_arrive_whole_with_metadata_and_tags() {
    let s = Stack::new("server-sizes").await;
    let cases = [
        ("empty", 0, 1),
        ("one-byte", 1, 1),
        ("at-threshold", PART, 1),
        ("above-threshold", PART + 1, 2),
        ("three-parts", 2 * PART + 1_000, 3),
    ];
    for (key, size, parts) in cases {
        let data = common::bytes_of(size, size as u64);
        let etag = put_described(&s, key, data.clone()).await;
        let report = copy(&s, key, &etag, CopyMode::Server)
            .await
            .unwrap_or_else(|e| panic!("{key}: {}", s3_stream_lambda::runtime::error_chain(&e)));
        assert_eq!(report.outcome, CopyOutcome::Copied, "{key}");
        assert_eq!(report.method, CopyMethod::Server, "{key}");
        assert_eq!(report.parts, parts, "{key}");
        assert_eq!(report.bytes_through_function, 0, "{key}");
        assert_eq!(report.multipart, parts > 1, "{key}");
        assert!(report.requests >= 2, "{key}: {report:?}");
        assert_eq!(report.verified, "source-crc64nvme", "{key}");
        assert_same_object(&s, key, &data).await;
    }
    assert_eq!(
        s.ops(S3Op::GetObject),
        0,
        "no object byte read by the function"
    );
    assert_eq!(s.ops(S3Op::UploadPart), 0);
    assert_eq!(s.ops(S3Op::PutObject), 0);
    assert_eq!(s.ops(S3Op::CopyObject), 3);
    assert_eq!(s.ops(S3Op::UploadPartCopy), 2 + 3);
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_source_changed_mid_copy_is_superseded_and_leaves_no_upload() {
    let s = Stack::new("server-changed").await;
    let data = common::bytes_of(2 * PART + 1, 7);
    let etag = put_described(&s, "object", data).await;
    // What S3 answers a part copy whose x-amz-copy-source-if-match no
    // longer holds (moto ignores the header on part copies).
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy),
            Fault::s3_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ),
        )
        .times(Times::Nth(2)),
    );
    let error = copy(&s, "object", &etag, CopyMode::Server)
        .await
        .expect_err("a changed source is not copied");
    assert!(matches!(error, CopyError::Superseded { .. }), "{error:?}");
    assert_eq!(s.open_uploads().await, 0);
    assert!(s.ops(S3Op::AbortMultipartUpload) >= 1);
}

#[tokio::test]
async fn a_store_without_part_copies_falls_back_to_streaming_in_auto_and_fails_in_server() {
    let s = Stack::new("server-refused").await;
    let data = common::bytes_of(2 * PART + 1, 9);
    let etag = put_described(&s, "object", data.clone()).await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPartCopy),
        Fault::s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        ),
    ));

    let error = copy(&s, "object", &etag, CopyMode::Server)
        .await
        .expect_err("server mode does not stream");
    assert!(
        matches!(error, CopyError::ServerCopyRefused { .. }),
        "{error:?}"
    );
    let message = s3_stream_lambda::runtime::error_chain(&error);
    assert!(message.contains("NotImplemented"), "{message}");
    assert_eq!(error.error_type(), "S3.CopyRefused");
    assert_eq!(s.open_uploads().await, 0);

    let report = copy(&s, "object", &etag, CopyMode::Auto)
        .await
        .expect("auto streams instead");
    assert_eq!(report.method, CopyMethod::Stream);
    let fallback = report.fallback.as_deref().unwrap_or("");
    assert!(fallback.contains("NotImplemented"), "{fallback:?}");
    assert_eq!(report.bytes_through_function, 2 * data.len() as u64);
    let copied = s.get("object").await;
    assert_eq!(common::sha256(&copied), common::sha256(&data));
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn refusals_streaming_cannot_overcome_fail_without_falling_back() {
    let s = Stack::new("server-denied").await;
    let etag = put_described(&s, "object", common::bytes_of(100, 1)).await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CopyObject),
        Fault::s3_error(StatusCode::FORBIDDEN, "InvalidObjectState", "archived"),
    ));
    let error = copy(&s, "object", &etag, CopyMode::Auto)
        .await
        .expect_err("an archived source is refused for streaming too");
    assert!(
        matches!(error, CopyError::SourceArchived { .. }),
        "{error:?}"
    );
    assert_eq!(error.error_type(), "S3.ObjectArchived");
    assert!(error.class().is_permanent());
    assert_eq!(s.ops(S3Op::GetObject), 0, "no fallback");
}

#[tokio::test]
async fn throttled_part_copies_are_retried_and_an_error_inside_a_200_is_caught() {
    let s = Stack::new("server-throttled").await;
    let data = common::bytes_of(2 * PART + 1, 11);
    let etag = put_described(&s, "object", data.clone()).await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy),
            Fault::s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "reduce your rate",
            ),
        )
        .times(Times::First(2)),
    );
    let report = copy(&s, "object", &etag, CopyMode::Server)
        .await
        .expect("throttled part copies are retried");
    assert_eq!(report.parts, 3);
    assert!(
        report.requests >= 3 + 2 + 3,
        "retries are counted: {report:?}"
    );
    assert_same_object(&s, "object", &data).await;

    s.proxy.clear_rules();
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy),
            Fault::error_200("InternalError", "we encountered an internal error"),
        )
        .times(Times::Always),
    );
    let error = copy(&s, "object", &etag, CopyMode::Server)
        .await
        .expect_err("an error inside a 200 is an error");
    let message = s3_stream_lambda::runtime::error_chain(&error);
    assert!(message.contains("upload part copy"), "{message}");
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_versioned_source_is_copied_at_the_announced_version() {
    let s = Stack::new("server-versioned").await;
    common::enable_versioning(&s.client, &s.source).await;
    let old = common::bytes_of(2 * PART + 5, 1);
    let first = s
        .put_request("object")
        .body(ByteStream::from(old.clone()))
        .send()
        .await
        .expect("put v1");
    s.put("object", common::bytes_of(10, 2)).await;
    let source = SourceSpec {
        version_id: first.version_id().map(str::to_owned),
        ..s.source_spec("object", first.e_tag().unwrap_or("").trim_matches('"'))
    };
    let report = copy_object(
        &s.proxied,
        source,
        &s.destination_object("object"),
        Box::new(Identity),
        &settings(CopyMode::Server),
        &CancellationToken::new(),
        &CopyProgress::default(),
    )
    .await
    .expect("copy v1");
    assert_eq!(
        report.source_version_id,
        first.version_id().map(str::to_owned)
    );
    let copied = s.get("object").await;
    assert_eq!(common::sha256(&copied), common::sha256(&old), "v1's bytes");
}

#[tokio::test]
async fn a_copy_whose_reported_checksum_is_not_the_sources_fails_and_keeps_nothing() {
    let s = Stack::new("server-mismatch").await;
    let single = put_described(&s, "single", common::bytes_of(1_000, 3)).await;
    let parts = put_described(&s, "parts", common::bytes_of(2 * PART + 1, 4)).await;
    // S3 reports each copy's CRC64NVME; these answers report a wrong one.
    let wrong = "AAAAAAAAAAE=";
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CopyObject),
        Fault::ok_xml(&format!(
            "<CopyObjectResult><ETag>\"0123\"</ETag><ChecksumCRC64NVME>{wrong}</ChecksumCRC64NVME></CopyObjectResult>"
        )),
    ));
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPartCopy),
        Fault::ok_xml(&format!(
            "<CopyPartResult><ETag>\"0123\"</ETag><ChecksumCRC64NVME>{wrong}</ChecksumCRC64NVME></CopyPartResult>"
        )),
    ));
    let error = copy(&s, "single", &single, CopyMode::Server)
        .await
        .expect_err("a wrong checksum fails the copy");
    assert!(
        matches!(error, CopyError::CopiedChecksumMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(error.error_type(), "Copy.ChecksumMismatch");
    assert!(s.ops(S3Op::DeleteObject) >= 1, "the copy is deleted again");

    let error = copy(&s, "parts", &parts, CopyMode::Server)
        .await
        .expect_err("a wrong part checksum fails the copy");
    assert!(
        matches!(error, CopyError::ChecksumMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(s.ops(S3Op::CompleteMultipartUpload), 0, "nothing completed");
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_cancelled_part_copy_is_aborted_before_the_copy_returns() {
    let s = Stack::new("server-cancel").await;
    let etag = put_described(&s, "object", common::bytes_of(2 * PART + 1, 5)).await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPartCopy),
        Fault::HoldResponse(std::time::Duration::from_secs(60)),
    ));
    let cancel = CancellationToken::new();
    let timer = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        timer.cancel();
    });
    let copied = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        copy_from(
            &s,
            &s.proxied,
            s.source_spec("object", &etag),
            CopyMode::Server,
            &cancel,
        ),
    )
    .await
    .expect("the copy returns soon after its cancellation");
    let error = copied.expect_err("a cancelled copy fails");
    assert!(matches!(error, CopyError::Cancelled { .. }), "{error:?}");
    // The abort finished before the copy returned: nothing to wait for.
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_failed_part_copy_lets_the_copies_in_flight_end_before_the_abort() {
    let s = Stack::new("server-settle").await;
    let etag = put_described(&s, "object", common::bytes_of(3 * PART + 1, 10)).await;
    // Part 2 finds the source changed; the other part copies are done by
    // moto but answered only after a while: S3 goes on copying a part whose
    // request was dropped, and such a part may outlive the abort.
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy),
            Fault::s3_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", ""),
        )
        .times(Times::Nth(2)),
    );
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy),
            Fault::HoldResponse(std::time::Duration::from_millis(700)),
        )
        .times(Times::Always),
    );
    let error = copy(&s, "object", &etag, CopyMode::Server)
        .await
        .expect_err("a changed source is not copied");
    assert!(matches!(error, CopyError::Superseded { .. }), "{error:?}");
    let log = s.proxy.log();
    let abort = log
        .iter()
        .find(|e| e.op == S3Op::AbortMultipartUpload)
        .expect("the upload was aborted");
    let held: Vec<_> = log
        .iter()
        .filter(|e| {
            e.op == S3Op::UploadPartCopy && e.status != Some(StatusCode::PRECONDITION_FAILED)
        })
        .collect();
    assert_eq!(held.len(), 3, "{log:#?}");
    for part in held {
        // A dropped request leaves no status: the proxy never answered it.
        assert_eq!(part.status, Some(StatusCode::OK), "{log:#?}");
        let answered = part.responded_at.expect("every part copy was answered");
        assert!(
            answered <= abort.arrived_at,
            "a part copy was still running when the abort was sent"
        );
    }
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_changed_source_is_checked_with_the_sources_own_client() {
    let s = Stack::new("server-source-region").await;
    let etag = put_described(&s, "object", common::bytes_of(1_000, 8)).await;
    // The source's region: its second HeadObject (after the copy's 412) finds
    // the source changed.
    let source_proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start the source's fault proxy");
    source_proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::HeadObject),
            Fault::s3_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", ""),
        )
        .times(Times::Nth(2)),
    );
    let source_client = common::client_for(&source_proxy.endpoint()).await;
    // The destination's region: the CopyObject fails a condition (the source's
    // or the destination's), and the source bucket is not served here.
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CopyObject),
            Fault::s3_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ),
        )
        .times(Times::Always),
    );
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::HeadObject).path_contains(s.source.clone()),
            Fault::wrong_region("eu-west-1"),
        )
        .times(Times::Always),
    );
    let clients = Clients {
        source: source_client,
        destination: s.proxied.clone(),
    };
    let error = copy_from(
        &s,
        clients,
        announced(&s, "object", &etag),
        CopyMode::Server,
        &CancellationToken::new(),
    )
    .await
    .expect_err("a changed source is not copied");
    assert!(matches!(error, CopyError::Superseded { .. }), "{error:?}");
    assert_eq!(
        source_proxy
            .log()
            .iter()
            .filter(|e| e.op == S3Op::HeadObject)
            .count(),
        2,
        "the source was read in its own region, twice"
    );
}

#[tokio::test]
async fn a_cancel_while_newest_wins_decides_again_aborts_at_once() {
    let s = Stack::new("server-decide-cancel").await;
    let etag = put_described(&s, "object", common::bytes_of(2 * PART + 1, 9)).await;
    // The completion fails its condition, so the destination is read again;
    // that read's answer is held far beyond the test.
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::s3_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", ""),
        )
        .times(Times::Always),
    );
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::HeadObject).path_contains(s.destination.clone()),
            Fault::HoldResponse(std::time::Duration::from_secs(60)),
        )
        .times(Times::Nth(2)),
    );
    let cancel = CancellationToken::new();
    let destination_heads = || {
        s.proxy
            .log()
            .iter()
            .filter(|e| e.op == S3Op::HeadObject && e.path.contains(&s.destination))
            .count()
    };
    let cancel_at_the_second_read = async {
        while destination_heads() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        cancel.cancel();
        std::time::Instant::now()
    };
    let copying = copy_from(
        &s,
        &s.proxied,
        announced(&s, "object", &etag),
        CopyMode::Server,
        &cancel,
    );
    let (copied, cancelled_at) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::join!(copying, cancel_at_the_second_read)
    })
    .await
    .expect("the destination is read again and the copy ends");
    assert!(
        cancelled_at.elapsed() < std::time::Duration::from_secs(5),
        "the copy returned {:?} after its cancellation",
        cancelled_at.elapsed()
    );
    let error = copied.expect_err("a cancelled copy fails");
    assert!(matches!(error, CopyError::Cancelled { .. }), "{error:?}");
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_conflict_at_completion_is_transient_and_never_completes_the_same_upload_again() {
    let s = Stack::new("server-conflict").await;
    let etag = put_described(&s, "object", common::bytes_of(2 * PART + 1, 6)).await;
    // S3's answer when a conflicting write raced the completion: the upload
    // must be started again, not completed again.
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::s3_error(
                StatusCode::CONFLICT,
                "ConditionalRequestConflict",
                "A conflicting conditional operation is currently in progress against this resource.",
            ),
        )
        .times(Times::Always),
    );
    // An event's sequencer: newest wins is on, so a write conflict would be
    // decided again and retried.
    let error = copy_from(
        &s,
        &s.proxied,
        announced(&s, "object", &etag),
        CopyMode::Server,
        &CancellationToken::new(),
    )
    .await
    .expect_err("a conflicted completion fails the copy");
    assert_eq!(error.error_type(), "S3.UploadFailed", "{error:?}");
    assert!(!error.class().is_permanent(), "retryable: {error:?}");
    assert_eq!(s.ops(S3Op::CompleteMultipartUpload), 1);
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn streamed_copies_carry_metadata_and_tags_too() {
    let s = Stack::new("stream-carry").await;
    for (key, size, parts) in [("one-put", 1_000, 1), ("piped", 2 * PART + 1, 3)] {
        let data = common::bytes_of(size, size as u64);
        let etag = put_described(&s, key, data.clone()).await;
        let report = copy(&s, key, &etag, CopyMode::Stream)
            .await
            .unwrap_or_else(|e| panic!("{key}: {}", s3_stream_lambda::runtime::error_chain(&e)));
        assert_eq!(report.method, CopyMethod::Stream, "{key}");
        assert_eq!(report.parts, parts, "{key}");
        assert_same_object(&s, key, &data).await;
    }
    assert_eq!(s.ops(S3Op::CopyObject) + s.ops(S3Op::UploadPartCopy), 0);
}

#[tokio::test]
async fn a_gzip_copy_is_a_gz_file_with_the_tags_metadata_and_its_own_name() {
    let s = Stack::new("gzip-headers").await;
    let data = common::bytes_of(300_000, 5);
    let etag = common::send_put(
        s.put_request("in/report.csv")
            .content_type("text/csv")
            .content_encoding("br")
            .content_disposition("attachment; filename=\"report.csv\"")
            .metadata("owner", "team-a")
            .tagging("class=gold")
            .body(ByteStream::from(data.clone())),
    )
    .await;
    let destination = s.destination_object("out/report.csv.gz");
    copy_object(
        &s.proxied,
        s.source_spec("in/report.csv", &etag),
        &destination,
        Box::new(s3_stream_lambda::transform::Gzip::default()),
        &settings(CopyMode::Auto),
        &CancellationToken::new(),
        &CopyProgress::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", s3_stream_lambda::runtime::error_chain(&e)));
    let head = s.head(&destination.key).await;
    assert_eq!(head.content_type(), Some("application/gzip"));
    assert_eq!(
        head.content_encoding(),
        None,
        "a .gz file, not an encoded copy"
    );
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"report.csv.gz\"")
    );
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("team-a")
    );
    let tags = s
        .client
        .get_object_tagging()
        .bucket(&s.destination)
        .key(&destination.key)
        .send()
        .await
        .expect("get the copy's tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "gold");
    let gz = s.get(&destination.key).await;
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut plain)
        .expect("a gzip file");
    assert_eq!(common::sha256(&plain), common::sha256(&data));
}
