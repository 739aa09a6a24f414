//! `bootstrap` against a Runtime API that is not this repository's emulator: a
//! minimal one written in Python from AWS's documentation (HTTP/1.0, a new
//! connection per request), as a new user's emulator would be.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn next_json(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> serde_json::Value {
    let line = lines.next().expect("a line").expect("readable");
    serde_json::from_str(&line).expect("json line")
}

#[test]
fn serves_invocations_and_posts_errors_in_the_documented_format() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minimal_runtime_api.py"
    );
    let mut api = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        // Three invocations: not JSON, not an accepted shape, an S3 test event.
        let mut stdin = api.stdin.take().expect("stdin");
        writeln!(stdin, "not json").unwrap();
        writeln!(stdin, r#"{{"hello": "world"}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}}"#
        )
        .unwrap();
    }
    let mut lines = BufReader::new(api.stdout.take().expect("stdout")).lines();
    let port = next_json(&mut lines)["port"].as_u64().expect("port");
    let mut function = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("DST_BUCKET", "consumer")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap starts");
    let started = Instant::now();
    let mut results = Vec::new();
    while results.len() < 3 && started.elapsed() < Duration::from_secs(30) {
        results.push(next_json(&mut lines));
    }
    let _ = function.kill();
    let _ = function.wait();
    let _ = api.kill();
    let _ = api.wait();
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
