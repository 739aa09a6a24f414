//! The `bootstrap` executable: Lambda's `provided.al2023` entry point and the local commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    s3_stream_lambda::cli::run()
}
