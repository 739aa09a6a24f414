//! A Lambda Runtime API emulator on loopback, for tests, benches and the local stack.
//!
//! It follows the documented contract: `/next` long-polls for a queued event and
//! answers with every invocation header; `/response`, `/error` and `/init/error`
//! posts are recorded with their headers and answered 202; an asynchronous
//! invocation ([`InvocationSpec::asynchronous`]) answered with an error is
//! delivered again with the same request id, as Lambda retries it (the
//! emulator does not itself time invocations out: the runtime's own timeout
//! post stands for Lambda's); a response over
//! 6 MB + 100 bytes is answered 413, an unknown request id 400, and the emulator
//! can be told to answer 500 to everything.
//!
//! It also serves the Extensions API (`/2020-01-01/extension/register` and
//! `/extension/event/next`, see [`extension`]) and models Lambda's shutdown
//! phase: [`RuntimeApiEmulator::shutdown`] sends the runtime process SIGTERM
//! when an extension is registered (SIGKILL when none is, as Lambda does) and
//! queues `SHUTDOWN` for the extensions that subscribed to it (see [`shutdown`]).

pub mod extension;
pub mod header;
mod service;
pub mod shutdown;
mod state;

pub use extension::RegisteredExtension;
pub use shutdown::{ShutdownPhase, ShutdownSignal};
pub use state::{
    AsyncRetries, DeadlineHeader, InvocationSpec, LAMBDA_ASYNC_RETRY_WAITS,
    MAX_ASYNC_RETRY_ATTEMPTS, Post, PostKind,
};

use hyper_util::rt::TokioIo;
use state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest `/response` body the Runtime API accepts: 6 MB plus 100 bytes of
/// envelope allowance, as Lambda's synchronous-invoke payload quota states.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// A running emulator; stops serving when dropped.
pub struct RuntimeApiEmulator {
    addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
}

impl RuntimeApiEmulator {
    /// Starts an emulator on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<RuntimeApiEmulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(RuntimeApiEmulator::serve(listener))
    }

    /// Serves on `listener` (the caller chose the address).
    pub fn serve(listener: TcpListener) -> RuntimeApiEmulator {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, Arc::clone(&state), stop.clone()));
        RuntimeApiEmulator { addr, state, stop }
    }

    /// `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation; returns its request id.
    pub fn enqueue(&self, spec: InvocationSpec) -> String {
        self.state.enqueue(spec)
    }

    /// Waits up to `timeout` for the response or error posted for `request_id`.
    pub async fn wait_for_result(&self, request_id: &str, timeout: Duration) -> Option<Post> {
        let id = request_id.to_owned();
        self.state
            .wait_for(timeout, |post| {
                post.request_id.as_deref() == Some(id.as_str())
            })
            .await
    }

    /// Waits up to `timeout` for the last answer to `request_id`: a response,
    /// or an error no retry follows (an asynchronous invocation's retries
    /// keep its request id). A post refused as not in flight (400) answers
    /// nothing.
    pub async fn wait_for_final_result(&self, request_id: &str, timeout: Duration) -> Option<Post> {
        let id = request_id.to_owned();
        self.state
            .wait_for(timeout, |post| {
                post.request_id.as_deref() == Some(id.as_str())
                    && !post.retried
                    && post.status != 400
            })
            .await
    }

    /// The answers posted for `request_id`, one per delivery, in order.
    pub fn attempts(&self, request_id: &str) -> Vec<Post> {
        self.state
            .posts()
            .into_iter()
            .filter(|post| post.request_id.as_deref() == Some(request_id) && post.status != 400)
            .collect()
    }

    /// Waits up to `timeout` for an `/init/error` post.
    pub async fn wait_for_init_error(&self, timeout: Duration) -> Option<Post> {
        self.state
            .wait_for(timeout, |post| post.kind == PostKind::InitError)
            .await
    }

    /// Every post recorded so far, in arrival order.
    pub fn posts(&self) -> Vec<Post> {
        self.state.posts()
    }

    /// How many posts have arrived so far.
    pub fn post_count(&self) -> usize {
        self.state.post_count()
    }

    /// Waits up to `timeout` until `count` posts have arrived.
    pub async fn wait_for_post_count(&self, count: usize, timeout: Duration) -> bool {
        self.state.wait_for_post_count(count, timeout).await
    }

    /// How many `/next` requests have arrived so far.
    pub fn next_requests(&self) -> u64 {
        self.state.next_requests()
    }

    /// When the first `/next` request arrived (its headers read), if one has.
    pub fn first_next_at(&self) -> Option<std::time::Instant> {
        self.state.first_next_at()
    }

    /// Waits up to `timeout` until `/next` has been asked `count` times.
    pub async fn wait_for_next_requests(&self, count: u64, timeout: Duration) -> bool {
        self.state.wait_for_next_requests(count, timeout).await
    }

    /// Makes `name` an external extension (one Lambda found in
    /// `/opt/extensions`), which may subscribe to `SHUTDOWN`; every other
    /// name registers as an internal extension.
    pub fn declare_external_extension(&self, name: &str) {
        self.state.extensions.declare_external(name);
    }

    /// Every extension registered so far, in registration order.
    pub fn registered_extensions(&self) -> Vec<RegisteredExtension> {
        self.state.extensions.registered()
    }

    /// Waits up to `timeout` until `count` extensions have registered and
    /// called `/extension/event/next` (for Lambda, they are ready).
    pub async fn wait_for_extensions_ready(&self, count: usize, timeout: Duration) -> bool {
        self.state.extensions.wait_ready(count, timeout).await
    }

    /// Starts Lambda's shutdown phase without signalling any process (for a
    /// runtime loop in this process, whose shutdown future the test drives):
    /// registration closes, `SHUTDOWN` is queued for its subscribers. Only the
    /// first call starts a phase; later ones return it.
    pub fn request_shutdown(&self) -> ShutdownPhase {
        self.state.extensions.begin_shutdown()
    }

    /// Starts Lambda's shutdown phase for the runtime process `pid`: as
    /// [`request_shutdown`](Self::request_shutdown), then sends the phase's
    /// signal, SIGTERM when an extension is registered, SIGKILL otherwise.
    pub fn shutdown(&self, pid: u32) -> std::io::Result<ShutdownPhase> {
        let target = shutdown::process(pid)?;
        let phase = self.request_shutdown();
        shutdown::send(target, phase.signal)?;
        Ok(phase)
    }

    /// The shutdown phase, once one was started.
    pub fn shutdown_phase(&self) -> Option<ShutdownPhase> {
        self.state.extensions.shutdown_phase()
    }

    /// When set, every request is answered 500, as a broken Lambda service would.
    pub fn fail_everything(&self, failing: bool) {
        self.state.set_failing(failing);
    }
}

impl Drop for RuntimeApiEmulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let state = Arc::clone(&state);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                service::route(Arc::clone(&state), request)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = stop.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}
