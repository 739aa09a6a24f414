//! Start-up of the Lambda function: configuration, init errors, then the runtime loop.

use crate::config::Config;
use crate::handler::CopyHandler;
use crate::metrics::Metrics;
use crate::runtime::{self, Diagnostic, Endpoint, RuntimeOptions, error_type};
use crate::work_queue::WorkQueue;
use std::future::Future;
use std::process::ExitCode;

/// The environment variable Lambda sets to the Runtime API's address.
pub const RUNTIME_API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";

/// Exit code when start-up fails (configuration, endpoint).
pub const EXIT_INIT_FAILED: u8 = 1;

/// Exit code when the Runtime API tells the runtime to exit (500) or vanishes.
pub const EXIT_RUNTIME_FAILED: u8 = 2;

/// Serves invocations until the Runtime API says stop or SIGTERM arrives.
pub async fn serve() -> ExitCode {
    let Ok(value) = std::env::var(RUNTIME_API_ENV) else {
        eprintln!(
            "{RUNTIME_API_ENV} is not set: run inside Lambda, or see `bootstrap --help` for local use"
        );
        return ExitCode::from(EXIT_INIT_FAILED);
    };
    let endpoint = match Endpoint::parse(&value) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            tracing::error!("{error}");
            return ExitCode::from(EXIT_INIT_FAILED);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("{error}");
            let diagnostic = Diagnostic::new(error_type::INVALID_CONFIG, error.to_string());
            if let Err(post_error) = runtime::report_init_error(&endpoint, &diagnostic).await {
                tracing::error!(
                    "failed to post the init error: {}",
                    runtime::error_chain(&post_error)
                );
            }
            return ExitCode::from(EXIT_INIT_FAILED);
        }
    };
    let options = RuntimeOptions {
        safety_margin: config.deadline_margin,
        assumed_timeout: config.assumed_timeout,
    };
    // The SIGTERM handler first, so no signal finds the default action; then
    // the internal extension that makes Lambda send it, registered during
    // init, before the loop's first `/next`. Its round trip to the Runtime
    // API runs on a worker while this thread builds the S3 client.
    let shutdown = terminate_signal();
    let registering = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { runtime::extension::register_graceful_shutdown(&endpoint).await }
    });
    let shared = crate::s3::lambda_config_from_env().await;
    let client = crate::s3::client_with(&shared, crate::s3::force_path_style_from_env());
    let metrics = config
        .metrics_namespace
        .as_deref()
        .map(|namespace| Metrics::new(namespace, &config.function_name));
    // Built only when a work queue is set: a function without one pays
    // nothing for SQS at cold start.
    let max_hops = config.copy.resume.as_ref().map_or(1, |r| r.max_attempts);
    let work_queue = config
        .work_queue_url
        .clone()
        .map(|url| WorkQueue::new(&shared, url, max_hops));
    let handler = CopyHandler::new(client, config)
        .with_metrics(metrics)
        .with_work_queue(work_queue);
    let _extension = match registering.await {
        Ok(Ok(task)) => Some(task),
        Ok(Err(error)) => {
            tracing::warn!(
                "no graceful shutdown (lambda sends sigterm only with an extension registered): {}",
                runtime::error_chain(&error)
            );
            None
        }
        Err(error) => {
            tracing::warn!("no graceful shutdown: the registration task failed: {error}");
            None
        }
    };
    match runtime::run(endpoint, handler, options, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("runtime loop stopped: {}", runtime::error_chain(&error));
            ExitCode::from(EXIT_RUNTIME_FAILED)
        }
    }
}

/// Completes on SIGTERM (Lambda's shutdown, sent because of the internal
/// extension) or Ctrl-C. The SIGTERM handler is installed when this is
/// called, not when the future is first polled.
pub fn terminate_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(error) => {
                tracing::warn!("failed to listen for sigterm: {error}");
                None
            }
        }
    };
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => tracing::info!("sigterm received"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
