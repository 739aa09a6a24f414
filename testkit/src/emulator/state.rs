//! The emulator's queue of events, invocations in flight and recorded posts.

use super::extension::Extensions;
use bytes::Bytes;
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Deadline of an invocation when the spec names none: Lambda's default
/// function timeout is 3 s, but tests and local runs want headroom.
pub const DEFAULT_INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Most retries Lambda makes of an asynchronous invocation (the function's
/// `MaximumRetryAttempts` ranges 0–2; 2 is the default).
pub const MAX_ASYNC_RETRY_ATTEMPTS: u32 = 2;

/// Lambda's waits before the retries of an asynchronous invocation: one
/// minute before the first, two before the second.
pub const LAMBDA_ASYNC_RETRY_WAITS: [Duration; MAX_ASYNC_RETRY_ATTEMPTS as usize] =
    [Duration::from_secs(60), Duration::from_secs(120)];

/// How Lambda retries an asynchronous invocation: a function error (an
/// `/error` post, the runtime's own timeout included) delivers the same event
/// again, with the same request id, after a wait, up to
/// `maximum_retry_attempts` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncRetries {
    /// Retries after the first attempt (at most [`MAX_ASYNC_RETRY_ATTEMPTS`]).
    pub maximum_retry_attempts: u32,
    /// The wait before each retry.
    pub waits: [Duration; MAX_ASYNC_RETRY_ATTEMPTS as usize],
}

impl AsyncRetries {
    /// Lambda's defaults: two retries, after one and two minutes.
    pub fn lambda() -> AsyncRetries {
        AsyncRetries {
            maximum_retry_attempts: MAX_ASYNC_RETRY_ATTEMPTS,
            waits: LAMBDA_ASYNC_RETRY_WAITS,
        }
    }

    /// `attempts` retries (capped at Lambda's maximum) after `wait`, then
    /// twice `wait`: Lambda's rhythm, shortened for a test.
    pub fn after(attempts: u32, wait: Duration) -> AsyncRetries {
        AsyncRetries {
            maximum_retry_attempts: attempts.min(MAX_ASYNC_RETRY_ATTEMPTS),
            waits: [wait, wait.saturating_mul(2)],
        }
    }

    /// The wait before retry number `retry` (from 1), if it is allowed.
    fn wait_before(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.maximum_retry_attempts {
            return None;
        }
        self.waits.get(retry as usize - 1).copied()
    }
}

/// How `/next` sends `Lambda-Runtime-Deadline-Ms`: Lambda's form, or one an
/// emulator has sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineHeader {
    /// Unix milliseconds of delivery plus the spec's timeout (Lambda's form).
    UnixMs,
    /// The spec's timeout in milliseconds (cargo-lambda's form).
    Duration,
    /// No header at all.
    Absent,
    /// This exact value (a far-future date, a past one, text).
    Value(String),
}

/// An event to deliver, with the headers `/next` will carry.
#[derive(Debug, Clone)]
pub struct InvocationSpec {
    /// The event body.
    pub body: Bytes,
    /// Time from delivery to the deadline.
    pub timeout: Duration,
    /// The shape of the deadline header.
    pub deadline_header: DeadlineHeader,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<String>,
    /// Omit the request id header (a contract violation, to test the client).
    pub omit_request_id: bool,
    /// Delivered asynchronously: retried after an error as Lambda does.
    pub retries: Option<AsyncRetries>,
    /// Which delivery this is: 0 first, then each retry's number.
    pub retry: u32,
}

impl InvocationSpec {
    /// An event with the default deadline and a trace id.
    pub fn new(body: impl Into<Bytes>) -> InvocationSpec {
        InvocationSpec {
            body: body.into(),
            timeout: DEFAULT_INVOCATION_TIMEOUT,
            deadline_header: DeadlineHeader::UnixMs,
            trace_id: Some(
                "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            ),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:s3-stream-lambda".into(),
            client_context: None,
            cognito_identity: None,
            omit_request_id: false,
            retries: None,
            retry: 0,
        }
    }

    /// The same event invoked asynchronously: an error post is followed by
    /// a retry as `retries` says.
    pub fn asynchronous(mut self, retries: AsyncRetries) -> InvocationSpec {
        self.retries = Some(retries);
        self
    }

    /// The same event with a deadline `timeout` after delivery.
    pub fn with_timeout(mut self, timeout: Duration) -> InvocationSpec {
        self.timeout = timeout;
        self
    }

    /// The same event with its deadline header sent as `shape`.
    pub fn with_deadline_header(mut self, shape: DeadlineHeader) -> InvocationSpec {
        self.deadline_header = shape;
        self
    }
}

/// Which endpoint a post went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// `/invocation/{id}/response`.
    Response,
    /// `/invocation/{id}/error`.
    Error,
    /// `/init/error`.
    InitError,
}

/// A post the emulator received, and what it answered.
#[derive(Debug, Clone)]
pub struct Post {
    /// The endpoint.
    pub kind: PostKind,
    /// The request id in the path (none for `/init/error`).
    pub request_id: Option<String>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The status the emulator answered.
    pub status: u16,
    /// When the post's body had fully arrived.
    pub received_at: std::time::Instant,
    /// The delivery it answered: 0 first, then each retry's number.
    pub retry: u32,
    /// Whether the emulator delivers the event again (an asynchronous
    /// invocation's error with retries left).
    pub retried: bool,
}

impl Post {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Everything the emulator knows, shared by its connections.
pub struct State {
    pub(super) extensions: Extensions,
    queue_tx: mpsc::UnboundedSender<(String, InvocationSpec)>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, InvocationSpec)>>,
    in_flight: Mutex<HashMap<String, InvocationSpec>>,
    posts: Mutex<Vec<Post>>,
    posted: Notify,
    next_requests: AtomicU64,
    next_asked: Notify,
    first_next_at: std::sync::OnceLock<std::time::Instant>,
    failing: AtomicBool,
    ids: AtomicU64,
}

impl Default for State {
    fn default() -> Self {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        State {
            extensions: Extensions::default(),
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::default(),
            posts: Mutex::default(),
            posted: Notify::new(),
            next_requests: AtomicU64::new(0),
            next_asked: Notify::new(),
            first_next_at: std::sync::OnceLock::new(),
            failing: AtomicBool::new(false),
            ids: AtomicU64::new(1),
        }
    }
}

impl State {
    pub(super) fn enqueue(&self, spec: InvocationSpec) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let id = format!("8476a536-e9f4-11e8-9739-{n:012x}");
        // The receiver lives as long as `self`, so sending cannot fail.
        let _ = self.queue_tx.send((id.clone(), spec));
        id
    }

    /// Waits for the next queued event and marks it in flight.
    pub(super) async fn next_event(&self) -> (String, InvocationSpec) {
        self.first_next_at.get_or_init(std::time::Instant::now);
        self.next_requests.fetch_add(1, Ordering::SeqCst);
        self.next_asked.notify_waiters();
        let mut queue = self.queue_rx.lock().await;
        loop {
            if let Some((id, spec)) = queue.recv().await {
                self.lock_in_flight().insert(id.clone(), spec.clone());
                return (id, spec);
            }
        }
    }

    /// Ends an invocation: its spec, or `None` when the id was not in flight.
    pub(super) fn finish(&self, request_id: &str) -> Option<InvocationSpec> {
        self.lock_in_flight().remove(request_id)
    }

    /// Schedules the retry of an asynchronous invocation that answered an
    /// error, when it has one left; true when it does. The event keeps its
    /// request id, as Lambda's retries do.
    pub(super) fn retry_after_error(
        self: &Arc<Self>,
        request_id: &str,
        spec: InvocationSpec,
    ) -> bool {
        let retry = spec.retry + 1;
        let Some(wait) = spec.retries.as_ref().and_then(|r| r.wait_before(retry)) else {
            return false;
        };
        let state = Arc::clone(self);
        let id = request_id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = state.queue_tx.send((id, InvocationSpec { retry, ..spec }));
        });
        true
    }

    pub(super) fn record(&self, post: Post) {
        if let Ok(mut posts) = self.posts.lock() {
            posts.push(post);
        }
        self.posted.notify_waiters();
    }

    pub(super) fn failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    pub(super) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub(super) fn posts(&self) -> Vec<Post> {
        self.posts.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub(super) fn post_count(&self) -> usize {
        self.posts.lock().map(|p| p.len()).unwrap_or(0)
    }

    pub(super) async fn wait_for_post_count(&self, count: usize, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.posted.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.post_count() >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    pub(super) fn first_next_at(&self) -> Option<std::time::Instant> {
        self.first_next_at.get().copied()
    }

    pub(super) fn next_requests(&self) -> u64 {
        self.next_requests.load(Ordering::SeqCst)
    }

    pub(super) async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&Post) -> bool,
    ) -> Option<Post> {
        let search = async {
            loop {
                let notified = self.posted.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(post) = self.posts().into_iter().find(|p| wanted(p)) {
                    return post;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, search).await.ok()
    }

    pub(super) async fn wait_for_next_requests(&self, count: u64, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.next_asked.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.next_requests() >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, InvocationSpec>> {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
