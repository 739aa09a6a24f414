//! A bench event (`{"bench": {...}}`): `bootstrap bench` in the sandbox, within the invocation's deadline, on `BENCH_PREFIX` only.

use super::CopyHandler;
use crate::bench::{BenchReport, Budget, CLEANUP_RESERVE};
use crate::runtime::Diagnostic;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// True when `event` is a bench event.
pub fn is_bench(event: &serde_json::Value) -> bool {
    event
        .as_object()
        .is_some_and(|object| object.len() == 1 && object.contains_key("bench"))
}

impl CopyHandler {
    /// Runs the bench `event` asks for, measuring until [`CLEANUP_RESERVE`]
    /// before `stop_at` (or its own budget) and cleaning up by `stop_at`; a
    /// refusal or failure is the error posted.
    pub(super) async fn bench(
        &self,
        mut event: serde_json::Value,
        cancel: &CancellationToken,
        stop_at: Option<Instant>,
    ) -> Result<BenchReport, Diagnostic> {
        let fail = |error: crate::bench::BenchError| {
            Diagnostic::new(
                error.error_type().as_str(),
                crate::runtime::error_chain(&error),
            )
        };
        let options = event
            .get_mut("bench")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let request = crate::bench::event_request(options, &self.config).map_err(fail)?;
        let bucket = &request.target.bucket;
        let client = self
            .clients
            .for_copy(bucket, None, bucket)
            .await
            .destination;
        // Measuring ends CLEANUP_RESERVE before the stop, where the
        // invocation's token fires; the cleanup ends by the stop, leaving
        // the deadline margin for the answer.
        let now = Instant::now();
        let mut budget = Budget::from_now(request.budget);
        if let Some(stop_at) = stop_at {
            budget.ends_at = budget
                .ends_at
                .min(stop_at.checked_sub(CLEANUP_RESERVE).unwrap_or(now));
            budget.cleanup_by = budget.cleanup_by.min(stop_at);
        }
        crate::bench::run(
            &client,
            &self.config.copy,
            self.config.memory_mib,
            &request,
            cancel,
            budget,
        )
        .await
        .map_err(fail)
    }
}
