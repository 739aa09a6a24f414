//! The work queue end to end: an asynchronous S3 notification whose copy needs many
//! invocations hands itself to a queue on moto's SQS and is answered success; the
//! test kit's event-source-mapping stand-in then feeds the real `bootstrap` from
//! that queue, each stop making the message visible again within seconds, until the
//! copy is whole.

use super::resume::{
    PART_DELAY, SIZE, STREAMED, assert_same_crc64nvme, checkpoints, put, record, slowed,
};
use crate::common::function::s3_event;
use crate::common::queues::Queues;
use crate::common::{self, Stack};
use s3_stream_testkit::emulator::{AsyncRetries, InvocationSpec, PostKind};
use s3_stream_testkit::fault_proxy::S3Op;
use std::time::Duration;

/// Each invocation's time limit: with the work queue's 3 s margin, 2 s of
/// copying, a few of the slowed parts.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The work queue's visibility timeout, as `deploy/` sets it: beyond the
/// function's timeout, so a message being copied is never taken twice. A
/// stop that did not make its message visible again would wait this long.
const VISIBILITY_TIMEOUT_SECONDS: u32 = 60;

/// Receives before the work queue gives a message up: more than the
/// attempts the copy may take.
const MAX_RECEIVE_COUNT: u32 = 40;

/// Longest the test waits for the queue to drain: far less than a stop
/// per visibility timeout would need.
const PATIENCE: Duration = Duration::from_secs(90);

const _: () = assert!(VISIBILITY_TIMEOUT_SECONDS as u64 >= TIMEOUT.as_secs());

#[tokio::test]
async fn a_copy_needing_many_invocations_goes_on_from_the_work_queue() {
    let s = Stack::new("work-queue").await;
    let q = Queues::new("work-queue", VISIBILITY_TIMEOUT_SECONDS, MAX_RECEIVE_COUNT).await;
    let data = common::bytes_of(SIZE, 32);
    let etag = put(&s, "big.bin", data.clone()).await;
    let mut env = STREAMED.to_vec();
    env.extend([
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
    ]);
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &env).await;

    // S3's asynchronous invocation: its only delivery is answered success.
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let spec = InvocationSpec::new(event.to_string())
        .with_timeout(TIMEOUT)
        .asynchronous(AsyncRetries::after(2, Duration::from_millis(100)));
    let id = function.emulator.enqueue(spec);
    let answer = function
        .emulator
        .wait_for_final_result(&id, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("no answer; logs:\n{}", function.logs()));
    assert_eq!(answer.kind, PostKind::Response, "{}", answer.json());
    assert_eq!(function.emulator.attempts(&id).len(), 1, "no retry");
    let handed = record(&answer);
    assert_eq!(handed["outcome"], "continuing", "{handed}");
    assert!(
        handed["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains(&q.url)),
        "the report names the work queue: {handed}"
    );

    let started = std::time::Instant::now();
    let drained = q
        .mapping(1, TIMEOUT)
        .drain(&function.emulator, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    let invocations = 1 + drained.invocations;
    println!(
        "work queue: {invocations} invocations, the queue drained in {:.1} s: {drained:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(invocations >= 5, "{invocations} invocations: {drained:?}");
    assert_eq!(drained.deleted, 1, "the hand-off, once done: {drained:?}");
    assert_eq!(drained.errors, 0, "every stop is answered: {drained:?}");

    let last = function.emulator.posts().pop().expect("a post");
    let copied = record(&last);
    assert_eq!(copied["outcome"], "copied", "{}", last.json());
    assert_eq!(copied["verified"], "source-crc64nvme", "{copied}");
    assert_eq!(
        copied["attempts"].as_array().map(Vec::len),
        Some(invocations),
        "every invocation was one attempt: {copied}"
    );
    assert_eq!(s.get("big.bin").await, data);
    assert_same_crc64nvme(&s, "big.bin").await;
    assert_eq!(s.open_uploads().await, 0, "no upload left open");
    assert_eq!(checkpoints(&s).await, 0, "the checkpoint is removed");
    assert_eq!(q.dead_letters().await, Vec::<serde_json::Value>::new());
    assert_eq!(
        s.ops(S3Op::CreateMultipartUpload),
        1,
        "one upload for every attempt"
    );
}

/// An S3 Batch Operations task never hands off, work queue or not: its report
/// must not say `Succeeded` for an unfinished copy, so it answers
/// `TemporaryFailure` and Batch Operations retries it.
#[tokio::test]
async fn a_batch_operations_task_stops_with_a_temporary_failure_and_never_hands_off() {
    let s = Stack::new("work-queue-batch").await;
    let q = Queues::new(
        "work-queue-batch",
        VISIBILITY_TIMEOUT_SECONDS,
        MAX_RECEIVE_COUNT,
    )
    .await;
    put(&s, "big.bin", common::bytes_of(SIZE, 33)).await;
    let mut env = STREAMED.to_vec();
    env.extend([
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
    ]);
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &env).await;
    let task = super::batch_operations::invocation_1_0(&s.source, "big.bin", None);
    let post = function
        .invoke_spec(InvocationSpec::new(task.to_string()).with_timeout(TIMEOUT))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", post.json());
    let result = &post.json()["results"][0];
    assert_eq!(result["resultCode"], "TemporaryFailure", "{result}");
    assert!(
        result["resultString"]
            .as_str()
            .is_some_and(|text| text.starts_with("Copy.Continue")),
        "{result}"
    );
    let left = q
        .mapping(1, TIMEOUT)
        .messages_left()
        .await
        .expect("count the queue's messages");
    assert_eq!(left, 0, "nothing was handed to the work queue");
    assert_eq!(
        s.open_uploads().await,
        1,
        "the upload is kept for the retry"
    );
}

/// Receives the permanent-failure test allows before the dead-letter queue.
const PERMANENT_MAX_RECEIVE_COUNT: u32 = 3;

/// A hand-off whose copy fails for good (its source is gone) comes back
/// within seconds too, so it reaches the dead-letter queue in as many quick
/// receives as the queue allows, not one visibility timeout (here a minute)
/// apart.
#[tokio::test]
async fn a_handed_off_copy_that_fails_for_good_reaches_the_dead_letter_queue_quickly() {
    let s = Stack::new("work-queue-gone").await;
    let q = Queues::new(
        "work-queue-gone",
        VISIBILITY_TIMEOUT_SECONDS,
        PERMANENT_MAX_RECEIVE_COUNT,
    )
    .await;
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
    ];
    let function = crate::common::function::start(&env).await;
    let missing = s3_event(&[(
        &s.source,
        "gone.bin",
        SIZE,
        "0123456789abcdef0123456789abcdef",
    )]);
    let progress = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("attempt 1 of 30 stopped at its deadline")
        .build()
        .expect("a message attribute");
    q.sqs
        .send_message()
        .queue_url(&q.url)
        .message_body(missing.to_string())
        .message_attributes(s3_stream_lambda::work_queue::HANDOFF_ATTRIBUTE, progress)
        .send()
        .await
        .expect("send the hand-off");
    let drained = q
        .mapping(1, TIMEOUT)
        .drain(&function.emulator, Duration::from_secs(45))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(
        drained.received, PERMANENT_MAX_RECEIVE_COUNT as usize,
        "{drained:?}"
    );
    let dead = q.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["Records"][0]["s3"]["object"]["key"], "gone.bin");
}
