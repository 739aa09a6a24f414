//! The real `bootstrap` under cargo-lambda's emulator (`cargo lambda watch --only-lambda-apis`), invoked with `cargo lambda invoke`, as Rust developers run a function locally.

use crate::common::function::{self, s3_event};
use crate::common::{self, Stack};
use s3_stream_testkit::cargo_lambda::CargoLambdaWatch;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// Longest wait for the function's log line.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn copies_refuses_a_malformed_event_and_copies_again_under_cargo_lambda() {
    let s = Stack::new("cargo-lambda").await;
    let first = common::bytes_of(6 * MIB + 7, 21);
    let second = common::bytes_of(MIB, 22);
    let first_etag = s.put("first.bin", first.clone()).await;
    let second_etag = s.put("second.bin", second.clone()).await;

    let watch = CargoLambdaWatch::start().await.unwrap_or_else(|e| {
        panic!(
            "cargo lambda watch starts: {}",
            s3_stream_testkit::error_chain::error_chain(&e)
        )
    });
    let (child, output) = function::spawn(&watch.runtime_api(), &[("DST_BUCKET", &s.destination)]);
    let _function = function::KillOnDrop(child);

    // One copy through `cargo lambda invoke`, checked byte for byte.
    let copy = async |key: &str, data: &[u8], etag: &str| {
        let copied = watch
            .invoke(&s3_event(&[(&s.source, key, data.len(), etag)]).to_string())
            .await
            .expect("cargo lambda invoke runs");
        assert!(
            copied.success,
            "{key}: {copied:?}\n{}",
            function::lines(&output.stderr)
        );
        assert_eq!(copied.json()["summary"]["copied"], 1, "{}", copied.stdout);
        assert_eq!(
            s.get(key).await,
            data,
            "{key}: the copy is byte for byte the source"
        );
    };

    // A real copy: cargo-lambda sends its deadline as a 600 s duration.
    copy("first.bin", &first, &first_etag).await;

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

    copy("second.bin", &second, &second_etag).await;

    // The runtime said once how it read cargo-lambda's deadline header.
    let said = |needle: &str| {
        function::lines(&output.stderr)
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
        function::lines(&output.stderr)
    );
}
