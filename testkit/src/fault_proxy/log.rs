//! The exchange log: one entry per request, in arrival order, completed as it is answered.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use http::{Method, StatusCode};

use super::rule::RuleId;
use super::s3op::S3Op;

/// How the response to a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still being answered.
    Pending,
    /// The whole response was handed to the connection.
    Complete,
    /// The response was cut, failed upstream, or the client went away.
    Aborted,
}

/// One request the proxy saw and what it sent back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Request method.
    pub method: Method,
    /// Raw request path, e.g. `/bucket/key`.
    pub path: String,
    /// Raw query string without `?`; empty when there is none.
    pub query: String,
    /// The S3 operation the request was classified as.
    pub op: S3Op,
    /// The rule that fired on this request, if any.
    pub rule: Option<RuleId>,
    /// When the request head reached the proxy.
    pub arrived_at: Instant,
    /// When the upstream's answer reached the proxy, before any hold: the
    /// request was carried out. `None` for a request not (yet) forwarded.
    pub upstream_answered_at: Option<Instant>,
    /// Status sent to the client; `None` until known, or when no response was sent.
    pub status: Option<http::StatusCode>,
    /// When the last response byte was handed to the connection, or the response failed.
    pub responded_at: Option<Instant>,
    /// Response body bytes sent to the client.
    pub body_bytes: u64,
    /// How the response ended.
    pub outcome: Outcome,
}

/// Shared store of exchanges, append-only between clears.
#[derive(Debug, Default)]
pub(super) struct Log {
    entries: Mutex<Entries>,
}

/// The entries and how many times they were cleared, so stale handles can tell.
#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    list: Vec<Exchange>,
}

impl Log {
    /// Locks the entries; a panic elsewhere cannot make the log unreadable.
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of every entry, in arrival order.
    pub(super) fn snapshot(&self) -> Vec<Exchange> {
        self.entries().list.clone()
    }

    /// Forgets every entry; handles of requests still in flight stop recording.
    pub(super) fn clear(&self) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.list.clear();
    }

    /// Appends the entry for a request that just arrived.
    pub(super) fn begin(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        op: S3Op,
        rule: Option<RuleId>,
    ) -> ExchangeHandle {
        let mut entries = self.entries();
        entries.list.push(Exchange {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            op,
            rule,
            arrived_at: Instant::now(),
            upstream_answered_at: None,
            status: None,
            responded_at: None,
            body_bytes: 0,
            outcome: Outcome::Pending,
        });
        ExchangeHandle {
            log: Arc::clone(self),
            index: entries.list.len() - 1,
            generation: entries.generation,
            done: false,
        }
    }
}

/// Write access to one log entry; finishes it as aborted if dropped unfinished.
#[derive(Debug)]
pub(super) struct ExchangeHandle {
    log: Arc<Log>,
    index: usize,
    generation: u64,
    done: bool,
}

impl ExchangeHandle {
    /// Applies `update` to this handle's entry, unless the log was cleared since.
    fn update(&self, update: impl FnOnce(&mut Exchange)) {
        let mut entries = self.log.entries();
        if entries.generation != self.generation {
            return;
        }
        if let Some(entry) = entries.list.get_mut(self.index) {
            update(entry);
        }
    }

    /// Records that the upstream answered, now.
    pub(super) fn upstream_answered(&self) {
        let now = Instant::now();
        self.update(|e| e.upstream_answered_at = Some(now));
    }

    /// Records the status the client is being sent.
    pub(super) fn set_status(&self, status: StatusCode) {
        self.update(|e| e.status = Some(status));
    }

    /// Records the end of the response, now.
    pub(super) fn finish(&mut self, outcome: Outcome, body_bytes: u64) {
        if self.done {
            return;
        }
        self.done = true;
        let now = Instant::now();
        self.update(|e| {
            e.responded_at = Some(now);
            e.body_bytes = body_bytes;
            e.outcome = outcome;
        });
    }
}

impl Drop for ExchangeHandle {
    fn drop(&mut self) {
        self.finish(Outcome::Aborted, 0);
    }
}
