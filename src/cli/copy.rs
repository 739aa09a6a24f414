//! `bootstrap copy s3://… s3://…`: one streaming copy, its progress on a terminal, its report on stdout.

use super::{PROGRESS_INTERVAL, cancel_on_signal, usage_error};
use crate::config::Config;
use crate::copy::{CopyProgress, Destination, SourceSpec, copy_object};
use crate::s3::object_url;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub(super) async fn copy(args: &[String]) -> ExitCode {
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
        (object_url(source_url), object_url(destination_url))
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
