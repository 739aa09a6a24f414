//! The real `bootstrap` under cargo-lambda's emulator (`cargo lambda watch --only-lambda-apis`), invoked with `cargo lambda invoke`, as Rust developers run a function locally.

mod common;

use common::function::{self, s3_event};
use s3_stream_testkit::cargo_lambda::CargoLambdaWatch;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// Longest wait for the function's log line.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn copies_refuses_a_malformed_event_and_copies_again_under_cargo_lambda() {
    let client = common::client().await;
    let source = common::create_bucket(&client, "cargo-lambda-src").await;
    let destination = common::create_bucket(&client, "cargo-lambda-dst").await;
    let first = common::bytes_of(6 * MIB + 7, 21);
    let second = common::bytes_of(MIB, 22);
    let first_etag = common::put(&client, &source, "first.bin", first.clone()).await;
    let second_etag = common::put(&client, &source, "second.bin", second.clone()).await;

    let watch = CargoLambdaWatch::start().await.unwrap_or_else(|e| {
        panic!(
            "cargo lambda watch starts: {}",
            s3_stream_testkit::error_chain::error_chain(&e)
        )
    });
    let (child, logs) = function::spawn(&watch.runtime_api(), &[("DST_BUCKET", &destination)]);
    let _function = function::KillOnDrop(child);

    // A real copy: cargo-lambda sends its deadline as a 600 s duration.
    let copied = watch
        .invoke(&s3_event(&[(&source, "first.bin", first.len(), &first_etag)]).to_string())
        .await
        .expect("cargo lambda invoke runs");
    assert!(copied.success, "{copied:?}\n{}", function::lines(&logs));
    assert_eq!(copied.json()["summary"]["copied"], 1, "{}", copied.stdout);
    assert_eq!(
        common::get(&client, &destination, "first.bin").await,
        first,
        "the copy is byte for byte the source"
    );

    // A malformed event is the runtime's error, and the process lives on.
    let malformed = watch
        .invoke("{not json")
        .await
        .expect("cargo lambda invoke runs");
    assert!(!malformed.success, "{malformed:?}");
    assert_eq!(
        malformed.error_type(),
        Some("Runtime.MalformedEvent"),
        "{malformed:?}"
    );

    let again = watch
        .invoke(&s3_event(&[(&source, "second.bin", second.len(), &second_etag)]).to_string())
        .await
        .expect("cargo lambda invoke runs");
    assert!(again.success, "{again:?}\n{}", function::lines(&logs));
    assert_eq!(again.json()["summary"]["copied"], 1, "{}", again.stdout);
    assert_eq!(
        common::get(&client, &destination, "second.bin").await,
        second
    );

    // The runtime said once how it read cargo-lambda's deadline header.
    let said = |needle: &str| {
        function::lines(&logs)
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    };
    let waited = std::time::Instant::now();
    while said("read as a timeout in ms from receipt") == 0 && waited.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        said("read as a timeout in ms from receipt"),
        1,
        "{}",
        function::lines(&logs)
    );
}
