//! The handler contract: what the runtime loop calls for each invocation.

use super::diagnostic::Diagnostic;
use super::invocation::Invocation;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a handler knows about the invocation it serves.
#[derive(Debug, Clone)]
pub struct Context {
    /// The invocation's headers; `invocation.deadline` is Lambda's deadline.
    pub invocation: Arc<Invocation>,
    /// Fires the runtime's safety margin before the deadline, or on SIGTERM:
    /// stop, clean up, and return an error while Lambda still listens. The
    /// handler then has until [`POST_RESERVE`](super::POST_RESERVE) before the
    /// deadline (on SIGTERM, the shutdown window) to return; after that the
    /// runtime posts `Runtime.HandlerTimeout` and drops the handler's future,
    /// so anything to undo must sit in `Drop` guards.
    pub cancel: CancellationToken,
}

/// A function the runtime loop serves.
///
/// The loop decodes the event (a decoding failure is posted as
/// `Runtime.MalformedEvent`), runs `call` in a task of its own (a panic is posted
/// as `Runtime.HandlerPanic`, a handler that outlives its cancellation is
/// stopped and posted as `Runtime.HandlerTimeout`), and posts the output or
/// the diagnostic.
pub trait InvocationHandler: Send + Sync + 'static {
    /// The event's JSON shape.
    type Event: DeserializeOwned + Send + 'static;
    /// The response's JSON shape.
    type Output: Serialize + Send + 'static;

    /// Handles one event.
    fn call(
        &self,
        event: Self::Event,
        context: Context,
    ) -> impl Future<Output = Result<Self::Output, Diagnostic>> + Send;
}
