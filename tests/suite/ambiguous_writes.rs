//! S3's ambiguous answer: a 500 after the work was done. Every write the copy
//! sends is answered that way once, through the fault proxy in front of moto:
//! the copy succeeds, verified, and leaves no upload open, including the
//! upload an answered-500 `CreateMultipartUpload` made.

use crate::common::{self, Stack, function};
use s3_stream_lambda::copy::part_size::MIN_PART_SIZE;
use s3_stream_lambda::copy::upload::condition::META_SOURCE_SEQUENCER;
use s3_stream_lambda::copy::upload::multipart::CLEANUP_BUDGET;
use s3_stream_lambda::copy::{
    CopyError, CopyMode, CopyOutcome, CopyProgress, CopyReport, CopySettings, ServerCopySettings,
    SourceSpec, copy_object,
};
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a copy before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// Three parts and a tail: multipart on every path.
const MULTIPART: usize = 3 * MIN_PART_SIZE as usize + 1_000;

/// Below one part: one `PutObject` or `CopyObject`.
const SINGLE: usize = 100_000;

fn settings(mode: CopyMode) -> CopySettings {
    CopySettings {
        part_size: MIN_PART_SIZE,
        server: ServerCopySettings {
            part_size: MIN_PART_SIZE,
            concurrency: 2,
        },
        upload_concurrency: 2,
        read_ahead: 2,
        mode,
        ..CopySettings::default()
    }
}

/// Copies `source` through the proxy to the same key.
async fn copy(s: &Stack, source: SourceSpec, mode: CopyMode) -> Result<CopyReport, CopyError> {
    let destination = s.destination_object(&source.key);
    timeout(
        PATIENCE,
        copy_object(
            &s.proxied,
            source,
            &destination,
            Box::new(Identity),
            &settings(mode),
            &CancellationToken::new(),
            &CopyProgress::default(),
        ),
    )
    .await
    .expect("the copy ends")
}

/// A source object of `size` at `key`, announced with a sequencer so the
/// copy writes under newest wins' condition (the case where a retried write
/// meets its own first attempt).
async fn source(s: &Stack, key: &str, size: usize) -> SourceSpec {
    let etag = s.put(key, common::bytes_of(size, size as u64)).await;
    SourceSpec {
        size: Some(size as u64),
        sequencer: Some("0000000001".into()),
        ..s.source_spec(key, &etag)
    }
}

fn error_chain(error: &CopyError) -> String {
    s3_stream_lambda::runtime::error_chain(error)
}

/// Every write answered 500 once after S3 carried it out: the copy is
/// copied (not superseded: the destination holds our own write), whole,
/// verified, and nothing stays open.
#[tokio::test]
async fn every_write_answered_500_after_it_was_done_still_copies_once() {
    let cases = [
        (S3Op::CreateMultipartUpload, CopyMode::Stream, MULTIPART),
        (S3Op::CreateMultipartUpload, CopyMode::Auto, MULTIPART),
        (S3Op::UploadPart, CopyMode::Stream, MULTIPART),
        (S3Op::UploadPartCopy, CopyMode::Auto, MULTIPART),
        (S3Op::CompleteMultipartUpload, CopyMode::Stream, MULTIPART),
        (S3Op::CompleteMultipartUpload, CopyMode::Auto, MULTIPART),
        (S3Op::PutObject, CopyMode::Stream, SINGLE),
        (S3Op::CopyObject, CopyMode::Auto, SINGLE),
    ];
    let s = Stack::new("ambiguous-each").await;
    for (op, mode, size) in cases {
        let case = format!("{op:?} {mode:?}");
        let key = format!("{op:?}-{mode:?}");
        let source = source(&s, &key, size).await;
        s.proxy.clear_rules();
        s.proxy.clear_log();
        let rule = s.proxy.add_rule(
            Rule::new(Matcher::s3(op), Fault::internal_error_after_forward())
                .times(Times::First(1)),
        );
        let report = copy(&s, source, mode)
            .await
            .unwrap_or_else(|e| panic!("{case}: {}", error_chain(&e)));
        assert_eq!(s.proxy.hits(rule), 1, "{case}: the fault fired");
        assert_eq!(
            report.outcome,
            CopyOutcome::Copied,
            "{case}: {report:?}: {:?}",
            s.proxy
                .log()
                .iter()
                .map(|e| (e.op, e.status))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            s.get(&key).await,
            common::bytes_of(size, size as u64),
            "{case}: the copy is whole"
        );
        let head = s.head(&key).await;
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get(META_SOURCE_SEQUENCER))
                .map(String::as_str),
            Some("0000000001"),
            "{case}"
        );
        assert_eq!(
            s.open_uploads().await,
            0,
            "{case}: no upload stays open: {:?}",
            s.proxy
                .log()
                .iter()
                .map(|e| (e.op, e.query.clone(), e.status))
                .collect::<Vec<_>>()
        );
    }
}

/// A failing copy whose abort is answered 500 after S3 aborted: the retry
/// hears `NoSuchUpload`, which is the abort done; nothing stays open.
#[tokio::test]
async fn an_abort_answered_500_after_it_was_done_leaves_nothing_open() {
    let s = Stack::new("ambiguous-abort").await;
    let source = source(&s, "object", MULTIPART).await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPart),
            Fault::s3_error(http::StatusCode::FORBIDDEN, "AccessDenied", "denied"),
        )
        .times(Times::Nth(2)),
    );
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::AbortMultipartUpload),
            Fault::internal_error_after_forward(),
        )
        .times(Times::First(1)),
    );
    let error = copy(&s, source, CopyMode::Stream)
        .await
        .expect_err("a part upload was refused");
    assert!(error_chain(&error).contains("AccessDenied"), "{error:?}");
    assert_eq!(s.open_uploads().await, 0);
    assert_eq!(s.objects().await, 0, "nothing was written");
}

/// The acceptance case: every copy's first `CreateMultipartUpload` is
/// answered 500 after moto created the upload, through the function. Every
/// copy succeeds and the orphans are aborted before the function answers.
#[tokio::test]
async fn the_first_create_of_every_copy_answered_500_leaves_no_upload_open() {
    let s = Stack::new("ambiguous-create").await;
    let mut records = Vec::new();
    let mut keys = Vec::new();
    for i in 0..8 {
        let key = format!("object-{i}");
        let etag = s.put(&key, common::bytes_of(MULTIPART, i)).await;
        keys.push((key, etag));
    }
    for (key, etag) in &keys {
        records.push((s.source.as_str(), key.as_str(), MULTIPART, etag.as_str()));
    }
    let rule = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CreateMultipartUpload),
            Fault::internal_error_after_forward(),
        )
        .times(Times::FirstPerPath(1)),
    );
    for mode in ["stream", "auto"] {
        let dst_prefix = format!("{mode}/");
        let f = s
            .start_function_through_proxy(&[
                ("DST_BUCKET", &s.destination),
                ("DST_PREFIX", &dst_prefix),
                ("COPY_MODE", mode),
                ("PART_SIZE_MIB", "5"),
                ("PART_COPY_SIZE_MIB", "5"),
            ])
            .await;
        let post = f.invoke_ok(function::s3_event(&records)).await;
        let report = post.json();
        assert_eq!(
            report["summary"]["copied"],
            8,
            "{mode}: {report}\n{}",
            f.logs()
        );
        for (i, (key, _)) in keys.iter().enumerate() {
            assert_eq!(
                s.get(&format!("{dst_prefix}{key}")).await,
                common::bytes_of(MULTIPART, i as u64),
                "{mode}: {key}"
            );
        }
        assert_eq!(s.open_uploads().await, 0, "{mode}: {}", f.logs());
    }
    assert_eq!(s.proxy.hits(rule), 16, "every copy's first create was hit");
}

/// Two sandboxes copy two versions of one key at once; one of them meets
/// the ambiguous create. Both answer, the newer version survives with its
/// sequencer, and nothing stays open: the clean-up aborted the orphan, not
/// the other sandbox's live upload.
#[tokio::test]
async fn two_copies_of_one_key_at_once_one_hit_by_the_ambiguous_create() {
    let s = Stack::new("ambiguous-two").await;
    common::enable_versioning(&s.client, &s.source).await;
    let mut versions = Vec::new();
    for (seed, sequencer) in [(1u64, "0000000001"), (2, "0000000002")] {
        let put = s
            .put_request("object")
            .body(common::bytes_of(MULTIPART, seed).into())
            .send()
            .await
            .expect("put a version");
        versions.push((put, sequencer));
    }
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CreateMultipartUpload),
            Fault::internal_error_after_forward(),
        )
        .times(Times::FirstPerPath(1)),
    );
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("COPY_MODE", "stream"),
        ("PART_SIZE_MIB", "5"),
        // Resuming on (the default): the two versions share the key's
        // checkpoint; whichever way they meet there, the older ends
        // superseded or copied, never failed.
    ];
    let older = s.start_function_through_proxy(&env).await;
    let newer = s.start_function_through_proxy(&env).await;
    let event = |(put, sequencer): &(aws_sdk_s3::operation::put_object::PutObjectOutput, &str)| {
        let mut event = function::s3_event(&[(
            s.source.as_str(),
            "object",
            MULTIPART,
            put.e_tag().unwrap_or_default(),
        )]);
        let object = &mut event["Records"][0]["s3"]["object"];
        object["sequencer"] = (*sequencer).into();
        object["versionId"] = put.version_id().unwrap_or_default().into();
        event
    };
    let (older_post, newer_post) = tokio::join!(
        older.invoke_ok(event(&versions[0])),
        newer.invoke_ok(event(&versions[1]))
    );
    let (older_report, newer_report) = (older_post.json(), newer_post.json());
    assert_eq!(
        newer_report["summary"]["copied"],
        1,
        "{newer_report}\n{}",
        newer.logs()
    );
    assert_eq!(
        older_report["summary"]["copied"].as_u64().unwrap_or(0)
            + older_report["summary"]["superseded"].as_u64().unwrap_or(0),
        1,
        "the older copy is copied (then overwritten) or superseded: {older_report}\n{}",
        older.logs()
    );
    assert_eq!(s.get("object").await, common::bytes_of(MULTIPART, 2));
    let head = s.head("object").await;
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get(META_SOURCE_SEQUENCER))
            .map(String::as_str),
        Some("0000000002")
    );
    assert_eq!(
        s.open_uploads().await,
        0,
        "{}\n{}",
        older.logs(),
        newer.logs()
    );
}

/// Another copy of the key creates its upload between our ambiguous create
/// and the SDK's retry, and has sent no part when our sweep looks: two empty
/// uploads precede ours for one lost answer, and moto's fixed `Initiated`
/// stamp cannot tell them apart. The sweep looks again until the other's
/// first part does, then aborts the orphan and never the other's upload.
#[tokio::test]
async fn another_copys_upload_still_empty_is_not_taken_for_our_orphan() {
    let s = Stack::new("ambiguous-neighbour").await;
    let source = source(&s, "object", MULTIPART).await;
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CreateMultipartUpload),
            Fault::internal_error_after_forward(),
        )
        .times(Times::First(1)),
    );
    // The retry is held while the other copy creates its upload.
    let retry = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CreateMultipartUpload),
            Fault::Delay(Duration::from_millis(1_500)),
        )
        .times(Times::First(1)),
    );
    let neighbour = async {
        while s.proxy.hits(retry) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let created = s
            .client
            .create_multipart_upload()
            .bucket(&s.destination)
            .key("object")
            .send()
            .await
            .expect("the other copy's create");
        let upload_id = created.upload_id().expect("an upload id").to_owned();
        // A second listing is the sweep looking again: it saw the ambiguity.
        s.wait_for(S3Op::ListMultipartUploads, 2, Duration::from_secs(30))
            .await;
        s.client
            .upload_part()
            .bucket(&s.destination)
            .key("object")
            .upload_id(&upload_id)
            .part_number(1)
            .body(common::bytes_of(SINGLE, 7).into())
            .send()
            .await
            .expect("the other copy's first part");
        upload_id
    };
    let (report, neighbour) = tokio::join!(copy(&s, source, CopyMode::Stream), neighbour);
    let report = report.unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    assert_eq!(report.outcome, CopyOutcome::Copied, "{report:?}");
    assert_eq!(
        s.get("object").await,
        common::bytes_of(MULTIPART, MULTIPART as u64)
    );
    let open = s
        .client
        .list_multipart_uploads()
        .bucket(&s.destination)
        .send()
        .await
        .expect("list uploads");
    let open: Vec<_> = open
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(
        open,
        [neighbour.as_str()],
        "the orphan aborted, the other's kept"
    );
}

/// The same event copied twice at once (a redelivery while the first
/// delivery still runs): the first completion is held back until the other
/// copy has completed, so it meets a 412 over an object with its own bytes
/// and origin. That is not its lost write (its upload is still open): it
/// ends superseded and aborts its upload rather than claim the other's.
#[tokio::test]
async fn a_twin_copy_that_completes_first_is_not_taken_for_our_lost_write() {
    let s = Stack::new("ambiguous-twin").await;
    let source = source(&s, "object", MULTIPART).await;
    let held = s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::Delay(Duration::from_secs(5)),
        )
        .times(Times::First(1)),
    );
    let (first, second) = tokio::join!(
        copy(&s, source.clone(), CopyMode::Stream),
        copy(&s, source, CopyMode::Stream)
    );
    let outcomes = [first, second].map(|copy| {
        copy.unwrap_or_else(|e| panic!("{}", error_chain(&e)))
            .outcome
    });
    assert_eq!(s.proxy.hits(held), 1, "a completion was held back");
    assert!(
        outcomes.contains(&CopyOutcome::Copied) && outcomes.contains(&CopyOutcome::Superseded),
        "one copied, the other superseded: {outcomes:?}"
    );
    assert_eq!(
        s.get("object").await,
        common::bytes_of(MULTIPART, MULTIPART as u64)
    );
    assert_eq!(
        s.open_uploads().await,
        0,
        "the superseded twin aborted its upload"
    );
}

/// A copy cancelled at its deadline margin with S3 slow to answer: its own
/// abort and the sweep for what an ambiguous create left open share one
/// cleanup budget, so the copy answers within the margin (here: aborts and
/// listings held for 10 s; each of them alone would outlast the budget; the
/// uploads left open are the lifecycle rule's, as the log says).
#[tokio::test]
async fn a_cancelled_copy_cleans_up_within_its_budget_however_slow_s3_is() {
    let s = Stack::new("ambiguous-budget").await;
    let source = source(&s, "object", MULTIPART).await;
    let held = Duration::from_secs(10);
    for rule in [
        Rule::new(
            Matcher::s3(S3Op::CreateMultipartUpload),
            Fault::internal_error_after_forward(),
        )
        .times(Times::First(1)),
        Rule::new(Matcher::s3(S3Op::UploadPart), Fault::Delay(held)),
        Rule::new(Matcher::s3(S3Op::AbortMultipartUpload), Fault::Delay(held)),
        Rule::new(Matcher::s3(S3Op::ListMultipartUploads), Fault::Delay(held)),
    ] {
        s.proxy.add_rule(rule);
    }
    let cancel = CancellationToken::new();
    let destination = s.destination_object("object");
    let progress = CopyProgress::default();
    let settings = settings(CopyMode::Stream);
    let copy = copy_object(
        &s.proxied,
        source,
        &destination,
        Box::new(Identity),
        &settings,
        &cancel,
        &progress,
    );
    let cancelled_at = async {
        // Parts are in flight (held) once the copy has read its source; the
        // copy cannot finish before the cancel, its parts being held.
        let parts_sent = async {
            while !s.proxy.log().iter().any(|e| e.op == S3Op::UploadPart) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        timeout(PATIENCE, parts_sent)
            .await
            .expect("a part was sent");
        cancel.cancel();
        std::time::Instant::now()
    };
    let (result, cancelled_at) = tokio::join!(timeout(PATIENCE, copy), cancelled_at);
    let cleanup = cancelled_at.elapsed();
    let error = result
        .expect("the copy ends")
        .expect_err("it was cancelled");
    assert!(matches!(error, CopyError::Cancelled { .. }), "{error:?}");
    // The cleanup tried both: the listing that finds the orphan, and our abort.
    let after_cancel: Vec<S3Op> = s
        .proxy
        .log()
        .iter()
        .filter(|e| e.arrived_at >= cancelled_at)
        .map(|e| e.op)
        .collect();
    for op in [S3Op::ListMultipartUploads, S3Op::AbortMultipartUpload] {
        assert!(
            after_cancel.contains(&op),
            "{op:?} after the cancel: {after_cancel:?}"
        );
    }
    // The budget, and a second for a loaded machine's scheduling.
    assert!(
        cleanup <= CLEANUP_BUDGET + Duration::from_secs(1),
        "cleanup took {cleanup:?}, budget {CLEANUP_BUDGET:?}"
    );
}

/// Copies in the soak.
const SOAK_COPIES: usize = 300;

/// Copies of the soak running at once.
const SOAK_CONCURRENCY: usize = 8;

/// The soak's object sizes: one in five multipart (10–15 MiB), the rest
/// below 1 MiB, so the soak moves ~0.9 GB and stays within minutes.
fn soak_size(i: usize) -> usize {
    let part = MIN_PART_SIZE as usize;
    if i.is_multiple_of(5) {
        2 * part + (i * 7_919) % part
    } else {
        (i * 104_729) % (1 << 20)
    }
}

/// The acceptance soak: 300 streamed copies under 503s, 500s after the
/// work was done, cut GET bodies and delays. None corrupt, none left open,
/// at least 99 % copied at the first attempt (the rest at the second, as an
/// event's retry would).
#[tokio::test]
async fn a_soak_under_mixed_faults_copies_everything_and_leaves_nothing_open() {
    let s = std::sync::Arc::new(Stack::new("ambiguous-soak").await);
    for i in 0..SOAK_COPIES {
        s.put(
            &format!("soak/{i}"),
            common::bytes_of(soak_size(i), i as u64),
        )
        .await;
    }
    let slow_down = Fault::s3_error(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "SlowDown",
        "Please reduce your request rate.",
    );
    for rule in [
        Rule::new(Matcher::any(), slow_down).times(Times::EveryNth(33)),
        Rule::new(Matcher::any(), Fault::internal_error_after_forward()).times(Times::EveryNth(50)),
        Rule::new(Matcher::s3(S3Op::GetObject), Fault::CutBodyAfter(64 * 1024))
            .times(Times::EveryNth(20)),
        Rule::new(Matcher::any(), Fault::Delay(Duration::from_millis(100)))
            .times(Times::EveryNth(50)),
    ] {
        s.proxy.add_rule(rule);
    }
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(SOAK_CONCURRENCY));
    let mut copies = tokio::task::JoinSet::new();
    for i in 0..SOAK_COPIES {
        let (s, limit) = (s.clone(), limit.clone());
        copies.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let key = format!("soak/{i}");
            let etag = common::head(&s.client, &s.source, &key)
                .await
                .e_tag()
                .unwrap_or_default()
                .to_owned();
            let spec = SourceSpec {
                size: Some(soak_size(i) as u64),
                ..s.source_spec(&key, &etag)
            };
            let first = copy(&s, spec.clone(), CopyMode::Stream).await;
            let at_first = first.is_ok();
            if let Err(error) = first {
                let retried = copy(&s, spec, CopyMode::Stream).await;
                assert!(
                    retried.is_ok(),
                    "{key} failed twice: {} then {:?}",
                    error_chain(&error),
                    retried.err().map(|e| error_chain(&e))
                );
            }
            at_first
        });
    }
    let mut at_first = 0;
    while let Some(joined) = copies.join_next().await {
        at_first += usize::from(joined.expect("a soak copy does not panic"));
    }
    s.proxy.clear_rules();
    let mut corrupt = Vec::new();
    for i in 0..SOAK_COPIES {
        let key = format!("soak/{i}");
        if s.get(&key).await != common::bytes_of(soak_size(i), i as u64) {
            corrupt.push(key);
        }
    }
    assert!(corrupt.is_empty(), "corrupt copies: {corrupt:?}");
    let open = s
        .client
        .list_multipart_uploads()
        .bucket(&s.destination)
        .send()
        .await
        .expect("list uploads");
    let left: Vec<_> = open.uploads().iter().filter_map(|u| u.key()).collect();
    let history: Vec<_> = s
        .proxy
        .log()
        .iter()
        .filter(|e| left.iter().any(|key| e.path.ends_with(&format!("/{key}"))))
        .map(|e| (e.op, e.status, e.rule.is_some(), e.query.clone()))
        .collect();
    assert!(left.is_empty(), "uploads left open: {left:?}: {history:#?}");
    assert!(
        at_first * 100 >= SOAK_COPIES * 99,
        "{at_first} of {SOAK_COPIES} copied at the first attempt"
    );
    let log = s.proxy.log();
    let faults = log.iter().filter(|e| e.rule.is_some()).count();
    let ambiguous_creates = log
        .iter()
        .filter(|e| {
            e.op == S3Op::CreateMultipartUpload && e.status.map(|s| s.as_u16()) == Some(500)
        })
        .count();
    println!(
        "soak: {SOAK_COPIES} copies, {at_first} at the first attempt, {faults} faults of {} \
         requests, {ambiguous_creates} creates answered 500 after moto made the upload, 0 corrupt, \
         0 open",
        log.len()
    );
    assert!(faults >= SOAK_COPIES / 10, "the faults fired: {faults}");
}
