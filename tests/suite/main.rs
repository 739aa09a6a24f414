//! The integration tests: one test binary, one module a subject, all on the
//! shared support in `tests/common` (one moto_server, [`common::Stack`]).
//!
//! One binary links the AWS SDK once instead of once a file. Its tests share
//! a process: a test that depends on process-wide state says so and takes
//! [`common::PROCESS_ENV`] (the trace id the runtime loop exports).

// The benches include `tests/common` by path too: it stays where they find it.
#[path = "../common/mod.rs"]
mod common;

mod ambiguous_writes;
mod batch_operations;
mod bench;
mod cargo_lambda;
mod cleanup;
mod cli;
mod complete_200_error;
mod copy_engine;
mod deadline;
mod fan_out;
mod function_e2e;
mod init_reads_no_file;
mod integrity;
mod metrics;
mod netmodel;
mod newest_wins;
mod no_files;
mod notification_keys;
mod other_runtime_api;
mod piped_parts;
mod regions;
mod resilient_reads;
mod resume;
mod runtime_loop;
mod runtime_trace;
mod server_copy;
mod shutdown;
mod sqs_trigger;
mod transform_e2e;
mod transforms;
mod work_queue;
