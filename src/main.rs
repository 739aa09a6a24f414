//! The `bootstrap` executable: Lambda's `provided.al2023` entry point and the local commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    s3_stream_lambda::allocator::return_large_buffers_to_the_os();
    s3_stream_lambda::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("failed to start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(s3_stream_lambda::cli::main(
        std::env::args().skip(1).collect(),
    ))
}
