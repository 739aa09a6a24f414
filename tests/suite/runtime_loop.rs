//! The runtime loop against the in-repo Runtime API emulator, over HTTP.

use s3_stream_lambda::runtime::{
    self, Context, Diagnostic, Endpoint, InvocationHandler, RuntimeError, RuntimeOptions,
};
use s3_stream_testkit::emulator::{
    AsyncRetries, DeadlineHeader, InvocationSpec, PostKind, RuntimeApiEmulator,
};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// Upper bound for any single wait in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(10);

/// Marks the handler sets (`started:KEY`, `dropped:KEY`), so a test can wait
/// for a handler to be running, or for its future to have been dropped.
struct Marks {
    set: Mutex<HashSet<String>>,
    changed: Notify,
}

fn marks() -> &'static Marks {
    static MARKS: OnceLock<Marks> = OnceLock::new();
    MARKS.get_or_init(|| Marks {
        set: Mutex::new(HashSet::new()),
        changed: Notify::new(),
    })
}

fn mark(name: String) {
    marks().set.lock().unwrap().insert(name);
    marks().changed.notify_waiters();
}

/// Waits up to `WAIT` for `name` to be marked; fails the test otherwise.
async fn wait_for_mark(name: &str) {
    let wait = async {
        loop {
            let notified = marks().changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if marks().set.lock().unwrap().contains(name) {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{name} was not marked within {WAIT:?}"));
}

/// Deliveries seen per request id (`fail_times`).
fn deliveries() -> &'static Mutex<std::collections::HashMap<String, u64>> {
    static DELIVERIES: OnceLock<Mutex<std::collections::HashMap<String, u64>>> = OnceLock::new();
    DELIVERIES.get_or_init(Mutex::default)
}

/// Marks `dropped:KEY` when the handler's future is dropped, however it ends.
struct DropMark(String);

impl Drop for DropMark {
    fn drop(&mut self) {
        mark(format!("dropped:{}", self.0));
    }
}

#[derive(Deserialize)]
struct TestEvent {
    action: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// Does what the event says, so one handler covers every case.
struct ScriptedHandler;

impl InvocationHandler for ScriptedHandler {
    type Event = TestEvent;
    type Output = serde_json::Value;

    async fn call(
        &self,
        event: TestEvent,
        context: Context,
    ) -> Result<serde_json::Value, Diagnostic> {
        match event.action.as_str() {
            "echo" => Ok(
                serde_json::json!({"echo": event.value, "requestId": context.invocation.request_id}),
            ),
            "deadline" => Ok(serde_json::json!({
                "deadline_ms": context.invocation.deadline_ms,
                "reading": format!("{:?}", context.invocation.deadline_reading),
            })),
            "fail" => Err(Diagnostic::new("Test.Failure", "the event asked to fail")),
            "fail_times" => {
                // Fails the first `value` deliveries of its request id.
                let failures = event.value.as_u64().unwrap_or(0);
                let delivered = {
                    let mut seen = deliveries().lock().unwrap();
                    let count = seen
                        .entry(context.invocation.request_id.clone())
                        .or_insert(0);
                    *count += 1;
                    *count
                };
                if delivered <= failures {
                    Err(Diagnostic::new("Test.Failure", "failing this delivery"))
                } else {
                    Ok(serde_json::json!({"delivery": delivered}))
                }
            }
            "panic" => panic!("the event asked to panic"),
            "big" => Ok(serde_json::Value::String("x".repeat(7 * 1024 * 1024))),
            "wait_for_cancel" => {
                context.cancel.cancelled().await;
                Ok(
                    serde_json::json!({"remaining_ms": context.invocation.remaining().as_millis() as u64}),
                )
            }
            "ignore_cancel" => {
                // A handler stuck in a call that never returns, deaf to its token.
                let key = event.value.as_str().unwrap_or_default().to_owned();
                let _dropped = DropMark(key.clone());
                mark(format!("started:{key}"));
                tokio::time::sleep(Duration::from_secs(3_600)).await;
                Ok(serde_json::json!({"ignored": key}))
            }
            "mark_then_wait_for_cancel" => {
                let key = event.value.as_str().unwrap_or_default().to_owned();
                mark(format!("started:{key}"));
                context.cancel.cancelled().await;
                Ok(serde_json::json!({"cancelled": key}))
            }
            other => Err(Diagnostic::new("Test.UnknownAction", other)),
        }
    }
}

struct Harness {
    /// The loop exports each invocation's trace id into the process.
    _env: tokio::sync::RwLockReadGuard<'static, ()>,
    emulator: RuntimeApiEmulator,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RuntimeError>>,
}

async fn start(options: RuntimeOptions) -> Harness {
    let env = crate::common::PROCESS_ENV.read().await;
    let emulator = RuntimeApiEmulator::start().await.expect("emulator starts");
    let endpoint = Endpoint::parse(&emulator.endpoint()).expect("endpoint parses");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(runtime::run(endpoint, ScriptedHandler, options, async {
        let _ = stopped.await;
    }));
    Harness {
        _env: env,
        emulator,
        stop: Some(stop),
        task,
    }
}

impl Harness {
    async fn invoke(&self, spec: InvocationSpec) -> s3_stream_testkit::emulator::Post {
        let id = self.emulator.enqueue(spec);
        self.emulator
            .wait_for_result(&id, WAIT)
            .await
            .expect("a result is posted")
    }

    async fn invoke_json(&self, body: serde_json::Value) -> s3_stream_testkit::emulator::Post {
        self.invoke(InvocationSpec::new(body.to_string())).await
    }

    async fn stop(mut self) {
        self.stop_timed().await;
    }

    /// Fires the shutdown signal; returns how long the loop took to return `Ok`.
    async fn stop_timed(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("loop stops");
        let elapsed = started.elapsed();
        assert!(result.expect("loop task joins").is_ok());
        elapsed
    }
}

fn assert_error_post(post: &s3_stream_testkit::emulator::Post, error_type: &str) {
    assert_eq!(post.kind, PostKind::Error);
    assert_eq!(post.status, 202);
    assert_eq!(
        post.header("lambda-runtime-function-error-type"),
        Some(error_type)
    );
    assert_eq!(
        post.header("content-type"),
        Some(runtime::ERROR_CONTENT_TYPE)
    );
    let body = post.json();
    assert_eq!(body["errorType"], error_type);
    assert!(
        body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["stackTrace"], serde_json::json!([]));
}

/// Lambda's asynchronous retries, as the emulator models them: an error is
/// delivered again with the same request id until the retries are spent; a
/// synchronous invocation is never retried.
#[tokio::test]
async fn an_asynchronous_invocation_is_retried_with_its_request_id() {
    let harness = start(RuntimeOptions::default()).await;
    let wait = Duration::from_millis(50);
    let event =
        |failures: u64| serde_json::json!({"action": "fail_times", "value": failures}).to_string();
    let cases = [
        // (failures, retries allowed, async, posts expected, succeeds)
        (2, 2, true, 3, true),
        (5, 1, true, 2, false),
        (5, 0, true, 1, false),
        (1, 2, false, 1, false),
    ];
    for (failures, retries, asynchronous, posts, succeeds) in cases {
        let case = format!("{failures} failures, {retries} retries, async {asynchronous}");
        let mut spec = InvocationSpec::new(event(failures));
        if asynchronous {
            spec = spec.asynchronous(AsyncRetries::after(retries, wait));
        }
        let id = harness.emulator.enqueue(spec);
        let last = harness
            .emulator
            .wait_for_final_result(&id, WAIT)
            .await
            .unwrap_or_else(|| panic!("{case}: a final answer"));
        let attempts = harness.emulator.attempts(&id);
        assert_eq!(attempts.len(), posts, "{case}");
        for (retry, post) in attempts.iter().enumerate() {
            assert_eq!(post.retry, retry as u32, "{case}");
            assert_eq!(post.retried, retry + 1 < posts, "{case}");
        }
        if succeeds {
            assert_eq!(last.kind, PostKind::Response, "{case}");
            assert_eq!(last.json()["delivery"], posts as u64, "{case}");
        } else {
            assert_error_post(&last, "Test.Failure");
        }
    }
    harness.stop().await;
}

#[tokio::test]
async fn posts_the_handlers_json_as_the_response() {
    let harness = start(RuntimeOptions::default()).await;
    let post = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": [1, "two"]}))
        .await;
    assert_eq!(post.kind, PostKind::Response);
    assert_eq!(post.status, 202);
    let body = post.json();
    assert_eq!(body["echo"], serde_json::json!([1, "two"]));
    assert_eq!(body["requestId"], post.request_id.clone().unwrap());
    harness.stop().await;
}

#[tokio::test]
async fn posts_a_handler_error_in_the_documented_format() {
    let harness = start(RuntimeOptions::default()).await;
    let post = harness
        .invoke_json(serde_json::json!({"action": "fail"}))
        .await;
    assert_error_post(&post, "Test.Failure");
    assert_eq!(post.json()["errorMessage"], "the event asked to fail");
    harness.stop().await;
}

/// A panicking handler and event bodies the handler cannot take are error
/// posts of the runtime's types, and the loop serves the next invocation.
#[tokio::test]
async fn survives_a_handler_panic_and_malformed_event_bodies() {
    // (row, event body, error type, what its message holds)
    let cases = [
        (
            "handler panic",
            r#"{"action": "panic"}"#,
            "Runtime.HandlerPanic",
            "the event asked to panic",
        ),
        ("not json", "{not json", "Runtime.MalformedEvent", ""),
        (
            "wrong shape",
            r#"{"Records": []}"#,
            "Runtime.MalformedEvent",
            "action",
        ),
    ];
    let harness = start(RuntimeOptions::default()).await;
    for (n, (row, body, error_type, message)) in cases.into_iter().enumerate() {
        eprintln!("row {row}");
        let post = harness.invoke(InvocationSpec::new(body)).await;
        assert_error_post(&post, error_type);
        let said = post.json()["errorMessage"].as_str().unwrap().to_owned();
        assert!(said.contains(message), "{row}: {said}");
        let next = harness
            .invoke_json(serde_json::json!({"action": "echo", "value": n}))
            .await;
        assert_eq!(next.kind, PostKind::Response, "{row}");
        assert_eq!(next.json()["echo"], n, "{row}");
    }
    harness.stop().await;
}

#[tokio::test]
async fn fires_the_cancellation_signal_before_the_deadline() {
    let margin = Duration::from_millis(1_500);
    let harness = start(RuntimeOptions {
        safety_margin: margin,
        ..RuntimeOptions::default()
    })
    .await;
    let spec = InvocationSpec::new(serde_json::json!({"action": "wait_for_cancel"}).to_string())
        .with_timeout(Duration::from_secs(3));
    let post = harness.invoke(spec).await;
    // The handler saw the signal no earlier than `margin` before the
    // deadline and answered itself (no `Runtime.HandlerTimeout`). How late a
    // loaded machine wakes it is the machine's; the exact instant is the
    // supervisor's unit test, on a paused clock.
    assert_eq!(post.kind, PostKind::Response, "{:?}", post.json());
    let remaining = post.json()["remaining_ms"].as_u64().unwrap();
    assert!(
        remaining <= margin.as_millis() as u64,
        "signalled early: {remaining} ms left"
    );
    harness.stop().await;
}

#[tokio::test]
async fn keeps_serving_after_a_413() {
    let harness = start(RuntimeOptions::default()).await;
    let big = harness
        .invoke_json(serde_json::json!({"action": "big"}))
        .await;
    assert_eq!(big.kind, PostKind::Response);
    assert_eq!(big.status, 413);
    let next = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": 4}))
        .await;
    assert_eq!(next.status, 202);
    assert_eq!(next.json()["echo"], 4);
    harness.stop().await;
}

#[tokio::test]
async fn skips_an_invocation_without_request_id() {
    let harness = start(RuntimeOptions::default()).await;
    let mut spec = InvocationSpec::new(serde_json::json!({"action": "echo"}).to_string());
    spec.omit_request_id = true;
    harness.emulator.enqueue(spec);
    let next = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": 5}))
        .await;
    assert_eq!(next.json()["echo"], 5);
    assert_eq!(
        harness.emulator.posts().len(),
        1,
        "nothing posted for the id-less invocation"
    );
    harness.stop().await;
}

#[tokio::test]
async fn exits_promptly_after_a_500() {
    let harness = start(RuntimeOptions::default()).await;
    let first = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": 6}))
        .await;
    assert_eq!(first.status, 202);
    harness.emulator.fail_everything(true);
    harness.emulator.enqueue(InvocationSpec::new(
        serde_json::json!({"action": "echo"}).to_string(),
    ));
    // The loop is parked in /next; a fresh event makes it answer, and the
    // next request (response post or /next) gets 500.
    let result = tokio::time::timeout(WAIT, harness.task)
        .await
        .expect("loop exits promptly");
    match result.expect("loop task joins") {
        Err(RuntimeError::Fatal { status, .. }) => assert_eq!(status, 500),
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[tokio::test]
async fn posts_a_timeout_error_before_the_deadline_when_the_handler_ignores_cancellation() {
    let harness = start(RuntimeOptions {
        safety_margin: Duration::from_millis(1_000),
        ..RuntimeOptions::default()
    })
    .await;
    let timeout = Duration::from_millis(1_500);
    let started = Instant::now();
    let spec = InvocationSpec::new(
        serde_json::json!({"action": "ignore_cancel", "value": "deadline"}).to_string(),
    )
    .with_timeout(timeout);
    let post = harness.invoke(spec).await;
    // The deadline is `timeout` after delivery, and delivery came after
    // `started`: the stop is never earlier than `POST_RESERVE` before it (1 ms
    // for the header's whole milliseconds). Its exact instant is the
    // supervisor's unit test, on a paused clock.
    let elapsed = started.elapsed();
    assert_error_post(&post, "Runtime.HandlerTimeout");
    let hard_stop = timeout - runtime::POST_RESERVE;
    assert!(
        elapsed + Duration::from_millis(1) >= hard_stop,
        "the handler was stopped early, after {elapsed:?}"
    );
    let message = post.json()["errorMessage"].as_str().unwrap().to_owned();
    assert!(message.contains("before the deadline"), "{message}");
    // The stuck handler's future is dropped, not leaked, and the loop goes on.
    wait_for_mark("dropped:deadline").await;
    let next = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": 7}))
        .await;
    assert_eq!(next.json()["echo"], 7);
    harness.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_the_handler_posts_its_result_and_stops() {
    let mut harness = start(RuntimeOptions::default()).await;
    let id = harness.emulator.enqueue(InvocationSpec::new(
        serde_json::json!({"action": "mark_then_wait_for_cancel", "value": "graceful"}).to_string(),
    ));
    wait_for_mark("started:graceful").await;
    assert_eq!(harness.emulator.post_count(), 0);
    // The handler returns at its signal and the loop posts within the window
    // (how long the loop took is the machine's; the window's arithmetic is
    // the supervisor's unit test).
    harness.stop_timed().await;
    let post = harness
        .emulator
        .wait_for_result(&id, WAIT)
        .await
        .expect("the result is posted before the loop stops");
    assert_eq!(post.kind, PostKind::Response, "{:?}", post.json());
    assert_eq!(post.json()["cancelled"], "graceful");
}

#[tokio::test]
async fn shutdown_stops_a_deaf_handler_within_the_window() {
    let mut harness = start(RuntimeOptions::default()).await;
    let id = harness.emulator.enqueue(InvocationSpec::new(
        serde_json::json!({"action": "ignore_cancel", "value": "shutdown"}).to_string(),
    ));
    wait_for_mark("started:shutdown").await;
    let elapsed = harness.stop_timed().await;
    // Never before its budget; how long after is the machine's (the exact
    // instant is the supervisor's unit test, on a paused clock).
    let budget = runtime::SHUTDOWN_WINDOW - runtime::SHUTDOWN_EXIT_RESERVE;
    assert!(
        elapsed >= budget,
        "the loop took {elapsed:?} to stop; the handler had {budget:?}"
    );
    wait_for_mark("dropped:shutdown").await;
    // Posting was skipped: the handler used the whole budget.
    assert!(
        harness
            .emulator
            .wait_for_result(&id, Duration::from_millis(100))
            .await
            .is_none(),
        "no time was left to post"
    );
}

/// Milliseconds since the Unix epoch, now.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

#[tokio::test]
async fn reads_every_shape_of_deadline_header_as_documented() {
    // An assumed timeout unlike any spec's, so the tests tell them apart.
    let assumed = Duration::from_secs(123);
    let harness = start(RuntimeOptions {
        assumed_timeout: assumed,
        ..RuntimeOptions::default()
    })
    .await;
    let timeout = Duration::from_secs(600);
    let cases = [
        (DeadlineHeader::UnixMs, "UnixMs", timeout),
        (DeadlineHeader::Duration, "Duration", timeout),
        (DeadlineHeader::Absent, "Missing", assumed),
        (
            DeadlineHeader::Value("3228130696703".into()),
            "FarFuture",
            assumed,
        ),
        (
            DeadlineHeader::Value("in ten minutes".into()),
            "Unparsable",
            assumed,
        ),
    ];
    for (shape, reading, expected) in cases {
        // The header is read between the enqueue and the post: the deadline
        // lies between those instants plus what the shape gives.
        let before = unix_ms();
        let spec = InvocationSpec::new(serde_json::json!({"action": "deadline"}).to_string())
            .with_timeout(timeout)
            .with_deadline_header(shape.clone());
        let post = harness.invoke(spec).await;
        let after = unix_ms();
        assert_eq!(post.kind, PostKind::Response, "{shape:?}: {}", post.json());
        let body = post.json();
        assert_eq!(body["reading"], reading, "{shape:?}");
        let deadline_ms = body["deadline_ms"].as_u64().expect("deadline_ms");
        let expected = expected.as_millis() as u64;
        assert!(
            (before + expected..=after + expected).contains(&deadline_ms),
            "{shape:?}: deadline {deadline_ms} outside [{}, {}]",
            before + expected,
            after + expected
        );
    }
    harness.stop().await;
}

#[tokio::test]
async fn a_deadline_past_at_receipt_is_an_error_post_naming_the_header() {
    let harness = start(RuntimeOptions::default()).await;
    for value in ["1000000000000", "0"] {
        let spec = InvocationSpec::new(serde_json::json!({"action": "echo"}).to_string())
            .with_deadline_header(DeadlineHeader::Value(value.into()));
        let post = harness.invoke(spec).await;
        assert_error_post(&post, "Runtime.InvalidInvocation");
        let message = post.json()["errorMessage"].as_str().unwrap().to_owned();
        assert!(
            message.contains("lambda-runtime-deadline-ms") && message.contains(value),
            "{message}"
        );
    }
    // The loop goes on.
    let next = harness
        .invoke_json(serde_json::json!({"action": "echo", "value": 8}))
        .await;
    assert_eq!(next.json()["echo"], 8);
    harness.stop().await;
}
