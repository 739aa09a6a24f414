//! The real `bootstrap` binary as a child process against the emulator.
#![allow(dead_code)]

use s3_stream_testkit::emulator::{InvocationSpec, Post, PostKind, RuntimeApiEmulator};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Environment variables for a child process, as (name, value) pairs.
pub type Env<'a> = &'a [(&'a str, &'a str)];

/// Longest wait for one invocation's result in these tests.
pub const RESULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `bootstrap` and the emulator it serves.
pub struct Function {
    pub emulator: RuntimeApiEmulator,
    pub child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// stdout's lines: the metric records (logs go to stderr).
    pub stdout: Arc<Mutex<Vec<String>>>,
}

/// A child's output lines, collected in the background.
pub struct Output {
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

/// Starts `bootstrap` with the test S3 environment plus `env`.
pub async fn start(env: &[(&str, &str)]) -> Function {
    let emulator = RuntimeApiEmulator::start().await.expect("emulator starts");
    let (child, output) = spawn(&emulator.endpoint(), env);
    Function {
        emulator,
        child,
        stderr: output.stderr,
        stdout: output.stdout,
    }
}

/// Starts `bootstrap` against the Runtime API at `runtime_api` (ours or
/// another emulator) with the test S3 environment plus `env`; its stderr
/// and stdout lines are collected in the background.
pub fn spawn(runtime_api: &str, env: &[(&str, &str)]) -> (Child, Output) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in super::s3_env() {
        command.env(key, value);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("bootstrap starts");
    let output = Output {
        stderr: Arc::new(Mutex::new(Vec::new())),
        stdout: Arc::new(Mutex::new(Vec::new())),
    };
    if let Some(pipe) = child.stderr.take() {
        super::drain_lines(pipe, Arc::clone(&output.stderr));
    }
    if let Some(pipe) = child.stdout.take() {
        super::drain_lines(pipe, Arc::clone(&output.stdout));
    }
    (child, output)
}

impl Function {
    /// Delivers `event` and waits for its result.
    pub async fn invoke(&self, event: serde_json::Value) -> Post {
        self.invoke_spec(InvocationSpec::new(event.to_string()))
            .await
    }

    /// Delivers `event`, waits for its result and asserts that it is a
    /// response, not an error.
    pub async fn invoke_ok(&self, event: serde_json::Value) -> Post {
        let post = self.invoke(event).await;
        assert_eq!(
            post.kind,
            PostKind::Response,
            "{}\n{}",
            post.json(),
            self.logs()
        );
        post
    }

    /// Delivers `spec` and waits for its result.
    pub async fn invoke_spec(&self, spec: InvocationSpec) -> Post {
        let id = self.emulator.enqueue(spec);
        match self.emulator.wait_for_result(&id, RESULT_TIMEOUT).await {
            Some(post) => post,
            None => panic!("no result for {id}; bootstrap stderr:\n{}", self.logs()),
        }
    }

    /// What the function logged so far.
    pub fn logs(&self) -> String {
        lines(&self.stderr)
    }

    /// The lines the function wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines collected from a child's stderr so far, joined.
pub fn lines(stderr: &Mutex<Vec<String>>) -> String {
    stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
}

/// A child process (a `bootstrap` under another emulator) killed when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An SQS record whose body is `body` as JSON text.
pub fn sqs_message(id: &str, body: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "messageId": id, "receiptHandle": "h", "body": body.to_string(),
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
    })
}

/// An S3 notification with one `ObjectCreated:Put` record per object.
pub fn s3_event(records: &[(&str, &str, usize, &str)]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(bucket, key, size, etag)| {
            serde_json::json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-26T20:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {
                        "key": s3_stream_testkit::notification_key::encode_key(key),
                        "size": size,
                        "eTag": etag.trim_matches('"'),
                        "sequencer": "0067A1B2C3D4E5F601"
                    }
                }
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}
