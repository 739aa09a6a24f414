//! s3-stream-lambda: an AWS Lambda function that streams S3 objects through a
//! transform into a bounded-memory multipart upload.
//!
//! # Layout
//!
//! - [`runtime`]: the hand-written Lambda Runtime API loop (`/next`, `/response`,
//!   `/error`, `/init/error`) on hyper, with the panic guard and the deadline signal.
//! - [`emulator`]: a Runtime API emulator on loopback for tests, benches and the
//!   local stack.
//! - [`copy`]: the streaming copy engine (source reads, part assembly, the
//!   multipart upload and its abort path).
//! - [`transform`]: the streaming [`transform::Transform`] trait and built-ins.
//! - [`s3`]: the S3 client from the AWS environment.
//! - [`event`]: the accepted event envelopes (S3, SQS, EventBridge, test event)
//!   and S3's key encoding.
//! - [`config`]: the environment, validated at start-up.
//! - [`handler`]: the S3 event handler wiring events to copies and a report.
//! - [`logging`]: one line per event, JSON or text, as Lambda expects.
//!
//! - [`moto_server`]: a moto_server on loopback for tests and the local stack.
//! - [`allocator`]: large buffers are `mmap`ed and returned on free.
//! - [`sample`]: deterministic sample objects for tests, benches and the local stack.
//! - [`function`]: the Lambda start-up (configuration, init error, loop).
//! - [`cli`]: the local commands `invoke` and `copy`.
//!
//! `src/main.rs` only starts tokio and calls [`cli::main`].

pub mod allocator;
pub mod cli;
pub mod config;
pub mod copy;
pub mod emulator;
pub mod event;
pub mod function;
pub mod handler;
pub mod logging;
pub mod moto_server;
pub mod runtime;
pub mod s3;
pub mod sample;
pub mod transform;
