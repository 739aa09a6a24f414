//! The work queue end to end: an asynchronous S3 notification whose copy needs many
//! invocations hands itself to a queue on moto's SQS and is answered success; the
//! test kit's event-source-mapping stand-in then feeds the real `bootstrap` from
//! that queue, each stop sending the record on as a new message, one hop further,
//! until the copy is whole.

use super::resume::{
    PART_DELAY, SIZE, STREAMED, assert_same_crc64nvme, checkpoints, put, record, slowed,
};
use crate::common::function::{Function, s3_event};
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
/// hop that waited for it (a stop that failed instead of handing off)
/// would wait this long.
const VISIBILITY_TIMEOUT_SECONDS: u32 = 60;

/// Receives of one hop's message before the work queue gives it up.
const MAX_RECEIVE_COUNT: u32 = 3;

/// Longest the test waits for the queue to drain: far less than one
/// visibility timeout per hop would need.
const PATIENCE: Duration = Duration::from_secs(90);

const _: () = assert!(VISIBILITY_TIMEOUT_SECONDS as u64 >= TIMEOUT.as_secs());

/// What each test starts from: the stack for `test` with `big.bin` (from
/// `seed`) in its source, a work queue, and a function handing off to it
/// whose part uploads are slowed; the object's bytes and its event.
struct Setup {
    s: Stack,
    q: Queues,
    function: Function,
    data: Vec<u8>,
    event: serde_json::Value,
}

async fn setup(test: &str, seed: u64) -> Setup {
    let s = Stack::new(test).await;
    let q = Queues::new(test, VISIBILITY_TIMEOUT_SECONDS, MAX_RECEIVE_COUNT).await;
    let data = common::bytes_of(SIZE, seed);
    let etag = put(&s, "big.bin", data.clone()).await;
    let mut env = STREAMED.to_vec();
    env.extend([
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
    ]);
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &env).await;
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    Setup {
        s,
        q,
        function,
        data,
        event,
    }
}

#[tokio::test]
async fn a_copy_needing_many_invocations_goes_on_from_the_work_queue() {
    let Setup {
        s,
        q,
        function,
        data,
        event,
    } = setup("work-queue", 32).await;

    // S3's asynchronous invocation: its only delivery is answered success.
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
    assert_eq!(
        (drained.received, drained.deleted),
        (drained.invocations, drained.invocations),
        "each hop is one message, received once and done: {drained:?}"
    );
    assert_eq!(drained.errors, 0, "every stop is answered: {drained:?}");

    let mut posts = function.emulator.posts();
    let last = posts.pop().expect("a post");
    let copied = record(&last);
    // Also when the previous hop's completion landed as its deadline cut
    // its answer off (a loaded machine): this hop finds it made.
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
    let Setup { s, q, function, .. } = setup("work-queue-batch", 33).await;
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

/// A record whose hops are spent (as many as a copy may take attempts) does
/// not hand off again: it fails with `Copy.Continue`, its message returns to
/// the queue, and nothing new is sent.
#[tokio::test]
async fn a_record_whose_hops_are_spent_is_not_handed_off_again() {
    // The stack is held to the end: dropping it stops its proxy.
    let Setup {
        s: _stack,
        q,
        function,
        event,
        ..
    } = setup("work-queue-hops", 34).await;
    // STREAMED allows 30 attempts: this message is the 30th hop.
    let hops = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("Number")
        .string_value("30")
        .build()
        .expect("a message attribute");
    q.sqs
        .send_message()
        .queue_url(&q.url)
        .message_body(event.to_string())
        .message_attributes(s3_stream_lambda::work_queue::HOPS_ATTRIBUTE, hops)
        .send()
        .await
        .expect("send the hand-off");
    let mapping = q.mapping(1, TIMEOUT);
    let round = mapping
        .poll_once(&function.emulator)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!((round.received, round.deleted), (1, 0), "{round:?}");
    let post = function.emulator.posts().pop().expect("a post");
    let stopped = record(&post);
    assert_eq!(stopped["errorType"], "Copy.Continue", "{stopped}");
    assert!(
        stopped["error"]
            .as_str()
            .is_some_and(|error| error.contains("handed off 30 times")),
        "{stopped}"
    );
    assert_eq!(
        mapping.messages_left().await.expect("count the messages"),
        1,
        "only the message itself, back after its visibility timeout"
    );
}
