//! The Lambda Runtime API loop: `/next`, run the handler, post `/response` or `/error`.

mod api;
mod client;
pub mod deadline;
pub mod diagnostic;
mod endpoint;
pub mod extension;
mod invocation;
mod invocation_handler;
mod supervisor;

pub use api::ERROR_CONTENT_TYPE;
pub use client::ClientError;
pub use diagnostic::{Diagnostic, error_chain, error_type};
pub use endpoint::{Endpoint, EndpointError};
pub use invocation::{Invocation, InvocationHeaderError, header};
pub use invocation_handler::{Context, InvocationHandler};

use api::{InitError, InvocationResponse, NextInvocation};
use bytes::Bytes;
use client::RuntimeApiClient;
use http::StatusCode;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long before the deadline the handler's cancellation signal fires by
/// default: enough to abort in-flight multipart uploads (one request each) and
/// post the error while Lambda still listens, small next to any useful timeout.
pub const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(2_000);

/// Time kept before Lambda's deadline to post the error ourselves: a handler
/// that has not returned by `deadline - POST_RESERVE` (its cancellation signal
/// fired earlier) is stopped and `Runtime.HandlerTimeout` is posted. One small
/// loopback post takes well under a millisecond; 200 ms absorbs a loaded
/// sandbox without taking much from the handler.
pub const POST_RESERVE: Duration = Duration::from_millis(200);

/// Lambda's graceful-shutdown window for a runtime with an internal
/// extension: after SIGTERM the process has 500 ms (300 ms without one) before
/// SIGKILL, as AWS documents for the shutdown phase.
pub const SHUTDOWN_WINDOW: Duration = Duration::from_millis(500);

/// Part of [`SHUTDOWN_WINDOW`] kept for leaving: after SIGTERM the handler and
/// the post of its result get the window minus this, so the process exits
/// (drops the tokio runtime, flushes its logs) before SIGKILL.
pub const SHUTDOWN_EXIT_RESERVE: Duration = Duration::from_millis(50);

const _: () = assert!(
    POST_RESERVE.as_millis() < DEFAULT_SAFETY_MARGIN.as_millis()
        && SHUTDOWN_EXIT_RESERVE.as_millis() < SHUTDOWN_WINDOW.as_millis(),
    "the handler's signal must come before the runtime's own stop, and the shutdown window must outlast its exit reserve"
);

/// Pause before asking `/next` again after it answered neither an event nor
/// 500: keeps a misbehaving API from turning the loop into a busy spin.
pub const NEXT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Environment variable Lambda reads the X-Ray trace header from.
pub const TRACE_ID_ENV: &str = "_X_AMZN_TRACE_ID";

/// Options of the runtime loop.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// How long before the deadline the cancellation signal fires.
    pub safety_margin: Duration,
    /// The timeout assumed when `/next` gives no real deadline (absent,
    /// unparsable or far-future header: see [`deadline`]).
    pub assumed_timeout: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            safety_margin: DEFAULT_SAFETY_MARGIN,
            assumed_timeout: deadline::MAX_LAMBDA_TIMEOUT,
        }
    }
}

/// Why the runtime loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The Runtime API could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The Runtime API answered 500: the runtime must exit promptly.
    #[error("runtime api answered {status} to {route}: the runtime must exit")]
    Fatal {
        /// The route that failed.
        route: &'static str,
        /// Its status.
        status: StatusCode,
    },
}

/// Serves invocations from `endpoint` with `handler` until `shutdown`
/// completes (returns `Ok`) or the Runtime API fails (returns the error).
///
/// `shutdown` is Lambda's SIGTERM in the function. When it completes while a
/// handler runs, the handler's cancellation token fires, the handler gets
/// until [`SHUTDOWN_WINDOW`] minus [`SHUTDOWN_EXIT_RESERVE`] to return, its
/// result is posted if time is left, and the loop returns `Ok`.
///
/// # Cancellation
///
/// Dropping the future aborts the handler's task of the invocation in flight;
/// nothing is posted for it.
pub async fn run<H: InvocationHandler>(
    endpoint: Endpoint,
    handler: H,
    options: RuntimeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let handler = Arc::new(handler);
    let mut client = RuntimeApiClient::new(endpoint);
    tokio::pin!(shutdown);
    tracing::debug!("runtime loop serving {}", client.endpoint());
    let mut readings_logged = deadline::ReadingsLogged::default();
    loop {
        let next = tokio::select! {
            () = &mut shutdown => {
                tracing::info!("shutdown signal while waiting for an event: stopping");
                return Ok(());
            }
            next = client.send(&NextInvocation) => next?,
        };
        match next.status {
            StatusCode::OK => {}
            StatusCode::INTERNAL_SERVER_ERROR => {
                return Err(RuntimeError::Fatal {
                    route: "invocation/next",
                    status: next.status,
                });
            }
            status => {
                tracing::warn!(
                    "runtime api answered {status} to invocation/next: {}",
                    lossy(&next.body)
                );
                tokio::time::sleep(NEXT_RETRY_DELAY).await;
                continue;
            }
        }
        let receipt = deadline::Receipt::now();
        let invocation =
            match Invocation::from_headers(&next.headers, receipt, options.assumed_timeout) {
                Ok(invocation) => Arc::new(invocation),
                Err(InvocationHeaderError::MissingRequestId) => {
                    tracing::error!("{}", InvocationHeaderError::MissingRequestId);
                    continue;
                }
                Err(error @ InvocationHeaderError::DeadlinePassed { .. }) => {
                    let message = error_chain(&error);
                    tracing::error!("{message}");
                    let diagnostic = Diagnostic::new(error_type::INVALID_INVOCATION, message);
                    if let InvocationHeaderError::DeadlinePassed { request_id, .. } = &error {
                        post_error(&mut client, request_id, &diagnostic).await?;
                    }
                    continue;
                }
            };
        if readings_logged.first(invocation.deadline_reading) {
            log_deadline_reading(&next.headers, &invocation, &options);
        }
        crate::logging::set_request_id(Some(&invocation.request_id));
        export_trace_id(invocation.trace_id.as_deref());
        let outcome = supervisor::invoke(
            &handler,
            next.body,
            Arc::clone(&invocation),
            &options,
            shutdown.as_mut(),
        )
        .await;
        if let Err(diagnostic) = &outcome.result {
            tracing::error!("invocation failed: {diagnostic}");
        }
        let posted = post_outcome(&mut client, &invocation.request_id, outcome.result);
        let Some(by) = outcome.shutdown_by else {
            let result = posted.await;
            crate::logging::set_request_id(None);
            result?;
            continue;
        };
        // Shutting down: post if Lambda's window allows, then stop; a failed
        // post changes nothing about the exit.
        let posted = if tokio::time::Instant::now() < by {
            tokio::time::timeout_at(by, posted).await.ok()
        } else {
            None
        };
        match posted {
            Some(Ok(())) => {}
            Some(Err(error)) => tracing::warn!(
                "failed to post the result while shutting down: {}",
                error_chain(&error)
            ),
            None => tracing::warn!("no time left to post the result before exiting"),
        }
        crate::logging::set_request_id(None);
        tracing::info!("shutdown signal: stopping");
        return Ok(());
    }
}

/// Says, once per process for each shape of deadline header, how it was
/// read: Lambda's Unix ms at debug level, an emulator's shape at info, a
/// deadline the runtime had to assume at warn.
fn log_deadline_reading(
    headers: &http::HeaderMap,
    invocation: &Invocation,
    options: &RuntimeOptions,
) {
    let value = headers
        .get(header::DEADLINE_MS)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let line = deadline::describe(
        value.as_deref(),
        invocation.deadline_reading,
        options.assumed_timeout,
    );
    let left = invocation.remaining().as_millis();
    match invocation.deadline_reading {
        deadline::DeadlineReading::UnixMs => tracing::debug!("{line}: {left} ms left"),
        deadline::DeadlineReading::Duration => tracing::info!("{line}: {left} ms left"),
        _ => tracing::warn!("{line}: {left} ms left"),
    }
}

/// Posts `/init/error` for a start-up failure. The caller exits non-zero next.
pub async fn report_init_error(
    endpoint: &Endpoint,
    diagnostic: &Diagnostic,
) -> Result<(), RuntimeError> {
    let mut client = RuntimeApiClient::new(endpoint.clone());
    let response = client.send(&InitError { diagnostic }).await?;
    check_post(response.status, &response.body, "init/error")
}

async fn post_outcome(
    client: &mut RuntimeApiClient,
    request_id: &str,
    result: Result<Bytes, Diagnostic>,
) -> Result<(), RuntimeError> {
    match result {
        Ok(body) => post_response(client, request_id, body).await,
        Err(diagnostic) => post_error(client, request_id, &diagnostic).await,
    }
}

async fn post_response(
    client: &mut RuntimeApiClient,
    request_id: &str,
    body: Bytes,
) -> Result<(), RuntimeError> {
    let response = client
        .send(&InvocationResponse { request_id, body })
        .await?;
    check_post(response.status, &response.body, "invocation/response")
}

async fn post_error(
    client: &mut RuntimeApiClient,
    request_id: &str,
    diagnostic: &Diagnostic,
) -> Result<(), RuntimeError> {
    let request = api::InvocationError {
        request_id,
        diagnostic,
    };
    let response = client.send(&request).await?;
    check_post(response.status, &response.body, "invocation/error")
}

/// 202 is success; 500 means exit; anything else (400, 403, 410, 413 …) is
/// logged and the loop goes on, as the Runtime API contract asks.
fn check_post(status: StatusCode, body: &[u8], route: &'static str) -> Result<(), RuntimeError> {
    match status {
        StatusCode::ACCEPTED | StatusCode::OK => Ok(()),
        StatusCode::INTERNAL_SERVER_ERROR => Err(RuntimeError::Fatal { route, status }),
        StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::error!(
                "runtime api refused the {route} post as too large (413): {}",
                lossy(body)
            );
            Ok(())
        }
        status => {
            tracing::error!(
                "runtime api answered {status} to the {route} post: {}",
                lossy(body)
            );
            Ok(())
        }
    }
}

fn lossy(body: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(body)
}

/// Sets or clears `_X_AMZN_TRACE_ID` for the invocation, as Lambda runtimes do,
/// so the SDK's recursion detection and X-Ray see the invocation's trace.
fn export_trace_id(trace_id: Option<&str>) {
    // SAFETY: Rust's environment accessors share one lock, so no Rust reader
    // races this write, and Lambda runs one invocation per process at a time.
    // libc reads the environment too (getaddrinfo, on tokio's blocking
    // threads); a lookup left running by a timed-out invocation could race
    // this write, the same narrow window every Lambda runtime that exports
    // the trace id (lambda_runtime included) accepts.
    unsafe {
        match trace_id {
            Some(trace_id) => std::env::set_var(TRACE_ID_ENV, trace_id),
            None => std::env::remove_var(TRACE_ID_ENV),
        }
    }
}
