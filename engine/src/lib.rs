//! s3-stream-engine: streams one S3 object through a transform into a bounded-memory multipart upload.
//!
//! # Layout
//!
//! - [`copy`]: the streaming copy engine (source reads, part assembly, the
//!   multipart upload and its abort path).
//! - [`transform`]: the streaming [`transform::Transform`] trait and built-ins.
//!
//! This crate knows nothing of Lambda: it takes an S3 client, a source, a
//! destination, a transform and a cancellation token. The compiler keeps it
//! that way, since it cannot name the Lambda crate that depends on it.

pub mod copy;
pub mod transform;
