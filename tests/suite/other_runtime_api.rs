//! `bootstrap` against a Runtime API that is not this repository's emulator: a
//! minimal one written in Python from AWS's documentation (HTTP/1.0, a new
//! connection per request), as a new user's emulator would be.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest the whole exchange may take before the test fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed and reaped when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next JSON line the API printed, or a failure once `deadline` passes
/// (the lines are read on a thread, so a silent API cannot hang the test).
fn next_json(lines: &mpsc::Receiver<String>, deadline: Instant) -> serde_json::Value {
    let left = deadline.saturating_duration_since(Instant::now());
    let line = lines
        .recv_timeout(left)
        .unwrap_or_else(|e| panic!("no line from the runtime api within {TEST_TIMEOUT:?}: {e}"));
    serde_json::from_str(&line).expect("json line")
}

#[test]
fn serves_invocations_and_posts_errors_in_the_documented_format() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minimal_runtime_api.py"
    );
    let mut api = KillOnDrop(
        Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    {
        // Three invocations: not JSON, not an accepted shape, an S3 test event.
        let mut stdin = api.0.stdin.take().expect("stdin");
        writeln!(stdin, "not json").unwrap();
        writeln!(stdin, r#"{{"hello": "world"}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}}"#
        )
        .unwrap();
    }
    let deadline = Instant::now() + TEST_TIMEOUT;
    let stdout = api.0.stdout.take().expect("stdout");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let port = next_json(&lines, deadline)["port"].as_u64().expect("port");
    let _function = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("DST_BUCKET", "consumer")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stderr(Stdio::null())
            .spawn()
            .expect("bootstrap starts"),
    );
    let results: Vec<serde_json::Value> = (0..3).map(|_| next_json(&lines, deadline)).collect();
    assert_eq!(results.len(), 3, "{results:?}");
    for malformed in &results[..2] {
        assert_eq!(malformed["kind"], "error", "{malformed}");
        assert_eq!(malformed["errorType"], "Runtime.MalformedEvent");
        assert_eq!(
            malformed["contentType"],
            "application/vnd.aws.lambda.error+json"
        );
        assert_eq!(malformed["body"]["errorType"], "Runtime.MalformedEvent");
        assert!(
            malformed["body"]["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(malformed["body"]["stackTrace"], serde_json::json!([]));
    }
    assert_eq!(results[2]["kind"], "response", "{}", results[2]);
    assert_eq!(results[2]["body"]["testEvent"], true);
}
