//! `bootstrap bench` against moto_server: on the command line (table, JSON, chart, merge), as a bench event through the emulator, its refusals, and nothing left behind, also after SIGTERM or at the deadline.

use crate::common::{self, Stack, function};
use aws_sdk_s3::Client;
use http::StatusCode;
use s3_stream_lambda::bench::BenchReport;
use s3_stream_testkit::emulator::{InvocationSpec, PostKind};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The smallest object a bench takes: every sweep's parts fit twice.
const SIZE_MIB: &str = "64";

fn bench_command(args: &[&str]) -> Command {
    bench_command_at(common::endpoint(), args)
}

/// `bootstrap bench ARGS` talking to the S3 at `endpoint`.
fn bench_command_at(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .arg("bench")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769");
    for (key, value) in s3_stream_testkit::local_s3::child_env(endpoint) {
        command.env(key, value);
    }
    command
}

async fn bench(args: &[&str]) -> Output {
    run(bench_command(args)).await
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("bootstrap runs")
}

/// Objects and open uploads under `prefix`.
async fn under(client: &Client, bucket: &str, prefix: &str) -> (usize, usize) {
    let objects = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list objects")
        .contents()
        .len();
    let uploads = client
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .len();
    (objects, uploads)
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_measures_every_operation_recommends_and_leaves_nothing() {
    let client = common::client().await;
    let bucket = common::create_bucket(&client, "bench-cli").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("chart.svg");
    let target = format!("s3://{bucket}/bench/");
    let output = bench(&[
        &target,
        "--size-mib",
        SIZE_MIB,
        "--rounds",
        "1",
        "--json",
        "--svg",
        chart.to_str().expect("utf-8 path"),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let report: BenchReport = serde_json::from_slice(&output.stdout).expect("a bench report");
    let operations: std::collections::BTreeSet<&str> =
        report.rows.iter().map(|row| row.operation.name()).collect();
    assert_eq!(
        operations.into_iter().collect::<Vec<_>>(),
        ["get", "put", "server", "small-get", "small-put", "stream"],
        "{}",
        text(&output)
    );
    for row in &report.rows {
        assert!(
            row.mb_per_second > 0.0 && row.requests_per_second > 0.0,
            "{row:?}"
        );
        assert!(
            row.ttfb_ms.samples > 0 && row.cost_per_gb_usd > 0.0,
            "{row:?}"
        );
        // 128 small requests give a p99; a 64 MiB transfer's few dozen do not.
        assert_eq!(
            row.ttfb_ms.p99.is_some(),
            row.operation.is_small(),
            "{row:?}"
        );
    }
    assert_eq!(report.memory_mb, 1769);
    assert_eq!(report.label, "1769 MB");
    let recommended = |variable: &str| {
        report
            .recommendations
            .iter()
            .find(|r| r.variable == variable)
            .map(|r| serde_json::to_value(r.basis).expect("basis"))
    };
    assert_eq!(recommended("PART_SIZE_MIB"), Some("measured".into()));
    assert_eq!(recommended("UPLOAD_CONCURRENCY"), Some("measured".into()));
    assert_eq!(recommended("READ_AHEAD"), Some("inferred".into()));
    assert_eq!(under(&client, &bucket, "").await, (0, 0), "nothing left");
    // The source, 32 small objects; each measured transfer was deleted as it ended.
    assert_eq!(report.cleaned_up.objects, 33);
    let svg = std::fs::read_to_string(&chart).expect("the chart");
    assert!(
        svg.starts_with("<svg") && svg.contains("stream (MB/s)"),
        "{svg}"
    );

    // Two runs (here the same one twice) merge into one chart and tables.
    let run = dir.path().join("run.json");
    std::fs::write(&run, &output.stdout).expect("write run.json");
    let merged = dir.path().join("merged.svg");
    let run = run.to_str().expect("utf-8 path");
    let output = bench(&[
        "--merge",
        run,
        run,
        "--svg",
        merged.to_str().expect("utf-8"),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .matches("recommended for 1769 MB")
            .count(),
        2
    );
    let merged = std::fs::read_to_string(&merged).expect("the merged chart");
    assert_eq!(
        merged.matches("<polyline").count(),
        2 * svg.matches("<polyline").count()
    );
}

#[tokio::test]
async fn a_prefix_holding_objects_the_bench_did_not_write_is_refused_untouched() {
    let client = common::client().await;
    let bucket = common::create_bucket(&client, "bench-foreign").await;
    common::put(&client, &bucket, "bench/data.csv", b"a,b\n".to_vec()).await;
    // Named like a run's key, but not marked as one.
    common::put(
        &client,
        &bucket,
        "other/s3-stream-lambda-bench-1-2/source",
        b"x".to_vec(),
    )
    .await;
    for (target, first) in [
        ("bench/", "bench/data.csv"),
        ("other/", "other/s3-stream-lambda-bench-1-2/source"),
    ] {
        let output = bench(&[&format!("s3://{bucket}/{target}"), "--size-mib", SIZE_MIB]).await;
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Bench.PrefixNotEmpty") && stderr.contains(first),
            "{stderr}"
        );
    }
    assert_eq!(
        under(&client, &bucket, "").await,
        (2, 0),
        "both objects kept, nothing added"
    );
    // A whole bucket is no target: refused before any request, naming the target.
    let output = bench(&[&format!("s3://{bucket}/")]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the bench target must name a prefix"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_s3_refuses_fails_the_bench_after_it_removed_what_it_wrote() {
    let s = Stack::new("bench-refused").await;
    // The source and the small objects are written; the first measured GET is refused.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::GetObject),
        Fault::s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
    ));
    let command = bench_command_at(
        &s.proxy.endpoint(),
        &[
            &format!("s3://{}/bench/", s.destination),
            "--size-mib",
            SIZE_MIB,
        ],
    );
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Bench.Failed")
            && stderr.contains("get 8 MiB × 1")
            && stderr.contains("AccessDenied"),
        "{stderr}"
    );
    assert_eq!(under(&s.client, &s.destination, "").await, (0, 0));
}

#[tokio::test]
async fn in_a_versioned_bucket_no_version_of_what_the_bench_wrote_is_left() {
    let client = common::client().await;
    let bucket = common::create_bucket(&client, "bench-versioned").await;
    common::enable_versioning(&client, &bucket).await;
    let output = bench(&[
        &format!("s3://{bucket}/bench/"),
        "--size-mib",
        SIZE_MIB,
        "--only",
        "put,small-put",
        "--rounds",
        "1",
        "--json",
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let report: BenchReport = serde_json::from_slice(&output.stdout).expect("a bench report");
    assert!(report.cleaned_up.versions > 0, "{:?}", report.cleaned_up);
    let versions = client
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .expect("list versions");
    assert_eq!(
        (versions.versions().len(), versions.delete_markers().len()),
        (0, 0),
        "{versions:?}"
    );
}

/// A copy of a `--source` of the user's is marked as the run's, as every
/// object the bench writes is: one a SIGKILL leaves is the run's leftover
/// for the next run to remove, not a foreign object that refuses the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_named_source_left_by_sigkill_is_marked_as_the_runs() {
    let s = Stack::new("bench-sigkill").await;
    s.client
        .put_object()
        .bucket(&s.source)
        .key("data/source")
        .metadata("owner", "someone")
        .body(common::bytes_of(64 << 20, 5).into())
        .send()
        .await
        .expect("put the source");
    // The delete after the first measured copy is held: the copy stays.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::DeleteObject),
        Fault::Delay(Duration::from_secs(600)),
    ));
    let mut command = bench_command_at(
        &s.proxy.endpoint(),
        &[
            &format!("s3://{}/bench/", s.destination),
            "--source",
            &format!("s3://{}/data/source", s.source),
            "--only",
            "server",
            "--rounds",
            "1",
        ],
    );
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = command.spawn().expect("bootstrap starts");
    s.wait_for(S3Op::DeleteObject, 1, Duration::from_secs(120))
        .await;
    let listed = s
        .client
        .list_objects_v2()
        .bucket(&s.destination)
        .prefix("bench/")
        .send()
        .await
        .expect("list the prefix");
    let copy = listed
        .contents()
        .iter()
        .filter_map(|object| object.key())
        .find(|key| key.ends_with("/copy"))
        .expect("the measured copy")
        .to_owned();
    child.kill().expect("SIGKILL");
    child.wait().expect("bootstrap exits");
    let run = copy
        .strip_prefix("bench/s3-stream-lambda-bench-")
        .and_then(|rest| rest.strip_suffix("/copy"))
        .expect("a run's copy key");
    let head = s
        .client
        .head_object()
        .bucket(&s.destination)
        .key(&copy)
        .send()
        .await
        .expect("the copy the kill left");
    let metadata = head.metadata().cloned().unwrap_or_default();
    assert_eq!(
        metadata.get("s3-stream-lambda-bench").map(String::as_str),
        Some(run),
        "{metadata:?}"
    );
    assert_eq!(
        metadata.get("owner").map(String::as_str),
        Some("someone"),
        "the source's own metadata is carried beside the marker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_removes_everything_the_bench_wrote() {
    let client = common::client().await;
    let bucket = common::create_bucket(&client, "bench-sigterm").await;
    let mut command = bench_command(&[
        &format!("s3://{bucket}/bench/"),
        "--size-mib",
        SIZE_MIB,
        "--only",
        "put,stream",
        "--rounds",
        "5",
    ]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("bootstrap starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    common::drain_lines(child.stderr.take().expect("stderr"), Arc::clone(&stderr));
    // Once the first case is measured, the next one is mid-transfer.
    let started = std::time::Instant::now();
    while !function::lines(&stderr).contains("bench: round 1:") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{}",
            function::lines(&stderr)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("bootstrap exits");
    let logs = function::lines(&stderr);
    assert_eq!(output.status.code(), Some(1), "{logs}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("interrupted"),
        "{logs}"
    );
    assert_eq!(under(&client, &bucket, "").await, (0, 0), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_event_answers_its_report_within_the_deadline_and_is_refused_outside_bench_prefix()
{
    let client = common::client().await;
    let bucket = common::create_bucket(&client, "bench-event").await;
    let allowed = format!("s3://{bucket}/bench/");
    let f = function::start(&[("DST_BUCKET", &bucket), ("BENCH_PREFIX", &allowed)]).await;
    // More rounds than 20 s hold: the bench stops measuring in time to clean up.
    let timeout = Duration::from_secs(20);
    let event = serde_json::json!({"bench": {
        "sizeMib": 64, "rounds": 25, "operations": ["get", "put", "small-get"], "svg": true
    }});
    let started = std::time::Instant::now();
    let post = f
        .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(timeout))
        .await;
    assert_eq!(
        post.kind,
        PostKind::Response,
        "{}\n{}",
        post.json(),
        f.logs()
    );
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    let report: BenchReport =
        serde_json::from_slice(&post.body).expect("the report, as --json prints it");
    assert!(report.rounds >= 1 && report.rounds < 25, "{}", post.json());
    assert!(!report.not_measured.is_empty(), "{}", post.json());
    assert_eq!(report.memory_mb, 512);
    assert!(
        report
            .svg
            .as_deref()
            .is_some_and(|svg| svg.starts_with("<svg"))
    );
    assert_eq!(under(&client, &bucket, "").await, (0, 0), "{}", f.logs());

    for (event, error_type) in [
        (
            serde_json::json!({"bench": {"target": format!("s3://{bucket}/other/")}}),
            "Bench.NotAllowed",
        ),
        (
            serde_json::json!({"bench": {"target": "s3://another-bucket/bench/"}}),
            "Bench.NotAllowed",
        ),
        (
            serde_json::json!({"bench": {"sizeMib": 64, "bucket": "x"}}),
            "Bench.InvalidRequest",
        ),
    ] {
        let post = f.invoke(event).await;
        assert_eq!(post.kind, PostKind::Error, "{}", post.json());
        assert_eq!(post.json()["errorType"], error_type, "{}", post.json());
    }
    drop(f);
    let off = function::start(&[("DST_BUCKET", &bucket)]).await;
    let post = off.invoke(serde_json::json!({"bench": {}})).await;
    assert_eq!(
        post.json()["errorType"],
        "Bench.NotAllowed",
        "{}",
        post.json()
    );
    assert!(
        post.json()["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("BENCH_PREFIX"))
    );
    assert_eq!(under(&client, &bucket, "").await, (0, 0));
}
