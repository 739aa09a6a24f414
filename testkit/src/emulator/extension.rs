//! The emulator's Extensions API: registration, the event long-poll, and Lambda's shutdown phase.
//!
//! Status codes and error types follow AWS's Runtime Interface Emulator: every
//! refusal is 403 with an `Extension.*` error type. An extension is *internal*
//! unless the test declared its name external (as Lambda knows the external
//! ones from `/opt/extensions`); internal extensions may not subscribe to
//! `SHUTDOWN`. Registration closes when the runtime first asks for an
//! invocation, which ends Lambda's init phase. The shutdown phase is in
//! [`shutdown`](super::shutdown).

use super::header;
use super::service::{error, reply};
use super::shutdown::ShutdownPhase;
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};

/// `functionName` of the register response.
pub const FUNCTION_NAME: &str = "s3-stream-lambda";
/// `functionVersion` of the register response.
pub const FUNCTION_VERSION: &str = "$LATEST";
/// `handler` of the register response (a `provided` runtime's conventional value).
pub const FUNCTION_HANDLER: &str = "bootstrap";
/// `accountId` of the register response, sent only when the extension asked
/// for it with `Lambda-Extension-Accept-Feature: accountId`; matches the ARNs
/// of `InvocationSpec`.
pub const ACCOUNT_ID: &str = "123456789012";
/// Most extensions one function may register, Lambda's quota.
pub const MAX_EXTENSIONS: usize = 10;

/// One registered extension, as the emulator saw it.
#[derive(Debug, Clone)]
pub struct RegisteredExtension {
    /// `Lambda-Extension-Name`.
    pub name: String,
    /// The `Lambda-Extension-Identifier` it was given.
    pub id: String,
    /// The events it subscribed to.
    pub events: Vec<String>,
    /// True when the test declared the name external.
    pub external: bool,
    /// When it registered.
    pub registered_at: Instant,
    /// How many `/event/next` calls it made.
    pub next_calls: u64,
}

struct Entry {
    info: Mutex<RegisteredExtension>,
    events_tx: mpsc::UnboundedSender<serde_json::Value>,
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<serde_json::Value>>,
}

impl Entry {
    fn info(&self) -> MutexGuard<'_, RegisteredExtension> {
        self.info.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn subscribed(&self, event: &str) -> bool {
        self.info().events.iter().any(|e| e == event)
    }
}

/// The registry behind the Extensions API routes.
#[derive(Default)]
pub(super) struct Extensions {
    entries: Mutex<Vec<Arc<Entry>>>,
    external: Mutex<HashSet<String>>,
    closed: AtomicBool,
    pub(super) shutdown: Mutex<Option<ShutdownPhase>>,
    ids: AtomicU64,
    changed: Notify,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A UUID-shaped id, as Lambda's identifiers are.
fn uuid_like(kind: u16, n: u64) -> String {
    format!("5e1f0a11-{kind:04x}-4000-8000-{n:012x}")
}

/// True for `8-4-4-4-12` hex digits, the only identifiers Lambda accepts.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn forbidden(error_type: &str, message: &str) -> Response<Full<Bytes>> {
    error(StatusCode::FORBIDDEN, error_type, message)
}

impl Extensions {
    pub(super) fn declare_external(&self, name: &str) {
        lock(&self.external).insert(name.to_owned());
    }

    pub(super) fn close_registration(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(super) fn any_registered(&self) -> bool {
        !lock(&self.entries).is_empty()
    }

    pub(super) fn registered(&self) -> Vec<RegisteredExtension> {
        lock(&self.entries)
            .iter()
            .map(|e| e.info().clone())
            .collect()
    }

    /// `POST /extension/register`.
    pub(super) fn register(&self, headers: &HeaderMap, body: &[u8]) -> Response<Full<Bytes>> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(name) = text(header::EXTENSION_NAME).filter(|n| !n.is_empty()) else {
            return forbidden("Extension.InvalidExtensionName", "Empty extension name");
        };
        let events = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => match map.get("events") {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>(),
                None => Some(Vec::new()),
                Some(_) => None,
            },
            _ => None,
        };
        let Some(events) = events else {
            return forbidden(
                "InvalidRequestFormat",
                "the body must be {\"events\": [\"INVOKE\" | \"SHUTDOWN\", ...]}",
            );
        };
        let external = lock(&self.external).contains(name);
        for event in &events {
            match event.as_str() {
                "INVOKE" => {}
                "SHUTDOWN" if external => {}
                "SHUTDOWN" => {
                    return forbidden(
                        "Extension.InvalidEventType",
                        "SHUTDOWN: internal extensions cannot subscribe to the shutdown event",
                    );
                }
                other => {
                    return forbidden(
                        "Extension.InvalidEventType",
                        &format!("{other}: unknown event"),
                    );
                }
            }
        }
        let mut entries = lock(&self.entries);
        if self.closed.load(Ordering::SeqCst) {
            return forbidden(
                "Extension.RegistrationClosed",
                "Extension registration closed already",
            );
        }
        if entries.iter().any(|e| e.info().name == name) {
            return forbidden(
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            );
        }
        if entries.len() >= MAX_EXTENSIONS {
            return forbidden(
                "Extension.TooManyExtensions",
                &format!("Extension limit ({MAX_EXTENSIONS}) reached"),
            );
        }
        let id = uuid_like(1, self.ids.fetch_add(1, Ordering::Relaxed) + 1);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        entries.push(Arc::new(Entry {
            info: Mutex::new(RegisteredExtension {
                name: name.to_owned(),
                id: id.clone(),
                events,
                external,
                registered_at: Instant::now(),
                next_calls: 0,
            }),
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
        }));
        drop(entries);
        self.changed.notify_waiters();
        let mut document = serde_json::json!({
            "functionName": FUNCTION_NAME,
            "functionVersion": FUNCTION_VERSION,
            "handler": FUNCTION_HANDLER,
        });
        if text(header::EXTENSION_ACCEPT_FEATURE).is_some_and(|f| f.contains("accountId")) {
            document["accountId"] = ACCOUNT_ID.into();
        }
        let mut response = reply(StatusCode::OK, document);
        if let Ok(value) = http::HeaderValue::from_str(&id) {
            response
                .headers_mut()
                .insert(header::EXTENSION_IDENTIFIER, value);
        }
        response
    }

    /// `GET /extension/event/next`: long-polls for the extension's next
    /// event; an extension subscribed to nothing waits forever.
    pub(super) async fn next(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let Some(id) = headers
            .get(header::EXTENSION_IDENTIFIER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
        else {
            return forbidden(
                "Extension.MissingExtensionIdentifier",
                "Missing Lambda-Extension-Identifier header",
            );
        };
        if !is_uuid(id) {
            return forbidden(
                "Extension.InvalidExtensionIdentifier",
                "Invalid Lambda-Extension-Identifier",
            );
        }
        let entry = lock(&self.entries)
            .iter()
            .find(|e| e.info().id == id)
            .cloned();
        let Some(entry) = entry else {
            return forbidden(
                "Extension.UnknownExtensionIdentifier",
                &format!("Unknown extension {id}"),
            );
        };
        entry.info().next_calls += 1;
        self.changed.notify_waiters();
        let event = {
            let mut events = entry.events_rx.lock().await;
            // The sender lives in `entry`, so the queue never closes.
            events.recv().await
        };
        let Some(event) = event else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "event queue closed",
            );
        };
        let mut response = reply(StatusCode::OK, event);
        let event_id = uuid_like(2, self.ids.fetch_add(1, Ordering::Relaxed) + 1);
        if let Ok(value) = http::HeaderValue::from_str(&event_id) {
            response
                .headers_mut()
                .insert(header::EXTENSION_EVENT_IDENTIFIER, value);
        }
        response
    }

    /// Queues an `INVOKE` event for every extension subscribed to it.
    pub(super) fn deliver_invoke(
        &self,
        request_id: &str,
        deadline_ms: u64,
        function_arn: &str,
        trace_id: Option<&str>,
    ) {
        let mut event = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": function_arn,
        });
        if let Some(trace_id) = trace_id {
            event["tracing"] = serde_json::json!({"type": "X-Amzn-Trace-Id", "value": trace_id});
        }
        self.deliver("INVOKE", &event);
    }

    pub(super) fn deliver(&self, kind: &str, event: &serde_json::Value) {
        for entry in lock(&self.entries).iter().filter(|e| e.subscribed(kind)) {
            let _ = entry.events_tx.send(event.clone());
        }
    }

    /// Waits up to `timeout` until `count` extensions have each called `/event/next`.
    pub(super) async fn wait_ready(&self, count: usize, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self
                    .registered()
                    .iter()
                    .filter(|e| e.next_calls > 0)
                    .count()
                    >= count
                {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_uuid_shaped() {
        assert!(is_uuid(&uuid_like(1, 42)));
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("5e1f0a11-0001-4000-8000-00000000002g"));
    }
}
