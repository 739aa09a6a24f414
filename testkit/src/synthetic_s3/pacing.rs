//! Per-connection pacing: a token bucket (GCRA form) that holds one connection's request
//! and response bodies to a byte rate, as S3 limits each connection's throughput.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;
// Tokio's clock, so the tests below run on a paused one.
use tokio::time::Instant;

/// Bytes a connection may move at full speed before pacing applies: one served frame,
/// so the rate holds from the second frame on and at the millisecond scale.
pub const PACING_BURST_BYTES: u64 = super::config::SERVE_CHUNK_BYTES;

/// One connection's pacer; without a rate it never waits.
#[derive(Debug)]
pub struct Pacer {
    rate: Option<u64>,
    /// When the bytes granted so far will have drained at `rate`.
    drained_at: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `rate` bytes per second (`None` or zero: unpaced).
    pub fn new(rate: Option<u64>) -> Pacer {
        Pacer {
            rate: rate.filter(|rate| *rate > 0),
            drained_at: Mutex::new(None),
        }
    }

    /// Waits until `bytes` more may move on this connection.
    pub async fn consume(&self, bytes: u64) {
        let Some(rate) = self.rate else { return };
        let wait = {
            let mut drained_at = self
                .drained_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let start = drained_at.map_or(now, |at| at.max(now));
            let next = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
            *drained_at = Some(next);
            let burst = Duration::from_secs_f64(PACING_BURST_BYTES as f64 / rate as f64);
            next.saturating_duration_since(now).saturating_sub(burst)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // On a paused clock: the pacer's arithmetic, not the machine's scheduling.
    #[tokio::test(start_paused = true)]
    async fn paces_to_the_rate() {
        let pacer = Pacer::new(Some(10 * 1024 * 1024));
        let started = Instant::now();
        for _ in 0..5 {
            pacer.consume(PACING_BURST_BYTES).await;
        }
        // Four frames past the burst at 10 MiB/s: 4 * 512 KiB / 10 MiB/s = 200 ms.
        let elapsed = started.elapsed();
        assert!(
            (Duration::from_millis(199)..=Duration::from_millis(201)).contains(&elapsed),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unpaced_never_waits() {
        let pacer = Pacer::new(None);
        let started = Instant::now();
        pacer.consume(u64::MAX).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
