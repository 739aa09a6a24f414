//! One invocation under supervision: decode, the handler in a task of its own, the cancellation signal, the hard stop and the shutdown.

use super::diagnostic::{Diagnostic, error_type};
use super::invocation::Invocation;
use super::invocation_handler::{Context, InvocationHandler};
use super::{POST_RESERVE, RuntimeOptions, SHUTDOWN_EXIT_RESERVE, SHUTDOWN_WINDOW};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one invocation came to.
pub(super) struct Outcome {
    /// The JSON to post to `/response`, or the diagnostic for `/error`.
    pub result: Result<Bytes, Diagnostic>,
    /// Set when the shutdown signal arrived: the loop posts by this instant
    /// if it still can, then stops.
    pub shutdown_by: Option<Instant>,
}

impl Outcome {
    fn done(result: Result<Bytes, Diagnostic>) -> Outcome {
        Outcome {
            result,
            shutdown_by: None,
        }
    }
}

/// The handler's task, aborted when this guard is dropped: every way out of
/// [`invoke`] (the hard stop, the caller dropping the future) stops it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Decodes the event and runs the handler under the panic guard, the
/// cancellation timer, the hard stop `POST_RESERVE` before the deadline, and
/// `shutdown` (which cancels the handler and bounds the wait for it by
/// Lambda's shutdown window). Encodes the handler's output.
///
/// # Cancellation
///
/// Dropping the future aborts the handler's task; `shutdown` is only polled,
/// never consumed, so the caller can still await it.
pub(super) async fn invoke<H, S>(
    handler: &Arc<H>,
    body: Bytes,
    invocation: Arc<Invocation>,
    options: &RuntimeOptions,
    mut shutdown: Pin<&mut S>,
) -> Outcome
where
    H: InvocationHandler,
    S: Future<Output = ()> + ?Sized,
{
    let event: H::Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => {
            return Outcome::done(Err(Diagnostic::new(
                error_type::MALFORMED_EVENT,
                format!("failed to decode the event: {error}"),
            )));
        }
    };
    let now = Instant::now();
    let deadline = invocation.deadline;
    let cancel_at = deadline.checked_sub(options.safety_margin).unwrap_or(now);
    // Never before the signal: the handler always gets the signal first.
    let deadline_stop = deadline
        .checked_sub(POST_RESERVE)
        .unwrap_or(now)
        .max(cancel_at);
    let mut stop_at = deadline_stop;
    let cancel = CancellationToken::new();
    let context = Context {
        invocation: Arc::clone(&invocation),
        cancel: cancel.clone(),
    };
    let mut task = {
        let handler = Arc::clone(handler);
        AbortOnDrop(tokio::spawn(
            async move { handler.call(event, context).await },
        ))
    };
    let mut shutdown_by = None;
    let joined = loop {
        tokio::select! {
            biased;
            joined = &mut task.0 => break joined,
            () = shutdown.as_mut(), if shutdown_by.is_none() => {
                let by = Instant::now() + SHUTDOWN_WINDOW - SHUTDOWN_EXIT_RESERVE;
                tracing::warn!(
                    "shutdown signal: cancelling the handler; it has {} ms to return",
                    by.saturating_duration_since(Instant::now()).as_millis()
                );
                cancel.cancel();
                shutdown_by = Some(by);
                stop_at = stop_at.min(by);
            }
            () = tokio::time::sleep_until(cancel_at), if !cancel.is_cancelled() => {
                tracing::warn!("deadline is near: cancelling the handler");
                cancel.cancel();
            }
            () = tokio::time::sleep_until(stop_at) => {
                cancel.cancel();
                let message = if stop_at < deadline_stop {
                    format!(
                        "the handler did not return within {} ms of the shutdown signal",
                        (SHUTDOWN_WINDOW - SHUTDOWN_EXIT_RESERVE).as_millis()
                    )
                } else {
                    format!(
                        "the handler did not return after its cancellation signal: stopped it {} ms before the deadline {} (unix ms) to post this error",
                        POST_RESERVE.as_millis(),
                        invocation.deadline_ms
                    )
                };
                // Returning drops `task`, which aborts the handler.
                return Outcome {
                    result: Err(Diagnostic::new(error_type::HANDLER_TIMEOUT, message)),
                    shutdown_by,
                };
            }
        }
    };
    cancel.cancel();
    Outcome {
        result: joined.map_err(join_diagnostic).and_then(|output| {
            let output = output?;
            serde_json::to_vec(&output)
                .map(Bytes::from)
                .map_err(|error| {
                    Diagnostic::new(
                        error_type::SERIALIZATION,
                        format!("failed to encode the response: {error}"),
                    )
                })
        }),
        shutdown_by,
    }
}

/// The diagnostic of a handler task that did not return (it panicked).
fn join_diagnostic(join_error: JoinError) -> Diagnostic {
    let message = match join_error.try_into_panic() {
        Ok(payload) => panic_message(payload.as_ref()),
        Err(_) => "the handler task was cancelled".to_owned(),
    };
    Diagnostic::new(
        error_type::HANDLER_PANIC,
        format!("handler panicked: {message}"),
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    //! On tokio's paused clock: timers fire exactly when the runtime sets
    //! them, so these assert the runtime's arithmetic, not how fast a loaded
    //! machine schedules it.

    use super::*;
    use crate::runtime::deadline::DeadlineReading;
    use crate::runtime::{DEFAULT_SAFETY_MARGIN, Invocation};
    use std::time::Duration;

    /// What the test handler does with its cancellation signal.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Returns when cancelled, with how long after the start that was.
        ReturnOnCancel,
        /// Never returns: a call deaf to its token.
        Deaf,
    }

    struct Handler {
        behaviour: Behaviour,
        started: Instant,
    }

    impl InvocationHandler for Handler {
        type Event = serde_json::Value;
        type Output = u64;

        async fn call(
            &self,
            _event: serde_json::Value,
            context: Context,
        ) -> Result<u64, Diagnostic> {
            match self.behaviour {
                Behaviour::ReturnOnCancel => {
                    context.cancel.cancelled().await;
                    Ok(self.started.elapsed().as_millis() as u64)
                }
                Behaviour::Deaf => {
                    std::future::pending::<()>().await;
                    Ok(0)
                }
            }
        }
    }

    fn invocation(timeout: Duration) -> Arc<Invocation> {
        Arc::new(Invocation {
            request_id: "r".into(),
            deadline_ms: 0,
            deadline: Instant::now() + timeout,
            deadline_reading: DeadlineReading::UnixMs,
            invoked_function_arn: String::new(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
        })
    }

    /// Runs one invocation of `behaviour` with `timeout`, the shutdown signal
    /// `shutdown_after` the start (never when `None`); returns the outcome
    /// and how long after the start it came.
    async fn run(
        behaviour: Behaviour,
        timeout: Duration,
        shutdown_after: Option<Duration>,
    ) -> (Outcome, Duration) {
        let started = Instant::now();
        let handler = Arc::new(Handler { behaviour, started });
        let shutdown = async move {
            match shutdown_after {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(shutdown);
        let outcome = invoke(
            &handler,
            Bytes::from_static(b"{}"),
            invocation(timeout),
            &RuntimeOptions::default(),
            shutdown,
        )
        .await;
        (outcome, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn the_signal_fires_the_safety_margin_before_the_deadline() {
        let timeout = Duration::from_secs(10);
        let (outcome, _) = run(Behaviour::ReturnOnCancel, timeout, None).await;
        let cancelled_after_ms = serde_json::from_slice::<u64>(&outcome.result.unwrap()).unwrap();
        assert_eq!(
            Duration::from_millis(cancelled_after_ms),
            timeout - DEFAULT_SAFETY_MARGIN
        );
        assert!(outcome.shutdown_by.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deaf_handler_is_stopped_the_post_reserve_before_the_deadline() {
        let timeout = Duration::from_secs(10);
        let (outcome, took) = run(Behaviour::Deaf, timeout, None).await;
        assert_eq!(took, timeout - POST_RESERVE);
        let diagnostic = outcome.result.unwrap_err();
        assert_eq!(diagnostic.error_type, error_type::HANDLER_TIMEOUT);
        assert!(outcome.shutdown_by.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn after_sigterm_a_deaf_handler_gets_the_window_less_the_exit_reserve() {
        let signal = Duration::from_secs(1);
        let (outcome, took) = run(Behaviour::Deaf, Duration::from_secs(60), Some(signal)).await;
        let budget = SHUTDOWN_WINDOW - SHUTDOWN_EXIT_RESERVE;
        assert_eq!(took, signal + budget);
        assert_eq!(
            outcome.result.unwrap_err().error_type,
            error_type::HANDLER_TIMEOUT
        );
        // The loop posts by this instant if it can, then stops: nothing is
        // left of the window to post in.
        let by = outcome.shutdown_by.expect("shutdown_by is set");
        assert!(by <= Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn after_sigterm_a_handler_that_returns_at_once_leaves_the_window_to_post() {
        let signal = Duration::from_secs(1);
        let (outcome, took) = run(
            Behaviour::ReturnOnCancel,
            Duration::from_secs(60),
            Some(signal),
        )
        .await;
        assert_eq!(took, signal);
        assert!(outcome.result.is_ok());
        let by = outcome.shutdown_by.expect("shutdown_by is set");
        assert_eq!(by - Instant::now(), SHUTDOWN_WINDOW - SHUTDOWN_EXIT_RESERVE);
    }
}
