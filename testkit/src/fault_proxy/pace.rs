//! Pacing of a response body to a fixed byte rate, for throttled-connection faults.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

/// Slices per second of pacing: 20 keeps each slice's pause at 50 ms, fine
/// enough that a reader measuring throughput over a second sees a steady rate.
const SLICES_PER_SEC: u64 = 20;

/// Releases body bytes no faster than `bytes_per_sec`, slice by slice.
#[derive(Debug)]
pub(super) struct Pace {
    bytes_per_sec: u64,
    slice: usize,
    held: Bytes,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Pace {
    /// A pace of `bytes_per_sec` (at least 1).
    pub(super) fn new(bytes_per_sec: u64) -> Self {
        let bytes_per_sec = bytes_per_sec.max(1);
        let slice = usize::try_from((bytes_per_sec / SLICES_PER_SEC).max(1)).unwrap_or(usize::MAX);
        Self {
            bytes_per_sec,
            slice,
            held: Bytes::new(),
            pause: None,
        }
    }

    /// True while bytes received from upstream wait to be released.
    pub(super) fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// Ready once the pause after the last released slice is over.
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(())
    }

    /// Holds `data` (only when nothing is held).
    pub(super) fn hold(&mut self, data: Bytes) {
        self.held = data;
    }

    /// Releases the next slice of the held bytes and starts the pause it earns.
    pub(super) fn release(&mut self) -> Bytes {
        let take = self.slice.min(self.held.len());
        let slice = self.held.split_to(take);
        let nanos = slice.len() as u128 * 1_000_000_000 / u128::from(self.bytes_per_sec);
        let pause = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.pause = Some(Box::pin(tokio::time::sleep_until(Instant::now() + pause)));
        slice
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test(start_paused = true)]
    async fn releases_at_the_rate() {
        let mut pace = Pace::new(1000);
        pace.hold(Bytes::from(vec![7; 500]));
        let started = Instant::now();
        let mut released = 0;
        while pace.holds() {
            poll_fn(|cx| pace.poll_ready(cx)).await;
            released += pace.release().len();
        }
        poll_fn(|cx| pace.poll_ready(cx)).await;
        assert_eq!(released, 500);
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }
}
