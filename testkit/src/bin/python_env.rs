//! Creates (or reuses) the test kit's Python environment and prints its directory.

use std::process::ExitCode;

fn main() -> ExitCode {
    match s3_stream_testkit::python_env::PythonEnv::ensure() {
        Ok(env) => {
            println!("{}", env.dir().display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "python_env: {}",
                s3_stream_testkit::error_chain::error_chain(&error)
            );
            ExitCode::FAILURE
        }
    }
}
