//! s3-stream-testkit: the tools that test s3-stream-lambda without AWS, kept out of the product.
//!
//! # Layout
//!
//! - [`emulator`]: a Lambda Runtime API emulator on loopback, to the letter of
//!   the documented contract.
//! - [`cargo_lambda`]: cargo-lambda's emulator (`cargo lambda watch
//!   --only-lambda-apis`) and `cargo lambda invoke`, as Rust developers run them.
//! - [`python_env`]: the one Python virtual environment (under the target
//!   directory) that holds moto; created on first use, reused after.
//! - [`moto`]: a moto_server on loopback, stopped when dropped.
//! - [`emf`]: a validator of CloudWatch Embedded Metric Format records,
//!   to the specification's structure and limits.
//! - [`error_chain`]: an error and its causes on one line.
//! - [`fault_proxy`]: a fault-injecting HTTP proxy in front of a real S3
//!   server (delay, hold, cut or flip a body, answer a chosen S3 error).
//! - [`local_s3`]: S3 and SQS clients for a loopback endpoint.
//! - [`event_source_mapping`]: a stand-in for Lambda's SQS trigger: polls a
//!   real queue (moto's), invokes through the emulator, deletes or returns
//!   each message as the answer says; the queue's redrive policy does the rest.
//! - [`netmodel`]: two network namespaces joined by a veth pair with a `tbf`
//!   cap on each direction, for benches bound by the link.
//! - [`sample`]: deterministic sample bytes and multipart sample uploads.
//! - [`sandbox`]: the environment a Lambda sandbox gives the function.
//! - [`synthetic_s3`]: an S3-compatible server whose objects are generated
//!   from their offset and whose uploads are checked against S3's rules,
//!   checksummed and discarded: 200 GiB-class copies without disk.
//! - [`notification_key`]: keys encoded the way S3 notifications encode them,
//!   for building events.
//!
//! The product never depends on this crate (only its tests, benches and
//! examples do), so none of it is linked into `bootstrap`.

pub mod cargo_lambda;
pub mod emf;
pub mod emulator;
pub mod error_chain;
pub mod event_source_mapping;
pub mod fault_proxy;
pub mod local_s3;
pub mod moto;
pub mod netmodel;
pub mod notification_key;
pub mod python_env;
pub mod sample;
pub mod sandbox;
pub mod synthetic_s3;
