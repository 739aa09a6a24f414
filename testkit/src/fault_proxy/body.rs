//! Response body wrapper: applies body faults, counts bytes and records the end in the log.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};

use super::error::ForwardError;
use super::log::{ExchangeHandle, Outcome};
use super::pace::Pace;

/// Error type of every body the proxy sends.
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Type-erased inner body.
type Inner = UnsyncBoxBody<Bytes, BoxError>;

/// The body of every response the proxy sends to a client.
#[derive(Debug)]
pub(super) struct ProxyBody {
    inner: Inner,
    flip_at: Option<u64>,
    cut_after: Option<u64>,
    pace: Option<Pace>,
    /// Set when a chunk was truncated by the cut, so the body must fail even if it ended.
    truncated: bool,
    sent: u64,
    handle: ExchangeHandle,
}

impl ProxyBody {
    /// Wraps a streaming body; the log entry is finished when it ends or is dropped.
    pub(super) fn new<B>(inner: B, handle: ExchangeHandle) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: inner.map_err(Into::into).boxed_unsync(),
            flip_at: None,
            cut_after: None,
            pace: None,
            truncated: false,
            sent: 0,
            handle,
        }
    }

    /// A body of fixed bytes.
    pub(super) fn full(bytes: Bytes, handle: ExchangeHandle) -> Self {
        Self::new(Full::new(bytes), handle)
    }

    /// XORs 0xFF into the byte at `offset`.
    pub(super) fn flip_at(mut self, offset: u64) -> Self {
        self.flip_at = Some(offset);
        self
    }

    /// Releases the body no faster than `bytes_per_sec`.
    pub(super) fn throttle(mut self, bytes_per_sec: u64) -> Self {
        self.pace = Some(Pace::new(bytes_per_sec));
        self
    }

    /// True while upstream has bytes or paced bytes are still held.
    fn more_left(&self) -> bool {
        !self.inner.is_end_stream() || self.pace.as_ref().is_some_and(Pace::holds)
    }

    /// True when the cut limit is reached and bytes remain that the client must not get.
    fn cut_due(&self) -> bool {
        self.cut_after
            .is_some_and(|limit| self.sent >= limit && (self.truncated || self.more_left()))
    }

    /// Sends a chunk: shaped by the faults and counted.
    fn emit(&mut self, data: Bytes) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let data = self.shape(data);
        self.sent += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    /// Fails the body once `limit` bytes were sent and more remain.
    pub(super) fn cut_after(mut self, limit: u64) -> Self {
        self.cut_after = Some(limit);
        self
    }

    /// Applies the cut and flip faults to the next chunk, which starts at `self.sent`.
    fn shape(&mut self, mut data: Bytes) -> Bytes {
        if let Some(limit) = self.cut_after {
            let room = limit.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                data.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                self.truncated = true;
            }
        }
        if let Some(offset) = self.flip_at {
            let end = self.sent + data.len() as u64;
            if (self.sent..end).contains(&offset) {
                let mut copy = BytesMut::from(&data[..]);
                let at = usize::try_from(offset - self.sent).unwrap_or(usize::MAX);
                if let Some(byte) = copy.get_mut(at) {
                    *byte ^= 0xFF;
                }
                data = copy.freeze();
            }
        }
        data
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.cut_due() {
            this.handle.finish(Outcome::Aborted, this.sent);
            return Poll::Ready(Some(Err(Box::new(ForwardError::BodyCut(this.sent)))));
        }
        if let Some(pace) = this.pace.as_mut() {
            ready!(pace.poll_ready(cx));
            if pace.holds() {
                let slice = pace.release();
                return this.emit(slice);
            }
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => {
                this.handle.finish(Outcome::Complete, this.sent);
                Poll::Ready(None)
            }
            Some(Err(error)) => {
                this.handle.finish(Outcome::Aborted, this.sent);
                Poll::Ready(Some(Err(error)))
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => match this.pace.as_mut() {
                    Some(pace) => {
                        pace.hold(data);
                        let slice = pace.release();
                        this.emit(slice)
                    }
                    None => this.emit(data),
                },
                Err(other) => Poll::Ready(Some(Ok(other))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.more_left() && !self.cut_due()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let outcome = if !self.more_left() && !self.truncated {
            Outcome::Complete
        } else {
            Outcome::Aborted
        };
        self.handle.finish(outcome, self.sent);
    }
}
