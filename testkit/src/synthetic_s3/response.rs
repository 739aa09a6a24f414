//! Response bodies — empty, fixed XML, or paced streams of generated or kept object
//! bytes filled into a reused buffer — and header helpers.

use super::config::SERVE_CHUNK_BYTES;
use super::generate;
use super::pacing::Pacer;
use super::stats::Counters;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::sync::Arc;

/// Every response's body type.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// An empty body.
pub fn empty() -> ResponseBody {
    Empty::new().boxed_unsync()
}

/// A body of `bytes`.
pub fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).boxed_unsync()
}

/// Where a served object's bytes come from.
#[derive(Debug, Clone)]
pub enum ObjectBytes {
    /// Generated from this seed at each offset, repeating every `period` bytes when set
    /// (see [`generate::fill_periodic`]).
    Generated { seed: u64, period: Option<u64> },
    /// Kept from the upload.
    Kept(Bytes),
}

struct ServeState {
    source: ObjectBytes,
    offset: u64,
    end: u64,
    buffer: BytesMut,
    pacer: Arc<Pacer>,
    counters: Arc<Counters>,
}

/// A paced stream of `source`'s bytes `start..start + len`, in `SERVE_CHUNK_BYTES`
/// frames. Generated frames are filled into one buffer that is reclaimed once hyper
/// has written the previous frame, so serving allocates nothing per frame.
pub fn object_stream(
    source: ObjectBytes,
    start: u64,
    len: u64,
    pacer: Arc<Pacer>,
    counters: Arc<Counters>,
) -> ResponseBody {
    let state = ServeState {
        source,
        offset: start,
        end: start.saturating_add(len),
        buffer: BytesMut::new(),
        pacer,
        counters,
    };
    let frames = futures_util::stream::unfold(state, |mut state| async move {
        if state.offset >= state.end {
            return None;
        }
        let take = (state.end - state.offset).min(SERVE_CHUNK_BYTES);
        state.pacer.consume(take).await;
        let frame = match &state.source {
            ObjectBytes::Generated { seed, period } => {
                let take = take as usize;
                state.buffer.reserve(take);
                state.buffer.resize(take, 0);
                generate::fill_periodic(*seed, *period, state.offset, &mut state.buffer[..take]);
                state.buffer.split().freeze()
            }
            ObjectBytes::Kept(bytes) => {
                let from = (state.offset as usize).min(bytes.len());
                let to = (from + take as usize).min(bytes.len());
                bytes.slice(from..to)
            }
        };
        if frame.is_empty() {
            return None;
        }
        state.offset += frame.len() as u64;
        state.counters.served(frame.len() as u64);
        Some((Ok::<_, Infallible>(Frame::data(frame)), state))
    });
    StreamBody::new(frames).boxed_unsync()
}

/// Sets `name: value`, skipping values that are not valid header text.
pub fn set_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}
