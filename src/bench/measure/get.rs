//! GET-only: the source read in ranged GETs of the part size, so many at once, bodies dropped.

use super::{Bench, Failure};
use crate::bench::case::Case;
use tokio_util::sync::CancellationToken;

/// Reads the whole source; returns the bytes read.
pub async fn ranged_reads(
    bench: &Bench,
    case: &Case,
    cancel: &CancellationToken,
) -> Result<u64, Failure> {
    let size = bench.source.size;
    let ranges: Vec<(u64, u64)> = (0..size.div_ceil(case.part_size))
        .map(|i| (i * case.part_size, ((i + 1) * case.part_size).min(size) - 1))
        .collect();
    super::concurrently(
        ranges,
        case.concurrency,
        cancel,
        |(start, end)| async move {
            let output = bench
                .client
                .get_object()
                .bucket(&bench.source.bucket)
                .key(&bench.source.key)
                .range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|e| Failure::of_request(case, &e))?;
            let mut body = output.body;
            let mut read = 0u64;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| Failure::of_request(case, &e))?
            {
                read += chunk.len() as u64;
            }
            Ok(read)
        },
    )
    .await
}
