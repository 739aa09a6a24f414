//! s3-stream-lambda: an AWS Lambda function that streams S3 objects through a
//! transform into a bounded-memory multipart upload.
//!
//! # Layout
//!
//! - [`runtime`]: the hand-written Lambda Runtime API loop (`/next`, `/response`,
//!   `/error`, `/init/error`) on hyper, with the panic guard and the deadline signal.
//! - [`copy`] and [`transform`]: the streaming copy engine and its transforms,
//!   re-exported from the `s3-stream-engine` crate, which knows nothing of Lambda.
//! - [`s3`]: the S3 client from the AWS environment.
//! - [`regions`]: clients per region (the source's from its event, the
//!   destination's from `DST_REGION` or one `HeadBucket`).
//! - [`https`]: the SDK's HTTPS client with a compiled-in root store (the function's).
//! - [`event`]: the accepted event envelopes (S3, SQS, EventBridge, test event)
//!   and S3's key decoding.
//! - [`config`]: the environment, validated at start-up.
//! - [`handler`]: the S3 event handler wiring events to copies and a report.
//! - [`logging`]: one line per event, JSON or text, as Lambda expects.
//! - [`allocator`]: large buffers are `mmap`ed and returned on free.
//! - [`function`]: the Lambda start-up (configuration, init error, loop).
//! - [`cli`]: the local commands `invoke` and `copy`.
//!
//! `src/main.rs` only starts tokio and calls [`cli::main`]. Test tools (the
//! Runtime API emulator, moto launcher, sample objects, local stack) live in
//! the `s3-stream-testkit` crate, which only tests and benches depend on.

pub use s3_stream_engine::{copy, transform};

pub mod allocator;
pub mod cli;
pub mod config;
pub mod error_type;
pub mod event;
pub mod function;
pub mod handler;
pub mod https;
pub mod logging;
pub mod regions;
pub mod requester_pays;
pub mod runtime;
pub mod s3;
