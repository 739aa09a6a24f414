//! A Lambda Runtime API emulator on loopback, for tests, benches and the local stack.
//!
//! It follows the documented contract: `/next` long-polls for a queued event and
//! answers with every invocation header; `/response`, `/error` and `/init/error`
//! posts are recorded with their headers and answered 202; a response over
//! 6 MB + 100 bytes is answered 413, an unknown request id 400, and the emulator
//! can be told to answer 500 to everything.

pub mod header;
mod service;
mod state;

pub use state::{InvocationSpec, Post, PostKind};

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

    /// Waits up to `timeout` until `/next` has been asked `count` times.
    pub async fn wait_for_next_requests(&self, count: u64, timeout: Duration) -> bool {
        self.state.wait_for_next_requests(count, timeout).await
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
