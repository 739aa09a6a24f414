//! s3-stream-lambda: an AWS Lambda function that streams S3 objects through a
//! transform into a bounded-memory multipart upload.
//!
//! # Layout
//!
//! - [`runtime`]: the hand-written Lambda Runtime API loop (`/next`, `/response`,
//!   `/error`, `/init/error`) on hyper, with the panic guard and the deadline signal.
//! - [`emulator`]: a Runtime API emulator on loopback for tests, benches and the
//!   local stack.
//! - [`logging`]: one line per event, JSON or text, as Lambda expects.
//!
//! `src/main.rs` only reads the environment and calls into these.

pub mod emulator;
pub mod logging;
pub mod runtime;
