//! Stall detection over the time a reader spends waiting on the network.
//!
//! Only waits inside the reader count: a consumer that stops polling (back-pressure)
//! adds nothing. Waits and the bytes they brought fill a tumbling window; a window
//! of `throughput_window` waited that brought fewer than `min_throughput × window`
//! bytes is a stall.

use bytes::Bytes;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// A window of waiting that brought too few bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("body stalled: {bytes} bytes in {waited:?} of waiting, below {min_throughput} bytes/s")]
pub struct Stall {
    /// Bytes the window brought.
    pub bytes: u64,
    /// Time waited in the window.
    pub waited: Duration,
    /// The floor, bytes per second.
    pub min_throughput: u64,
}

/// Waited time and bytes of the current window.
#[derive(Debug, Clone)]
pub(super) struct StallMeter {
    window: Duration,
    min_throughput: u64,
    waited: Duration,
    bytes: u64,
}

impl StallMeter {
    /// A meter with an empty window; a zero floor or window never stalls.
    pub(super) fn new(min_throughput: u64, window: Duration) -> Self {
        StallMeter {
            window,
            min_throughput,
            waited: Duration::ZERO,
            bytes: 0,
        }
    }

    /// Starts a new window (a new connection).
    pub(super) fn reset(&mut self) {
        self.waited = Duration::ZERO;
        self.bytes = 0;
    }

    fn enabled(&self) -> bool {
        self.min_throughput > 0 && !self.window.is_zero()
    }

    /// The fewest bytes a full window must bring.
    fn floor(&self) -> u64 {
        let floor = u128::from(self.min_throughput) * self.window.as_nanos() / 1_000_000_000;
        u64::try_from(floor).unwrap_or(u64::MAX)
    }

    /// Adds one wait and what it brought; closes the window when it is full.
    pub(super) fn record(&mut self, waited: Duration, bytes: u64) -> Result<(), Stall> {
        self.waited += waited;
        self.bytes = self.bytes.saturating_add(bytes);
        if !self.enabled() || self.waited < self.window {
            return Ok(());
        }
        let verdict = if self.bytes < self.floor() {
            Err(Stall {
                bytes: self.bytes,
                waited: self.waited,
                min_throughput: self.min_throughput,
            })
        } else {
            Ok(())
        };
        self.reset();
        verdict
    }

    /// Awaits the next body item, counting the wait. `Ok((item, verdict))` when
    /// it came (the verdict says whether its window closed as a stall); `Err`
    /// when the window filled while waiting with too few bytes.
    ///
    /// # Cancellation
    ///
    /// Safe: dropping it drops `next` and forgets the unfinished wait.
    pub(super) async fn wait<F, E>(
        &mut self,
        next: F,
    ) -> Result<(Option<Result<Bytes, E>>, Result<(), Stall>), Stall>
    where
        F: Future<Output = Option<Result<Bytes, E>>>,
    {
        if !self.enabled() {
            return Ok((next.await, Ok(())));
        }
        let next = std::pin::pin!(next);
        let mut next = next;
        loop {
            let started = Instant::now();
            let left = self.window.saturating_sub(self.waited);
            match tokio::time::timeout(left, next.as_mut()).await {
                Ok(item) => {
                    let bytes = match &item {
                        Some(Ok(chunk)) => chunk.len() as u64,
                        _ => 0,
                    };
                    let verdict = self.record(started.elapsed(), bytes);
                    return Ok((item, verdict));
                }
                Err(_elapsed) => self.record(started.elapsed(), 0)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = Option<Result<Bytes, std::io::Error>>;

    fn meter() -> StallMeter {
        StallMeter::new(1000, Duration::from_secs(1))
    }

    async fn chunk_after(pause: Duration, len: usize) -> Item {
        tokio::time::sleep(pause).await;
        Some(Ok(Bytes::from(vec![0; len])))
    }

    #[test]
    fn floor_is_throughput_times_window() {
        assert_eq!(
            StallMeter::new(1 << 20, Duration::from_secs(10)).floor(),
            10 << 20
        );
        assert_eq!(
            StallMeter::new(1000, Duration::from_millis(500)).floor(),
            500
        );
    }

    #[test]
    fn a_full_window_below_the_floor_is_a_stall() {
        let mut m = meter();
        assert_eq!(m.record(Duration::from_millis(600), 400), Ok(()));
        let stall = m.record(Duration::from_millis(400), 100).unwrap_err();
        assert_eq!((stall.bytes, stall.waited), (500, Duration::from_secs(1)));
        // The window starts over.
        assert_eq!(m.record(Duration::from_millis(999), 0), Ok(()));
    }

    #[test]
    fn a_full_window_at_the_floor_is_no_stall() {
        let mut m = meter();
        assert_eq!(m.record(Duration::from_secs(1), 1000), Ok(()));
        assert_eq!(m.record(Duration::from_secs(2), 2000), Ok(()));
    }

    #[test]
    fn a_zero_floor_never_stalls() {
        let mut m = StallMeter::new(0, Duration::from_secs(1));
        assert_eq!(m.record(Duration::from_secs(100), 0), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_stalls_once_the_window_is_waited() {
        let mut m = meter();
        let started = Instant::now();
        let never = std::future::pending::<Item>();
        let stall = m.wait(never).await.unwrap_err();
        assert_eq!(stall.bytes, 0);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn fast_bytes_then_silence_stall_one_window_later() {
        let mut m = meter();
        let (item, verdict) = m
            .wait(chunk_after(Duration::from_millis(100), 5000))
            .await
            .unwrap();
        assert!(item.is_some() && verdict.is_ok());
        let started = Instant::now();
        // The first window closes with enough bytes; the next one is silent.
        let stall = m.wait(std::future::pending::<Item>()).await.unwrap_err();
        assert_eq!(stall.bytes, 0);
        assert_eq!(started.elapsed(), Duration::from_millis(1900));
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_consumer_does_not_poll_is_not_counted() {
        let mut m = meter();
        for _ in 0..5 {
            // 300 bytes per 100 ms waited is 3000 bytes/s, well above the floor,
            // though the consumer takes 10 s between reads.
            let (_, verdict) = m
                .wait(chunk_after(Duration::from_millis(100), 300))
                .await
                .unwrap();
            assert_eq!(verdict, Ok(()));
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_stalls_on_the_chunk_that_closes_the_window() {
        let mut m = meter();
        let mut verdicts = Vec::new();
        for _ in 0..4 {
            let (item, verdict) = m
                .wait(chunk_after(Duration::from_millis(250), 10))
                .await
                .unwrap();
            assert!(item.is_some());
            verdicts.push(verdict.is_err());
        }
        assert_eq!(verdicts, [false, false, false, true]);
    }
}
