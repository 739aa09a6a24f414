//! A no-op function on this crate's runtime: the cold-start and size baseline.

use s3_stream_lambda::runtime::{
    self, Context, Diagnostic, Endpoint, InvocationHandler, RuntimeOptions,
};
use std::process::ExitCode;

struct Hello;

impl InvocationHandler for Hello {
    type Event = serde_json::Value;
    type Output = serde_json::Value;

    async fn call(
        &self,
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<serde_json::Value, Diagnostic> {
        Ok(serde_json::json!({"hello": "world"}))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(endpoint) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .and_then(|v| Endpoint::parse(&v).ok())
    else {
        return ExitCode::FAILURE;
    };
    match runtime::run(
        endpoint,
        Hello,
        RuntimeOptions::default(),
        std::future::pending(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
