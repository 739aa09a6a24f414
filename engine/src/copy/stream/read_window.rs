//! The ranged reads of a streamed copy: started in order, as few in flight as keep the transform fed, never more than the memory plan allows.
//!
//! Ranged GETs started together share the download link, so a deep
//! read-ahead opened at once delays the first block (the one everything
//! waits for) by the whole depth: 12 reads of 8 MiB sharing a 75 MB/s link
//! (the 1769 MB plan) deliver the first block after ~1.3 s, not ~0.2 s. A
//! [`ReadWindow`] starts [`INITIAL_READS`] and adds one read each time the
//! consumer asks for a block that has not arrived yet, up to the plan's
//! read-ahead, whose memory the copy reserved up front: growing never takes
//! more budget, and a copy whose consumer keeps up stays shallow.

use crate::copy::error::CopyError;
use crate::copy::source::Block;
use std::collections::VecDeque;
use std::future::Future;
use tokio_util::task::AbortOnDropHandle;

/// Reads in flight when a copy starts. Two: the first range shares the link
/// with one other read only, so it arrives at about half the link's rate
/// rather than a twelfth, and the second keeps the link busy behind it.
pub const INITIAL_READS: usize = 2;

/// The in-order window of ranged reads.
///
/// # Cancellation
/// Dropping the window (or a pending [`ReadWindow::next`]) aborts every read
/// in flight: each is an [`AbortOnDropHandle`].
pub struct ReadWindow<I>
where
    I: Iterator,
{
    /// Reads not started yet, in order.
    unstarted: I,
    in_flight: VecDeque<AbortOnDropHandle<Result<Block, CopyError>>>,
    /// Reads kept in flight now.
    depth: usize,
    /// The most reads in flight (the plan's read-ahead).
    max: usize,
    /// Blocks handed on so far.
    delivered: u64,
}

impl<I, F> ReadWindow<I>
where
    I: Iterator<Item = F>,
    F: Future<Output = Result<Block, CopyError>> + Send + 'static,
{
    /// A window over `reads` (futures, each one range's block) with at most
    /// `max` in flight; the first [`INITIAL_READS`] start now.
    pub fn new(reads: I, max: usize) -> ReadWindow<I> {
        let max = max.max(1);
        let mut window = ReadWindow {
            unstarted: reads,
            in_flight: VecDeque::new(),
            depth: INITIAL_READS.min(max),
            max,
            delivered: 0,
        };
        window.top_up();
        window
    }

    fn top_up(&mut self) {
        while self.in_flight.len() < self.depth {
            let Some(read) = self.unstarted.next() else {
                break;
            };
            self.in_flight
                .push_back(AbortOnDropHandle::new(tokio::spawn(read)));
        }
    }

    /// The next block in order, `None` after the last. A block the consumer
    /// has to wait for (after the first, which every copy waits for) adds a
    /// read to the window.
    ///
    /// # Cancellation
    /// Not cancel-safe: a dropped call aborts the read it was waiting for
    /// and that block is lost, so a copy that stops waiting stops reading.
    pub async fn next(&mut self) -> Option<Result<Block, CopyError>> {
        let waiting = self
            .in_flight
            .front()
            .is_some_and(|read| !read.is_finished());
        if waiting && self.delivered > 0 && self.depth < self.max {
            self.depth += 1;
            self.top_up();
        }
        let read = self.in_flight.pop_front()?;
        let joined = read.await;
        self.delivered += 1;
        self.top_up();
        Some(
            joined
                .map_err(|error| CopyError::Task(error.to_string()))
                .and_then(|block| block),
        )
    }

    /// Reads kept in flight now.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn block(n: u8) -> Block {
        Block {
            data: Bytes::from(vec![n]),
            metadata: None,
        }
    }

    /// Reads that each take `delay` and count how many run at once.
    fn reads(
        count: u8,
        delay: Duration,
        running: &Arc<AtomicUsize>,
        peak: &Arc<AtomicUsize>,
    ) -> impl Iterator<Item = impl Future<Output = Result<Block, CopyError>> + Send + 'static> {
        let (running, peak) = (Arc::clone(running), Arc::clone(peak));
        (0..count).map(move |n| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(block(n))
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_keeps_up_stays_at_the_initial_depth() {
        let (running, peak) = Default::default();
        let mut window = ReadWindow::new(reads(20, Duration::from_millis(10), &running, &peak), 12);
        let mut seen = Vec::new();
        while let Some(block) = window.next().await {
            seen.push(block.expect("a block").data[0]);
            // The consumer is slower than a read: blocks are always ready.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen, (0..20).collect::<Vec<u8>>(), "in order");
        assert_eq!(window.depth(), INITIAL_READS);
        assert!(peak.load(Ordering::SeqCst) <= INITIAL_READS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_consumer_grows_the_window_up_to_its_limit() {
        let (running, peak) = Default::default();
        let mut window = ReadWindow::new(reads(40, Duration::from_millis(50), &running, &peak), 6);
        let mut count = 0;
        while let Some(block) = window.next().await {
            block.expect("a block");
            count += 1;
        }
        assert_eq!(count, 40);
        assert_eq!(window.depth(), 6);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            6,
            "never more than the plan's read-ahead"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_is_handed_on() {
        let failing = (0..3u8).map(|n| async move {
            if n == 1 {
                Err(CopyError::Task("boom".into()))
            } else {
                Ok(block(n))
            }
        });
        let mut window = ReadWindow::new(failing, 4);
        assert!(window.next().await.expect("first").is_ok());
        assert!(window.next().await.expect("second").is_err());
    }
}
