//! The real `bootstrap` binary, driven through the Runtime API emulator,
//! copying between buckets of a real S3-compatible server (moto_server).

use crate::common::function::{self, s3_event, sqs_message};
use crate::common::{self, Stack};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op};
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

fn error_type(post: &s3_stream_testkit::emulator::Post) -> Option<&str> {
    post.header("lambda-runtime-function-error-type")
}

#[tokio::test]
async fn drop_in_copy_of_one_record() {
    let s = Stack::new("dropin").await;
    let data = common::bytes_of(300_000, 1);
    let etag = s.put("docs/report.pdf", data.clone()).await;
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let post = f
        .invoke_ok(s3_event(&[(
            &s.source,
            "docs/report.pdf",
            data.len(),
            &etag,
        )]))
        .await;
    let report = post.json();
    assert_eq!(report["summary"]["copied"], 1);
    let record = &report["records"][0];
    assert_eq!(record["outcome"], "copied");
    assert_eq!(record["destination"]["key"], "docs/report.pdf");
    assert_eq!(record["bytesIn"], 300_000);
    assert!(record["checksumCrc64nvme"].is_string());
    let copied = s.get("docs/report.pdf").await;
    assert_eq!(common::sha256(&copied), common::sha256(&data));
}

#[tokio::test]
async fn many_records_with_awkward_keys_empty_and_multipart_objects() {
    let s = Stack::new("many").await;
    let objects: Vec<(&str, Vec<u8>)> = vec![
        ("with spaces/and+plus.txt", common::bytes_of(1_000, 1)),
        ("ünïcødé/日本語 ✓.bin", common::bytes_of(2_000, 2)),
        ("deep/a/b/c/d.json", common::bytes_of(3_000, 3)),
        ("empty.bin", Vec::new()),
        ("multi/part.bin", common::bytes_of(12 * MIB + 3, 4)),
    ];
    let mut records = Vec::new();
    for (key, data) in &objects {
        let etag = s.put(key, data.clone()).await;
        records.push((key.to_string(), data.len(), etag));
    }
    let event_records: Vec<(&str, &str, usize, &str)> = records
        .iter()
        .map(|(k, n, e)| (s.source.as_str(), k.as_str(), *n, e.as_str()))
        .collect();
    let f = function::start(&[("DST_BUCKET", &s.destination), ("PART_COPY_SIZE_MIB", "5")]).await;
    let post = f.invoke_ok(s3_event(&event_records)).await;
    let report = post.json();
    assert_eq!(report["summary"]["copied"], objects.len());
    assert_eq!(
        report["records"][4]["parts"], 3,
        "12 MiB in 5 MiB part copies"
    );
    for record in report["records"].as_array().unwrap() {
        assert_eq!(record["method"], "server", "identity copies go server-side");
        assert_eq!(record["bytesThroughFunction"], 0);
    }
    for (key, data) in &objects {
        let copied = s.get(key).await;
        assert_eq!(common::sha256(&copied), common::sha256(data), "{key}");
    }
}

/// Delivers an SQS batch of `messages` (id, body) to `f`; returns the
/// `batchItemFailures` it answered.
async fn sqs_batch(
    f: &function::Function,
    messages: &[(&str, &serde_json::Value)],
) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| sqs_message(id, body))
        .collect();
    let post = f.invoke_ok(serde_json::json!({ "Records": records })).await;
    post.json()["batchItemFailures"].clone()
}

/// An EventBridge `Object Created` event for `key` (of `size` bytes at `etag`) in `bucket`.
fn eventbridge_event(bucket: &str, key: &str, size: usize, etag: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-26T20:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": etag.trim_matches('"')},
                   "reason": "PutObject"}
    })
}

#[tokio::test]
async fn sqs_batch_reports_only_failed_messages() {
    let s = Stack::new("sqs").await;
    let etag = s.put("ok.txt", b"hello".to_vec()).await;
    let good = s3_event(&[(&s.source, "ok.txt", 5, &etag)]);
    let bad = s3_event(&[(
        &s.source,
        "missing.txt",
        5,
        "0123456789abcdef0123456789abcdef",
    )]);
    let test_event =
        serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": s.source});
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let messages = [("m-good", &good), ("m-bad", &bad), ("m-test", &test_event)];
    assert_eq!(
        sqs_batch(&f, &messages).await,
        serde_json::json!([{"itemIdentifier": "m-bad"}])
    );
    assert_eq!(s.get("ok.txt").await, b"hello");
}

/// An SNS notification whose message is `event` (as S3 → SNS publishes it).
fn sns_notification(event: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "Type": "Notification", "MessageId": "95df01b4", "TopicArn": "arn:aws:sns:us-east-1:123456789012:s3-created",
        "Subject": "Amazon S3 Notification", "Message": event.to_string(),
        "Timestamp": "2026-11-26T20:00:01.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE"
    })
}

#[tokio::test]
async fn sns_wrapped_eventbridge_wrapped_and_direct_sns_events() {
    let s = Stack::new("wrapped").await;
    let sns_etag = s.put("via sns.txt", b"sns".to_vec()).await;
    let eb_etag = s.put("via eventbridge.txt", b"eb".to_vec()).await;
    let direct_etag = s.put("direct sns.txt", b"direct".to_vec()).await;
    let eventbridge = eventbridge_event(&s.source, "via eventbridge.txt", 2, &eb_etag);
    let not_s3 = serde_json::json!({"Type": "Notification", "Message": "{\"hello\": 1}"});
    let sns_body = sns_notification(&s3_event(&[(&s.source, "via sns.txt", 3, &sns_etag)]));
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let messages = [
        ("m-sns", &sns_body),
        ("m-eventbridge", &eventbridge),
        ("m-not-s3", &not_s3),
    ];
    assert_eq!(
        sqs_batch(&f, &messages).await,
        serde_json::json!([{"itemIdentifier": "m-not-s3"}])
    );
    assert_eq!(s.get("via sns.txt").await, b"sns");
    assert_eq!(s.get("via eventbridge.txt").await, b"eb");
    let direct = serde_json::json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:s3-created:1",
        "Sns": sns_notification(&s3_event(&[(&s.source, "direct sns.txt", 6, &direct_etag)]))
    }]});
    let post = f.invoke_ok(direct).await;
    assert_eq!(
        post.json()["records"][0]["outcome"],
        "copied",
        "{}",
        post.json()
    );
    assert_eq!(s.get("direct sns.txt").await, b"direct");
}

#[tokio::test]
async fn eventbridge_and_test_events() {
    let s = Stack::new("eventbridge").await;
    let etag = s.put("raw:batch 7.json", b"{}".to_vec()).await;
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    f.invoke_ok(eventbridge_event(&s.source, "raw:batch 7.json", 2, &etag))
        .await;
    assert_eq!(s.get("raw:batch 7.json").await, b"{}");
    let test = serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-26T20:00:00.000Z",
                                  "Bucket": s.source, "RequestId": "1", "HostId": "2"});
    let post = f.invoke_ok(test).await;
    assert_eq!(post.json()["testEvent"], true);
    assert_eq!(post.json()["records"], serde_json::json!([]));
}

#[tokio::test]
async fn missing_source_is_an_error_naming_the_key_and_the_next_invocation_works() {
    let s = Stack::new("missing").await;
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let post = f
        .invoke(s3_event(&[(
            &s.source,
            "gone/away.txt",
            5,
            "0123456789abcdef0123456789abcdef",
        )]))
        .await;
    assert_eq!(post.kind, PostKind::Error);
    assert_eq!(error_type(&post), Some("S3.NoSuchKey"));
    let message = post.json()["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("gone/away.txt"), "{message}");
    let etag = s.put("here.txt", b"x".to_vec()).await;
    f.invoke_ok(s3_event(&[(&s.source, "here.txt", 1, &etag)]))
        .await;
}

#[tokio::test]
async fn a_short_deadline_posts_copy_timeout_and_leaves_nothing_behind() {
    let s = Stack::new("deadline").await;
    let data = common::bytes_of(200 * MIB, 9);
    let etag = s.put("huge.bin", data).await;
    // A copy that cannot resume (resuming off: its only attempt is its last);
    // resume.rs has the copies that keep their upload for the next delivery.
    // Each part copy is held 5 s: the default margin (2 s, the least a
    // cancelled copy needs) leaves the copy 1.5 s, so it never reaches its
    // completion, however fast the store.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPartCopy),
        Fault::Delay(Duration::from_secs(5)),
    ));
    let f = s
        .start_function_through_proxy(&[
            ("DST_BUCKET", &s.destination),
            ("PART_SIZE_MIB", "5"),
            ("RESUME_MAX_ATTEMPTS", "1"),
        ])
        .await;
    let timeout = Duration::from_millis(3_500);
    let spec =
        InvocationSpec::new(s3_event(&[(&s.source, "huge.bin", 200 * MIB, &etag)]).to_string())
            .with_timeout(timeout);
    let started = Instant::now();
    let post = f.invoke_spec(spec).await;
    let elapsed = started.elapsed();
    assert_eq!(post.kind, PostKind::Error, "{}", post.json());
    assert_eq!(error_type(&post), Some("Copy.Timeout"), "{}", post.json());
    let message = post.json()["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("huge.bin") && message.contains("bytes read"),
        "{message}"
    );
    assert!(
        elapsed < timeout,
        "posted after {elapsed:?}, deadline {timeout:?}"
    );
    assert_eq!(s.open_uploads().await, 0, "{}", f.logs());
}

#[tokio::test]
async fn refuses_to_copy_an_object_onto_itself() {
    let s = Stack::new("recursion").await;
    let etag = s.put("loop.txt", b"x".to_vec()).await;
    let f = function::start(&[("DST_BUCKET", &s.source)]).await;
    let post = f
        .invoke(s3_event(&[(&s.source, "loop.txt", 1, &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Error);
    assert_eq!(error_type(&post), Some("Copy.Recursion"));
    // With a prefix the copy goes ahead, and its own output is skipped.
    drop(f);
    let f = function::start(&[("DST_BUCKET", &s.source), ("DST_PREFIX", "copies/")]).await;
    f.invoke_ok(s3_event(&[(&s.source, "loop.txt", 1, &etag)]))
        .await;
    let own = s.put("copies/loop.txt", b"x".to_vec()).await;
    let post = f
        .invoke(s3_event(&[(&s.source, "copies/loop.txt", 1, &own)]))
        .await;
    assert_eq!(post.json()["records"][0]["outcome"], "skipped");
}

#[tokio::test]
async fn each_bad_configuration_value_is_an_init_error() {
    // (the variable, its bad value or None for unset), on top of a good
    // DST_BUCKET.
    let cases = [
        ("DST_BUCKET", None),
        ("DST_BUCKET", Some("")),
        ("TRANSFORM", Some("rot13")),
        ("PART_SIZE_MIB", Some("1")),
        ("UPLOAD_CONCURRENCY", Some("none")),
        ("READ_AHEAD", Some("0")),
        ("MAX_RECORD_CONCURRENCY", Some("1000")),
        ("DEADLINE_MARGIN_MS", Some("-1")),
        ("STORAGE_CLASS", Some("FREEZER")),
        ("SSE", Some("yes")),
        ("SSE_KMS_KEY_ID", Some("alias/k")),
        ("S3_FORCE_PATH_STYLE", Some("maybe")),
    ];
    for (variable, value) in cases {
        let row = format!("{variable}={value:?}");
        let mut env = vec![("DST_BUCKET", "dst")];
        env.retain(|(name, _)| *name != variable);
        env.extend(value.map(|value| (variable, value)));
        let mut f = function::start(&env).await;
        let post = f
            .emulator
            .wait_for_init_error(Duration::from_secs(20))
            .await;
        let post = post.unwrap_or_else(|| panic!("no init error for {row}: {}", f.logs()));
        assert_eq!(
            error_type(&post),
            Some("Runtime.InvalidConfiguration"),
            "{row}"
        );
        assert_eq!(
            post.header("content-type"),
            Some("application/vnd.aws.lambda.error+json"),
            "{row}"
        );
        let message = post.json()["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(variable), "{row}: {message}");
        let code = f.wait_exit(Duration::from_secs(10));
        assert!(
            matches!(code, Some(c) if c != 0),
            "{row}: exit code {code:?}"
        );
    }
}

#[tokio::test]
async fn ten_thousand_failing_records_answer_within_lambdas_limit() {
    let s = Stack::new("tenk").await;
    // A bucket off SOURCE_BUCKETS fails each record without a request, so
    // the test measures the response, not 10,000 round trips.
    let refused = "refused-bucket";
    let long_key = "k".repeat(300);
    let messages: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            let key = format!("{i:05}/{long_key}");
            sqs_message(
                &format!("m-{i:05}"),
                &s3_event(&[(refused, &key, 1, "0123456789abcdef0123456789abcdef")]),
            )
        })
        .collect();
    let event = serde_json::json!({ "Records": messages });
    let f = function::start(&[
        ("DST_BUCKET", &s.destination),
        ("SOURCE_BUCKETS", &s.source),
    ])
    .await;
    let post = f.invoke_ok(event).await;
    assert!(
        post.body.len() <= 6 * 1024 * 1024,
        "{} bytes",
        post.body.len()
    );
    let report = post.json();
    assert_eq!(
        report["batchItemFailures"].as_array().map(Vec::len),
        Some(10_000)
    );
    assert_eq!(report["summary"]["failed"], 10_000);
    let kept = report["records"].as_array().map_or(0, Vec::len);
    assert!(kept > 0 && report["recordsOmitted"].as_u64() == Some(10_000 - kept as u64));
    eprintln!(
        "response: {} bytes, {kept} of 10,000 records listed",
        post.body.len()
    );
    assert_eq!(report["records"][0]["errorType"], "Copy.SourceNotAllowed");
    assert_eq!(report["records"][0]["failureClass"], "permanent");
}
