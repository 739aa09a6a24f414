//! `_X_AMZN_TRACE_ID` is the invocation's trace id while the handler runs (the
//! environment is the process's: no other runtime loop runs meanwhile).

use s3_stream_lambda::runtime::{
    self, Context, Diagnostic, Endpoint, InvocationHandler, RuntimeOptions,
};
use s3_stream_testkit::emulator::{InvocationSpec, RuntimeApiEmulator};
use std::time::Duration;

struct TraceReader;

impl InvocationHandler for TraceReader {
    type Event = serde_json::Value;
    type Output = Option<String>;

    async fn call(
        &self,
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<Option<String>, Diagnostic> {
        Ok(std::env::var(runtime::TRACE_ID_ENV).ok())
    }
}

#[tokio::test]
async fn exports_each_invocations_trace_id() {
    let _alone = crate::common::PROCESS_ENV.write().await;
    let emulator = RuntimeApiEmulator::start().await.unwrap();
    let endpoint = Endpoint::parse(&emulator.endpoint()).unwrap();
    tokio::spawn(runtime::run(
        endpoint,
        TraceReader,
        RuntimeOptions::default(),
        std::future::pending(),
    ));
    for trace in [
        "Root=1-00000001-aaaaaaaaaaaaaaaaaaaaaaaa;Sampled=1",
        "Root=1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb;Sampled=0",
    ] {
        let mut spec = InvocationSpec::new("{}");
        spec.trace_id = Some(trace.to_owned());
        let id = emulator.enqueue(spec);
        let post = emulator
            .wait_for_result(&id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(post.json(), serde_json::json!(trace));
    }
}
