//! The commands of `bootstrap`: serve (no command), `invoke`, `copy` and `bench`, one file each.

mod bench;
mod copy;
mod invoke;

use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `bootstrap --help`, without the variables and the transforms ([`help`] adds them).
pub const USAGE: &str = "\
bootstrap: stream S3 objects through a transform into another bucket

USAGE:
    bootstrap                       serve as an AWS Lambda function (reads AWS_LAMBDA_RUNTIME_API)
    bootstrap invoke EVENT.json     run the handler once on an event file and print the response
                                    JSON; exit code 0 when every record succeeded, 1 otherwise
    bootstrap copy s3://BUCKET/KEY s3://BUCKET/KEY [--transform NAME[,NAME...]]
                                    one streaming copy; progress on a terminal, report JSON on stdout
    bootstrap bench s3://BUCKET/PREFIX/ [--seconds N] [--size-mib N] [--rounds N] [--only OPS]
                    [--source s3://BUCKET/KEY] [--label TEXT] [--json] [--svg FILE]
                    [--price-put-per-1000 USD] [--price-get-per-1000 USD] [--price-gb-second USD]
                                    measure GET-only, PUT-only, streamed and server-side copies and
                                    small objects (OPS: get,put,stream,server,small-get,small-put)
                                    in an empty prefix of your own, recommend settings for this
                                    memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), remove all it wrote
    bootstrap bench --merge RUN.json... [--svg FILE] [--json]
                                    several runs' --json in one table set and one chart
    bootstrap --help | --version
";

/// The whole `--help` text: [`USAGE`] and every built-in transform, from the registry.
pub fn help() -> String {
    let width = crate::transform::all()
        .map(|builtin| builtin.name.len())
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "{USAGE}\n{}\nTRANSFORMS (TRANSFORM=NAME, or NAME,NAME,... applied in order):\n",
        crate::config::variables::help()
    );
    for builtin in crate::transform::all() {
        text.push_str(&format!(
            "    {:width$}  {}\n",
            builtin.name, builtin.summary
        ));
    }
    text
}

/// Each runtime worker's stack: 8 MiB, a main thread's, not tokio's 2 MiB.
/// A copy's futures nest deep (method, resume, upload, SDK); an unoptimised
/// build lays their temporaries on the stack and came within reach of
/// 2 MiB. Only the pages touched are ever resident.
pub const WORKER_STACK_BYTES: usize = 8 << 20;

/// The whole `bootstrap` program: allocator and logging set up, a tokio
/// runtime, [`main`] on the process's arguments. `src/main.rs` is this, and so
/// is a `bootstrap` of your own after it registers its transforms
/// (`examples/uniform_requests.rs`).
pub fn run() -> ExitCode {
    crate::allocator::return_large_buffers_to_the_os();
    crate::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("failed to start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(main(std::env::args().skip(1).collect()));
    // Dropping the runtime would wait, without limit, for blocking work still
    // running (a compression step mid-chunk after SIGTERM, a DNS lookup):
    // the exit gets the reserve the shutdown window kept for it instead.
    runtime.shutdown_timeout(crate::runtime::SHUTDOWN_EXIT_RESERVE);
    code
}

/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// How often the progress line is redrawn on a terminal.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

pub(crate) fn usage_error(message: &str) -> ExitCode {
    eprintln!("bootstrap: {message}\n\n{}", help());
    ExitCode::from(EXIT_USAGE)
}

/// Runs the command in `args` (without the program name).
pub async fn main(args: Vec<String>) -> ExitCode {
    match args.first().map(String::as_str) {
        None => crate::function::serve().await,
        Some("-h" | "--help" | "help") => {
            print!("{}", help());
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("bootstrap {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("invoke") => match args.get(1..) {
            Some([path]) => invoke::invoke(path).await,
            _ => usage_error("invoke takes exactly one EVENT.json"),
        },
        Some("copy") => copy::copy(&args[1..]).await,
        Some("bench") => bench::bench(&args[1..]).await,
        Some(other) => usage_error(&format!("unknown command {other:?}")),
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM, so the copy aborts cleanly.
pub(crate) fn cancel_on_signal(token: &CancellationToken) {
    let token = token.clone();
    tokio::spawn(async move {
        crate::function::terminate_signal().await;
        tracing::warn!("interrupted: cancelling");
        token.cancel();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_the_docs_list_every_builtin_transform_and_no_other() {
        let text = help();
        let listed: Vec<&str> = include_str!("../../docs/transforms.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        let names = crate::transform::names();
        assert_eq!(listed, names, "docs/transforms.md vs BUILTINS");
        for builtin in crate::transform::BUILTINS {
            assert!(
                text.contains(&format!("    {}", builtin.name)) && text.contains(builtin.summary),
                "{} missing from --help",
                builtin.name
            );
        }
    }
}
