//! `bootstrap invoke EVENT.json` and `bootstrap copy SRC DST` against moto_server.

use crate::common::{self, Stack};
use std::process::{Command, Output};

fn bootstrap(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in common::s3_env() {
        command.env(key, value);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("bootstrap runs")
}

/// [`bootstrap`] off the async runtime, so the test's moto calls keep running.
async fn bootstrap_blocking(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bootstrap(&args, &env)
    })
    .await
    .expect("bootstrap task")
}

#[tokio::test]
async fn invoke_runs_the_handler_on_an_event_file() {
    let s = Stack::new("cli-invoke").await;
    let etag = s.put("a b+c.txt", b"payload".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.json");
    std::fs::write(
        &ok,
        common::function::s3_event(&[(&s.source, "a b+c.txt", 7, &etag)]).to_string(),
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        common::function::s3_event(&[(&s.source, "missing", 7, &etag)]).to_string(),
    )
    .unwrap();

    let output = bootstrap_blocking(
        &["invoke", ok.to_str().unwrap()],
        &[("DST_BUCKET", &s.destination)],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["copied"], 1);
    assert_eq!(s.get("a b+c.txt").await, b"payload");

    let output = bootstrap_blocking(
        &["invoke", bad.to_str().unwrap()],
        &[("DST_BUCKET", &s.destination)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["errorType"], "S3.NoSuchKey");
}

#[tokio::test]
async fn copy_copies_one_object_and_help_documents_both_commands() {
    let s = Stack::new("cli-copy").await;
    let data = common::bytes_of(6 * 1024 * 1024, 5);
    s.put("in/put.bin", data.clone()).await;
    let src = format!("s3://{}/in/put.bin", s.source);
    let dst = format!("s3://{}/out/put.bin", s.destination);
    let output = bootstrap_blocking(&["copy", &src, &dst, "--transform", "identity"], &[]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["bytesWritten"], data.len());
    assert_eq!(
        common::sha256(&s.get("out/put.bin").await),
        common::sha256(&data)
    );

    let help = bootstrap(&["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    assert!(
        text.contains("bootstrap invoke EVENT.json") && text.contains("bootstrap copy s3://"),
        "{text}"
    );
    let usage = bootstrap(&["copy", "not-a-url"], &[]);
    assert_eq!(usage.status.code(), Some(2));
}
