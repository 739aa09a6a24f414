//! A part's request body fed through a byte-bounded channel: exact length, small buffer.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Credits count KiB, so chunks of any size share one semaphore.
const CREDIT_UNIT: u64 = 1024;

/// Why the body ended before its announced length.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// The feeder stopped early (its read failed; the cause is its own error).
    #[error("the part's source stopped after {sent} of {len} bytes")]
    FeedStopped {
        /// Bytes the body yielded.
        sent: u64,
        /// Bytes it announced.
        len: u64,
    },
}

/// The receiving half: an `http_body::Body` of exactly `len` bytes.
#[derive(Debug)]
pub struct PartBody {
    chunks: mpsc::UnboundedReceiver<(Bytes, OwnedSemaphorePermit)>,
    len: u64,
    sent: u64,
}

/// The sending half; every chunk waits for room in the buffer before it is queued.
#[derive(Debug)]
pub struct PipeSender {
    chunks: mpsc::UnboundedSender<(Bytes, OwnedSemaphorePermit)>,
    credit: Arc<Semaphore>,
    credit_units: u32,
}

/// The body was dropped: its request ended (failed or was cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeClosed;

/// A pipe for a body of `len` bytes buffering at most `buffer` bytes (plus
/// one chunk when a chunk alone exceeds `buffer`).
pub fn pipe(len: u64, buffer: u64) -> (PipeSender, PartBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    let credit_units = u32::try_from(buffer.div_ceil(CREDIT_UNIT).max(1)).unwrap_or(u32::MAX);
    let sender = PipeSender {
        chunks: tx,
        credit: Arc::new(Semaphore::new(credit_units as usize)),
        credit_units,
    };
    let body = PartBody {
        chunks: rx,
        len,
        sent: 0,
    };
    (sender, body)
}

impl PipeSender {
    /// Queues `chunk` once the buffer has room for it.
    ///
    /// # Cancellation
    ///
    /// Safe: a chunk not yet queued is dropped with the future.
    pub async fn send(&self, chunk: Bytes) -> Result<(), PipeClosed> {
        let units = u32::try_from((chunk.len() as u64).div_ceil(CREDIT_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.credit_units);
        let permit = tokio::select! {
            () = self.chunks.closed() => return Err(PipeClosed),
            permit = Arc::clone(&self.credit).acquire_many_owned(units) => {
                permit.map_err(|_| PipeClosed)?
            }
        };
        self.chunks.send((chunk, permit)).map_err(|_| PipeClosed)
    }

    /// Resolves when the body has been dropped.
    pub async fn closed(&self) {
        self.chunks.closed().await;
    }
}

impl Body for PartBody {
    type Data = Bytes;
    type Error = PipeError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PipeError>>> {
        if self.sent >= self.len {
            return Poll::Ready(None);
        }
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some((chunk, _permit))) => {
                self.sent += chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(Some(Err(PipeError::FeedStopped {
                sent: self.sent,
                len: self.len,
            }))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len - self.sent.min(self.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn carries_exactly_its_length() {
        let (sender, body) = pipe(6, 4096);
        let feed = tokio::spawn(async move {
            sender.send(Bytes::from_static(b"abc")).await.unwrap();
            sender.send(Bytes::from_static(b"def")).await.unwrap();
        });
        assert_eq!(body.size_hint().exact(), Some(6));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abcdef");
        feed.await.unwrap();
    }

    #[tokio::test]
    async fn a_feed_that_stops_short_fails_the_body() {
        let (sender, body) = pipe(6, 4096);
        sender.send(Bytes::from_static(b"abc")).await.unwrap();
        drop(sender);
        let error = body.collect().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the part's source stopped after 3 of 6 bytes"
        );
    }

    #[tokio::test]
    async fn the_buffer_holds_back_the_feed() {
        let (sender, mut body) = pipe(3 * 4096, 4096);
        sender.send(Bytes::from(vec![1u8; 4096])).await.unwrap();
        let second = sender.send(Bytes::from(vec![2u8; 4096]));
        tokio::pin!(second);
        // The buffer is full: the second chunk waits until the body takes the first.
        assert!(futures_util::poll!(&mut second).is_pending());
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 4096);
        second.await.unwrap();
    }

    #[tokio::test]
    async fn a_dropped_body_closes_the_pipe() {
        let (sender, body) = pipe(8, 4096);
        drop(body);
        assert_eq!(sender.send(Bytes::from_static(b"x")).await, Err(PipeClosed));
    }
}
