//! Streaming transforms: push chunks in, take chunks out, flush at the end.
//!
//! The copy engine feeds every byte of the source through one [`Transform`].
//! Implement it for your own business logic and [`register`] it in a
//! `bootstrap` of your own (see `examples/uniform_requests.rs`); the
//! built-ins are in [`BUILTINS`], the one table that `TRANSFORM` validation,
//! [`by_name`], the CLI help and the README list come from. A comma-separated
//! `TRANSFORM` (`gunzip,gzip`) chains transforms ([`Chain`]).
//!
//! # Layout
//!
//! - `registry`: [`BUILTINS`], [`by_name`], [`TransformOptions`];
//! - `chain`: [`Chain`], transforms in sequence;
//! - `identity`, `gzip` (parallel members), `gunzip`, `zstd` (`zstd` / `unzstd`),
//!   `ndjson`, `yaml_json`;
//! - `content_type`: the type a decompressed key's extension names.

mod chain;
mod content_type;
mod gunzip;
mod gzip;
mod identity;
mod member_pool;
mod ndjson;
mod registry;
mod yaml_json;
mod zstd;

pub use chain::Chain;
pub use content_type::type_of_key;
pub use gunzip::Gunzip;
pub use gzip::{GZIP_LEVEL, Gzip, GzipMembers};
pub use identity::Identity;
pub use ndjson::{NDJSON_MAX_ELEMENT, Ndjson};
pub use registry::{
    BUILTINS, Builtin, TransformOptions, all, by_name, by_name_with, names, register,
};
pub use yaml_json::{YAML_MAX_DOCUMENT, YamlJson};
pub use zstd::{Unzstd, ZSTD_LEVEL, Zstd};

use bytes::Bytes;

/// Why a transform failed; the copy is aborted and this is reported.
#[derive(Debug, thiserror::Error)]
#[error("transform {name} failed: {message}")]
pub struct TransformError {
    /// The transform's name.
    pub name: &'static str,
    /// What went wrong, naming the position in its input where it can.
    pub message: String,
}

/// A streaming, push-based byte transform.
///
/// `push` may emit zero or more chunks per input chunk; `finish` emits what is
/// left. Emitting the input `Bytes` itself (as [`Identity`] does) costs no copy.
/// Memory is the transform's own documented window ([`Transform::window`]),
/// which the copy reserves from its budget, never the object's size.
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

    /// The destination's `Content-Type` for an output written at
    /// `destination_key` (a decompressor names the type the key's extension
    /// says); by default [`Transform::content_type`].
    fn content_type_for(&self, destination_key: &str) -> Option<String> {
        let _ = destination_key;
        self.content_type().map(str::to_owned)
    }

    /// The destination's `Content-Encoding`, when the transform changes it.
    fn content_encoding(&self) -> Option<&str> {
        None
    }

    /// Appended to the destination key (e.g. `.gz`).
    fn key_suffix(&self) -> &str {
        ""
    }

    /// The destination key of the source key `key`: by default `key` plus
    /// [`Transform::key_suffix`]; a decompressor drops its suffix instead.
    fn destination_key(&self, key: &str) -> String {
        format!("{key}{}", self.key_suffix())
    }

    /// True when `key` looks like this transform's output of some source
    /// key (the recursion guard skips such keys in the source bucket).
    fn is_output_key(&self, key: &str) -> bool {
        key.ends_with(self.key_suffix())
    }

    /// The largest input a single `push` may take, when output can grow
    /// beyond the input (a decompressor): the engine cuts longer chunks, so
    /// one push never emits more than [`Transform::window`].
    fn max_push(&self) -> Option<usize> {
        None
    }

    /// Bytes the transform may hold beyond its input and output chunks
    /// (buffers, compression workers' state, the output of one push). The
    /// copy reserves them from its memory budget before it starts.
    fn window(&self) -> u64 {
        0
    }

    /// `Some(n)` when the output can restart at every `n` input bytes, so a
    /// copy stopped at its deadline resumes instead of starting over: every
    /// chunk `push` and `finish` emit is the whole output of the next `n`
    /// input bytes (the last chunk, of what is left), and a fresh transform
    /// fed the input from any multiple of `n` emits, byte for byte, what
    /// this one emitted from there (no state carries from one unit to the
    /// next: gzip members, zstd frames). `None` (the default): a stopped
    /// copy is aborted and starts over.
    fn restart_unit(&self) -> Option<u64> {
        None
    }

    /// True when `push` is CPU-heavy (compression): the engine runs it on a
    /// blocking thread, off the async workers that drive the GETs and uploads.
    fn is_cpu_heavy(&self) -> bool {
        false
    }

    /// True when output is waiting that the last `push`, `drain` or `finish`
    /// held back to stay within its window (a decompressor whose input
    /// expands without bound): the engine hands each batch on to the upload
    /// and calls [`Transform::drain`] until this is false, before it pushes
    /// more input or counts the transform finished.
    fn has_pending(&self) -> bool {
        false
    }

    /// Emits the next window's worth of the waiting output.
    fn drain(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let _ = output;
        Ok(())
    }
}
