//! The local commands of `bootstrap`: `invoke EVENT.json` and `copy SRC DST`.

use crate::config::Config;
use crate::copy::{CopyProgress, Destination, SourceSpec, copy_object};
use crate::handler::CopyHandler;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
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
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

fn usage_error(message: &str) -> ExitCode {
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
            Some([path]) => invoke(path).await,
            _ => usage_error("invoke takes exactly one EVENT.json"),
        },
        Some("copy") => copy(&args[1..]).await,
        Some(other) => usage_error(&format!("unknown command {other:?}")),
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM, so the copy aborts cleanly.
fn cancel_on_signal(token: &CancellationToken) {
    let token = token.clone();
    tokio::spawn(async move {
        crate::function::terminate_signal().await;
        tracing::warn!("interrupted: cancelling");
        token.cancel();
    });
}

async fn invoke(path: &str) -> ExitCode {
    let body = match std::fs::read(path) {
        Ok(body) => body,
        Err(error) => return usage_error(&format!("failed to read {path}: {error}")),
    };
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => return usage_error(&format!("{path} is not json: {error}")),
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    let cancel = CancellationToken::new();
    cancel_on_signal(&cancel);
    // No Runtime API sends a deadline here: the handler gets the timeout a
    // deadline-less invocation is assumed to have.
    let margin = config.deadline_margin;
    let timeout = config.assumed_timeout;
    let timer = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout.saturating_sub(margin)).await;
            cancel.cancel();
        })
    };
    let stop_at = tokio::time::Instant::now() + timeout.saturating_sub(margin);
    let handler = CopyHandler::new(crate::s3::client_from_env().await, config);
    let result = handler.handle(event, &cancel, Some(stop_at)).await;
    timer.abort();
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.has_failures() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(diagnostic) => {
            println!("{}", String::from_utf8_lossy(&diagnostic.to_json()));
            ExitCode::FAILURE
        }
    }
}

/// Splits `s3://bucket/key`.
fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

async fn copy(args: &[String]) -> ExitCode {
    let mut urls = Vec::new();
    let mut transform_name = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--transform" => match rest.next() {
                Some(name) => transform_name = Some(name.clone()),
                None => return usage_error("--transform needs a NAME"),
            },
            other if other.starts_with("--") => {
                return usage_error(&format!("unknown option {other}"));
            }
            url => urls.push(url.to_owned()),
        }
    }
    let [source_url, destination_url] = urls.as_slice() else {
        return usage_error("copy takes a source and a destination s3:// url");
    };
    let (Some((source_bucket, source_key)), Some((destination_bucket, destination_key))) =
        (parse_s3_url(source_url), parse_s3_url(destination_url))
    else {
        return usage_error("urls must look like s3://bucket/key");
    };
    let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
    env.insert("DST_BUCKET".into(), destination_bucket.clone());
    if let Some(name) = &transform_name {
        env.insert("TRANSFORM".into(), name.clone());
    }
    let config = match Config::from_map(&env) {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    let Some(transform) =
        crate::transform::by_name_with(&config.transform, &config.transform_options)
    else {
        return usage_error("unknown transform");
    };
    let client = crate::s3::client_from_env().await;
    let cancel = CancellationToken::new();
    cancel_on_signal(&cancel);
    let progress = Arc::new(CopyProgress::default());
    let ticker = std::io::stderr()
        .is_terminal()
        .then(|| spawn_progress(Arc::clone(&progress)));
    let source = SourceSpec {
        bucket: source_bucket,
        key: source_key,
        ..SourceSpec::default()
    };
    let destination = Destination {
        bucket: destination_bucket,
        key: destination_key,
    };
    // No one delivers a command again: an interrupted copy aborts its upload.
    let settings = crate::copy::CopySettings {
        resume: None,
        ..config.copy.clone()
    };
    let result = copy_object(
        &client,
        source,
        &destination,
        transform,
        &settings,
        &cancel,
        &progress,
    )
    .await;
    if let Some(ticker) = ticker {
        ticker.abort();
        eprintln!();
    }
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "bootstrap: {}: {}",
                error.error_type(),
                crate::runtime::error_chain(&error)
            );
            ExitCode::FAILURE
        }
    }
}

fn spawn_progress(progress: Arc<CopyProgress>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            tokio::time::sleep(PROGRESS_INTERVAL).await;
            let read = progress.bytes_read.load(Ordering::Relaxed);
            let written = progress.bytes_written.load(Ordering::Relaxed);
            let rate = crate::copy::report::megabytes_per_second(read, started.elapsed());
            eprint!(
                "\r{:>10.1} MiB read {:>10.1} MiB written {rate:>8.1} MB/s",
                read as f64 / 1048576.0,
                written as f64 / 1048576.0
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_urls() {
        assert_eq!(
            parse_s3_url("s3://b/a/b c"),
            Some(("b".into(), "a/b c".into()))
        );
        assert_eq!(parse_s3_url("s3://b/"), None);
        assert_eq!(parse_s3_url("http://b/k"), None);
    }

    #[test]
    fn help_and_the_docs_list_every_builtin_transform_and_no_other() {
        let text = help();
        let listed: Vec<&str> = include_str!("../docs/transforms.md")
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
