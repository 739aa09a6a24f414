//! S3 Batch Operations through the real `bootstrap` and the emulator, on moto:
//! schema 1.0 and 2.0, pinned versions, `userArguments` on the allow-lists,
//! and each failure answered with the result code Batch Operations acts on.

use crate::common::{self, Stack, function};
use s3_stream_testkit::emulator::{Post, PostKind};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule};
use serde_json::{Value, json};

const INVOCATION_ID: &str = "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo";

/// A schema 1.0 invocation: the bucket as an ARN.
pub(crate) fn invocation_1_0(bucket: &str, encoded_key: &str, version: Option<&str>) -> Value {
    json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": INVOCATION_ID,
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
        "tasks": [{
            "taskId": "dGFza2lkZ29lc2hlcmUK",
            "s3Key": encoded_key,
            "s3VersionId": version,
            "s3BucketArn": format!("arn:aws:s3:::{bucket}")
        }]
    })
}

/// A schema 2.0 invocation: the bucket by name, with `userArguments`.
fn invocation_2_0(bucket: &str, key: &str, version: Option<&str>, arguments: Value) -> Value {
    json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": INVOCATION_ID,
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "userArguments": arguments},
        "tasks": [{"taskId": "dGFzay0y", "s3Key": key, "s3VersionId": version, "s3Bucket": bucket}]
    })
}

/// The response's only result, after checking the envelope Batch Operations reads.
fn only_result(post: &Post, schema: &str) -> Value {
    assert_eq!(post.kind, PostKind::Response, "{}", post.json());
    let response = post.json();
    assert_eq!(response["invocationSchemaVersion"], schema);
    assert_eq!(response["invocationId"], INVOCATION_ID);
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{response}");
    assert!(
        response.get("records").is_none(),
        "only the documented fields: {response}"
    );
    results[0].clone()
}

/// Has `f` run a schema 2.0 task on `key` in `s`'s source bucket; returns its result.
async fn run_2_0(
    f: &function::Function,
    s: &Stack,
    key: &str,
    version: Option<&str>,
    arguments: Value,
) -> Value {
    let post = f
        .invoke(invocation_2_0(&s.source, key, version, arguments))
        .await;
    only_result(&post, "2.0")
}

/// Asserts `result` is a `PermanentFailure` whose string starts with `error_type`.
fn assert_permanent(result: &Value, error_type: &str) {
    assert_eq!(result["resultCode"], "PermanentFailure", "{result}");
    let text = result["resultString"].as_str().unwrap_or_default();
    assert!(text.starts_with(&format!("{error_type}: ")), "{text}");
}

#[tokio::test]
async fn schema_1_0_with_a_bucket_arn_and_an_encoded_key_copies() {
    let s = Stack::new("batch10").await;
    let data = common::bytes_of(70_000, 1);
    s.put("reports/q4 summary+final.csv", data.clone()).await;
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let post = f
        .invoke(invocation_1_0(
            &s.source,
            "reports/q4+summary%2Bfinal.csv",
            None,
        ))
        .await;
    let result = only_result(&post, "1.0");
    assert_eq!(result["taskId"], "dGFza2lkZ29lc2hlcmUK");
    assert_eq!(result["resultCode"], "Succeeded", "{}", f.logs());
    assert_eq!(
        result["resultString"],
        format!(
            "copied to s3://{}/reports/q4 summary+final.csv",
            s.destination
        )
    );
    let copied = s.get("reports/q4 summary+final.csv").await;
    assert_eq!(common::sha256(&copied), common::sha256(&data));
}

#[tokio::test]
async fn schema_2_0_copies_the_pinned_old_version_under_an_allowed_prefix() {
    let s = Stack::new("batch20").await;
    common::enable_versioning(&s.client, &s.source).await;
    let old = common::bytes_of(40_000, 2);
    let put = s
        .put_request("large/dataset.parquet")
        .body(old.clone().into())
        .send()
        .await
        .expect("put the old version");
    let old_version = put.version_id().expect("a version id").to_owned();
    s.put("large/dataset.parquet", b"newer".to_vec()).await;
    let f = function::start(&[
        ("DST_BUCKET", &s.destination),
        ("ALLOWED_DST_PREFIXES", "archive/,other/"),
    ])
    .await;
    let result = run_2_0(
        &f,
        &s,
        "large/dataset.parquet",
        Some(&old_version),
        json!({"dstPrefix": "archive/"}),
    )
    .await;
    assert_eq!(result["taskId"], "dGFzay0y");
    assert_eq!(result["resultCode"], "Succeeded", "{result}\n{}", f.logs());
    let copied = s.get("archive/large/dataset.parquet").await;
    assert_eq!(
        common::sha256(&copied),
        common::sha256(&old),
        "the pinned version, not the current one"
    );
}

#[tokio::test]
async fn a_missing_key_and_a_disallowed_destination_are_permanent_failures() {
    let s = Stack::new("batchperm").await;
    let elsewhere = common::create_bucket(&s.client, "batchperm-other").await;
    s.put("present.txt", b"here".to_vec()).await;
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;

    assert_permanent(
        &run_2_0(&f, &s, "absent.txt", None, json!({})).await,
        "S3.NoSuchKey",
    );

    let result = run_2_0(&f, &s, "present.txt", None, json!({"dstBucket": elsewhere})).await;
    assert_permanent(&result, "Batch.ArgumentNotAllowed");
    let text = result["resultString"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Batch.ArgumentNotAllowed: userArguments.dstBucket")
            && text.contains("ALLOWED_DST_BUCKETS"),
        "{text}"
    );
    assert_eq!(
        common::object_count(&s.client, &elsewhere).await,
        0,
        "nothing written"
    );
    assert_eq!(s.objects().await, 0, "nothing written");
}

#[tokio::test]
async fn an_archived_source_is_a_permanent_failure_of_its_own_type() {
    let s = Stack::new("batcharch").await;
    s.put_request("cold/2019.tar")
        .storage_class(aws_sdk_s3::types::StorageClass::DeepArchive)
        .body(b"frozen".to_vec().into())
        .send()
        .await
        .expect("put an archived object");
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let result = run_2_0(&f, &s, "cold/2019.tar", None, json!({})).await;
    assert_permanent(&result, "S3.ObjectArchived");
    let text = result["resultString"].as_str().unwrap_or_default();
    assert!(text.contains("DEEP_ARCHIVE"), "{text}");
    assert_eq!(s.objects().await, 0);
    assert_eq!(s.open_uploads().await, 0);
}

#[tokio::test]
async fn a_throttled_source_is_a_temporary_failure() {
    let s = Stack::new("batchslow").await;
    s.put("hot.bin", common::bytes_of(10_000, 3)).await;
    let throttle = s.proxy.add_rule(Rule::new(
        Matcher::any().path_contains(format!("/{}/", s.source)),
        Fault::s3_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
    ));
    let f = s
        .start_function_through_proxy(&[("DST_BUCKET", &s.destination)])
        .await;
    let result = run_2_0(&f, &s, "hot.bin", None, json!({})).await;
    assert_eq!(result["resultCode"], "TemporaryFailure", "{result}");
    assert!(s.proxy.hits(throttle) >= 1);
    assert_eq!(s.objects().await, 0);
}

#[tokio::test]
async fn a_source_off_the_allow_list_is_refused_without_a_request_to_it() {
    let s = Stack::new("allow").await;
    let other = common::create_bucket(&s.client, "allow-other").await;
    let etag = common::put(&s.client, &other, "secret.txt", b"secret".to_vec()).await;
    let f = s
        .start_function_through_proxy(&[
            ("DST_BUCKET", &s.destination),
            ("SOURCE_BUCKETS", &s.source),
        ])
        .await;
    let post = f
        .invoke(function::s3_event(&[(&other, "secret.txt", 6, &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Error, "{}", post.json());
    assert_eq!(
        post.header("lambda-runtime-function-error-type"),
        Some("Copy.SourceNotAllowed")
    );
    let touched: Vec<String> = s
        .proxy
        .log()
        .into_iter()
        .map(|exchange| exchange.path)
        .filter(|path| path.contains(&other))
        .collect();
    assert!(
        touched.is_empty(),
        "requests to the refused bucket: {touched:?}"
    );
    assert_eq!(s.objects().await, 0);
}

#[tokio::test]
async fn cross_account_controls_reach_every_request_that_needs_them() {
    use s3_stream_testkit::fault_proxy::S3Op;
    let s = Stack::new("xacct").await;
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("ACL", "bucket-owner-full-control"),
        // moto's account.
        ("EXPECTED_BUCKET_OWNER", "123456789012"),
        ("REQUEST_PAYER", "requester"),
    ];
    let server_side = s.start_function_through_proxy(&env).await;
    // A pass-through rule per header counts the requests carrying it.
    let checks = [
        (Matcher::any().header("x-amz-request-payer"), None),
        (
            Matcher::s3(S3Op::CopyObject).header("x-amz-acl"),
            Some(S3Op::CopyObject),
        ),
        (
            Matcher::s3(S3Op::CopyObject).header("x-amz-expected-bucket-owner"),
            Some(S3Op::CopyObject),
        ),
    ];
    for (n, (matcher, op)) in checks.into_iter().enumerate() {
        let key = format!("object-{n}.txt");
        let etag = s.put(&key, b"cross-account".to_vec()).await;
        s.proxy.clear_rules();
        s.proxy.clear_log();
        let rule = s
            .proxy
            .add_rule(Rule::new(matcher, Fault::Delay(std::time::Duration::ZERO)));
        server_side
            .invoke_ok(function::s3_event(&[(&s.source, &key, 13, &etag)]))
            .await;
        let expected = match op {
            None => s.proxy.log().len(),
            Some(op) => s.proxy.log().iter().filter(|e| e.op == op).count(),
        };
        assert!(expected > 0);
        assert_eq!(s.proxy.hits(rule), expected, "check {n}");
    }
    drop(server_side);

    let streamed = s
        .start_function_through_proxy(&[env.as_slice(), &[("TRANSFORM", "gzip")]].concat())
        .await;
    let etag = s.put("streamed.txt", b"streamed".to_vec()).await;
    s.proxy.clear_rules();
    let acl = s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::PutObject).header("x-amz-acl"),
        Fault::Delay(std::time::Duration::ZERO),
    ));
    streamed
        .invoke_ok(function::s3_event(&[(&s.source, "streamed.txt", 8, &etag)]))
        .await;
    assert_eq!(
        s.proxy.hits(acl),
        1,
        "the streamed PutObject carries the acl"
    );
}

#[tokio::test]
async fn an_sse_c_source_is_a_permanent_failure_of_its_own_type() {
    use s3_stream_testkit::fault_proxy::S3Op;
    let s = Stack::new("ssec").await;
    s.put("locked.bin", b"sealed".to_vec()).await;
    // What S3 answers for an SSE-C object without its key: a HEAD gets a
    // bare 400 (no body can say why), a GET says it.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::HeadObject),
        Fault::Respond {
            status: http::StatusCode::BAD_REQUEST,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        },
    ));
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::GetObject),
        Fault::s3_error(
            http::StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        ),
    ));
    let f = s
        .start_function_through_proxy(&[("DST_BUCKET", &s.destination)])
        .await;
    assert_permanent(
        &run_2_0(&f, &s, "locked.bin", None, json!({})).await,
        "S3.SourceEncryptedWithCustomerKey",
    );
    assert_eq!(s.objects().await, 0);
}
