//! Streamed and server-side copies: `bootstrap`'s own `copy_object` of the source, at the case's part size and concurrency.

use super::{Bench, Failure};
use crate::bench::case::{Case, Operation};
use crate::copy::{CopyMode, CopyProgress, CopySettings, Destination, SourceSpec, copy_object};
use crate::transform::Identity;
use tokio_util::sync::CancellationToken;

/// The function's settings with the case's part size and concurrency, one
/// copy in one invocation (no resume, no fan-out).
fn settings(bench: &Bench, case: &Case) -> CopySettings {
    let mut settings = CopySettings {
        resume: None,
        fan_out: None,
        segment: None,
        memory_pool: None,
        ..bench.settings.clone()
    };
    // Marked like every object of the run, whatever the source carries, so
    // that a copy a SIGKILL left is known as the run's by the next run.
    settings.options.metadata = bench.payload.marker.clone();
    match case.operation {
        Operation::Server => {
            settings.mode = CopyMode::Server;
            settings.server.part_size = case.part_size;
            settings.server.concurrency = case.concurrency;
        }
        _ => {
            settings.mode = CopyMode::Stream;
            settings.part_size = case.part_size;
            settings.upload_concurrency = case.concurrency;
            settings.read_ahead = case.concurrency;
        }
    }
    settings
}

/// Copies the source to the run's copy key; returns the bytes copied.
pub async fn copy(bench: &Bench, case: &Case, cancel: &CancellationToken) -> Result<u64, Failure> {
    let source = SourceSpec {
        bucket: bench.source.bucket.clone(),
        key: bench.source.key.clone(),
        ..SourceSpec::default()
    };
    let destination = Destination {
        bucket: bench.bucket.clone(),
        key: super::written_key(bench, case.operation).unwrap_or_default(),
    };
    copy_object(
        &bench.client,
        source,
        &destination,
        Box::new(Identity),
        &settings(bench, case),
        cancel,
        &CopyProgress::default(),
    )
    .await
    .map_err(|error| Failure::of_copy(case, error))?;
    Ok(bench.source.size)
}
