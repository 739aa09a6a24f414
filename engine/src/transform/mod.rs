//! Streaming transforms: push chunks in, take chunks out, flush at the end.
//!
//! The copy engine feeds every byte of the source through one [`Transform`].
//! Implement it for your own business logic and register it in [`by_name`].

mod gzip;
mod identity;

pub use gzip::Gzip;
pub use identity::Identity;

use bytes::Bytes;

/// Why a transform failed; the copy is aborted and this is reported.
#[derive(Debug, thiserror::Error)]
#[error("transform {name} failed: {message}")]
pub struct TransformError {
    /// The transform's name.
    pub name: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A streaming, push-based byte transform.
///
/// `push` may emit zero or more chunks per input chunk; `finish` emits what is
/// left. Emitting the input `Bytes` itself (as [`Identity`] does) costs no copy.
pub trait Transform: Send {
    /// The name users select it by (`TRANSFORM`, `--transform`).
    fn name(&self) -> &'static str;

    /// Consumes `input`, appending output chunks to `output`.
    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError>;

    /// Flushes what is buffered once the input has ended.
    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError>;

    /// True when the output is exactly as long as the input, so the output
    /// size is known in advance (it picks the part size and single-PUT path).
    fn preserves_length(&self) -> bool {
        false
    }

    /// True when the output is the input, byte for byte, so the copy can be
    /// verified against the source's stored checksum.
    fn is_identity(&self) -> bool {
        false
    }

    /// The destination's `Content-Type`, when the transform changes it.
    fn content_type(&self) -> Option<&str> {
        None
    }

    /// The destination's `Content-Encoding`, when the transform changes it.
    fn content_encoding(&self) -> Option<&str> {
        None
    }

    /// Appended to the destination key (e.g. `.gz`).
    fn key_suffix(&self) -> &str {
        ""
    }
}

/// The names [`by_name`] knows.
pub const NAMES: &[&str] = &["identity", "gzip"];

/// Builds the transform called `name`, or `None` when there is none.
pub fn by_name(name: &str) -> Option<Box<dyn Transform>> {
    match name {
        "identity" => Some(Box::new(Identity)),
        "gzip" => Some(Box::new(Gzip::default())),
        _ => None,
    }
}
