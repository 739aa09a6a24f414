//! `bootstrap invoke EVENT.json`: the handler run once on an event file, its response printed.

use super::{cancel_on_signal, usage_error};
use crate::config::Config;
use crate::handler::CopyHandler;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub(super) async fn invoke(path: &str) -> ExitCode {
    let body = match std::fs::read(path) {
        Ok(body) => body,
        Err(error) => return usage_error(&format!("failed to read {path}: {error}")),
    };
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => return usage_error(&format!("{path} is not json: {error}")),
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    let cancel = CancellationToken::new();
    cancel_on_signal(&cancel);
    // No Runtime API sends a deadline here: the handler gets the timeout a
    // deadline-less invocation is assumed to have.
    let margin = config.deadline_margin;
    let timeout = config.assumed_timeout;
    let timer = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout.saturating_sub(margin)).await;
            cancel.cancel();
        })
    };
    let stop_at = tokio::time::Instant::now() + timeout.saturating_sub(margin);
    let handler = CopyHandler::new(crate::s3::client_from_env().await, config);
    let result = handler.handle(event, &cancel, Some(stop_at)).await;
    timer.abort();
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.has_failures() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(diagnostic) => {
            println!("{}", String::from_utf8_lossy(&diagnostic.to_json()));
            ExitCode::FAILURE
        }
    }
}
