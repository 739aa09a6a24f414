//! The function behind a real queue: moto's SQS with a redrive policy, the
//! test kit's event-source-mapping stand-in, the real `bootstrap` through
//! the emulator. What the function answers decides what the queue keeps.

use crate::common::function::{self, s3_event};
use crate::common::queues::Queues;
use crate::common::{self, Stack};
use std::time::Duration;

/// Receives before the queue moves a message to its dead-letter queue.
const MAX_RECEIVE_COUNT: u32 = 3;

/// How long a received message stays invisible in the redrive test: short,
/// so a returned message comes back within seconds, yet far beyond the
/// invocation (tens of milliseconds), so none comes back while it runs.
const RETURN_VISIBILITY_TIMEOUT_SECONDS: u32 = 3;

/// The visibility timeout where nothing should come back: at least the
/// function's timeout, as Lambda requires of a trigger's queue (a message
/// still being copied must not be taken by a second sandbox).
const WORK_VISIBILITY_TIMEOUT_SECONDS: u32 = 60;

/// Longest the test waits for the queue to drain.
const PATIENCE: Duration = Duration::from_secs(120);

/// The function's timeout behind the test triggers.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

const _: () = assert!(
    WORK_VISIBILITY_TIMEOUT_SECONDS as u64 >= FUNCTION_TIMEOUT.as_secs(),
    "a message being copied must stay invisible for the function's whole timeout"
);

/// A copy, a message whose source is missing, and S3's test event, on one
/// queue: the copy lands and its message is deleted, the test event is
/// deleted, the failing message comes back until the redrive policy moves
/// it to the dead-letter queue, and nothing else goes there.
#[tokio::test]
async fn a_failing_message_returns_until_the_redrive_policy_moves_it() {
    let s = Stack::new("sqs-trigger").await;
    let q = Queues::new(
        "sqs-trigger",
        RETURN_VISIBILITY_TIMEOUT_SECONDS,
        MAX_RECEIVE_COUNT,
    )
    .await;
    let etag = s.put("ok.txt", b"hello".to_vec()).await;
    let bodies = [
        s3_event(&[(&s.source, "ok.txt", 5, &etag)]),
        s3_event(&[(
            &s.source,
            "missing.txt",
            5,
            "0123456789abcdef0123456789abcdef",
        )]),
        serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": s.source}),
    ];
    for body in &bodies {
        q.send(body).await;
    }
    let f = function::start(&[("DST_BUCKET", &s.destination)]).await;
    let mapping = q.mapping(10, FUNCTION_TIMEOUT);
    let drained = mapping
        .drain(&f.emulator, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", f.logs()));
    assert_eq!(s.get("ok.txt").await, b"hello");
    assert_eq!(
        drained.deleted, 2,
        "the copy and the test event: {drained:?}"
    );
    assert_eq!(
        drained.errors, 0,
        "the function answers, never errors: {drained:?}"
    );
    assert_eq!(
        drained.received,
        2 + MAX_RECEIVE_COUNT as usize,
        "the failing message was received {MAX_RECEIVE_COUNT} times: {drained:?}"
    );
    let bodies = q.dead_letters().await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(
        bodies[0]["Records"][0]["s3"]["object"]["key"], "missing.txt",
        "{bodies:?}"
    );
}

/// Copies the side-by-side test queues.
const CONCURRENT_COPIES: usize = 8;

/// Two sandboxes behind one trigger (maximum concurrency 2, batch size 1,
/// as the fan-out's segments will run): every message is taken once, both
/// sandboxes work, and every copy lands.
#[tokio::test]
async fn two_sandboxes_drain_one_queue_side_by_side() {
    let s = Stack::new("sqs-concurrent").await;
    let q = Queues::new(
        "sqs-concurrent",
        WORK_VISIBILITY_TIMEOUT_SECONDS,
        MAX_RECEIVE_COUNT,
    )
    .await;
    for i in 0..CONCURRENT_COPIES {
        let key = format!("object-{i}");
        let data = common::bytes_of(64 * 1024, i as u64);
        let etag = s.put(&key, data.clone()).await;
        let event = s3_event(&[(&s.source, &key, data.len(), &etag)]);
        q.send(&event).await;
    }
    let env = [("DST_BUCKET", s.destination.as_str())];
    let (first, second) = (function::start(&env).await, function::start(&env).await);
    let mapping = q.mapping(1, FUNCTION_TIMEOUT);
    let drained = mapping
        .drain_concurrently(&[&first.emulator, &second.emulator], PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", first.logs(), second.logs()));
    assert_eq!(drained.invocations, CONCURRENT_COPIES, "{drained:?}");
    assert_eq!(drained.deleted, CONCURRENT_COPIES, "{drained:?}");
    assert!(
        drained.per_sandbox.iter().all(|taken| *taken > 0),
        "both sandboxes worked: {drained:?}"
    );
    for i in 0..CONCURRENT_COPIES {
        assert_eq!(
            s.get(&format!("object-{i}")).await,
            common::bytes_of(64 * 1024, i as u64)
        );
    }
}
