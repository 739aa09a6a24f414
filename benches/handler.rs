//! Handler benches: one invocation with 8 records of 256 MiB each, run by the
//! real `bootstrap invoke`, stays within the configured buffer budget; and one
//! SQS batch of 100 small objects against 100 single-message invocations.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

const MIB: u64 = 1024 * 1024;

/// Records in the event.
const RECORDS: usize = 8;

/// Function memory: 512 MB gives a 64 MiB buffer budget (one eighth).
const MEMORY_MIB: u64 = 512;

/// Size of each record's object: 256 MiB (4 MiB in a smoke test).
fn object_size() -> u64 {
    if support::smoke_test() {
        4 * MIB
    } else {
        256 * MIB
    }
}

fn invoke(event: &PathBuf, destination: &str) -> support::ChildRun {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DST_BUCKET", destination)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MIB.to_string())
        // These benches measure the streaming path (memory, concurrency).
        .env("COPY_MODE", "stream")
        .arg("invoke")
        .arg(event);
    for (key, value) in common::s3_env() {
        command.env(key, value);
    }
    support::run_measured(&mut command)
}

/// Deletes `keys` from `bucket`, so the next run copies them again (a copy
/// of the same event already there is `superseded`: newest wins).
fn clear(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) {
    rt.block_on(async {
        let objects: Vec<aws_sdk_s3::types::ObjectIdentifier> = keys
            .iter()
            .filter_map(|key| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(key)
                    .build()
                    .ok()
            })
            .collect();
        let delete = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .build()
            .expect("a delete request");
        client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .expect("clear the destination");
    })
}

/// Measures the peak RSS (and time) of `bootstrap invoke` on one event of 8
/// records × 256 MiB at 512 MB, against the same command on an event that
/// copies nothing; asserts every record was copied and, in a full run, that
/// the growth over that baseline stays within the 64 MiB buffer budget.
fn eight_records(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let size = object_size();
    let dir = tempfile::tempdir().expect("temp dir for the event files");
    let (client, destination, keys, event, idle) = rt.block_on(async {
        let client = common::client().await;
        let source = common::create_bucket(&client, "bench-handler-src").await;
        let destination = common::create_bucket(&client, "bench-handler-dst").await;
        let mut records = Vec::new();
        for n in 0..RECORDS {
            let key = format!("records/object {n}.bin");
            let sample = s3_stream_testkit::sample::upload_sample(&client, &source, &key, size)
                .await
                .expect("sample upload");
            records.push((key, sample.etag));
        }
        let listed: Vec<(&str, &str, usize, &str)> = records
            .iter()
            .map(|(k, e)| (source.as_str(), k.as_str(), size as usize, e.as_str()))
            .collect();
        let event = dir.path().join("event.json");
        std::fs::write(&event, common::function::s3_event(&listed).to_string())
            .expect("write event");
        let idle = dir.path().join("idle.json");
        std::fs::write(
            &idle,
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#,
        )
        .expect("write idle");
        let keys: Vec<String> = records.iter().map(|(key, _)| key.clone()).collect();
        (client, destination, keys, event, idle)
    });
    let baseline = invoke(&idle, &destination).peak_rss;
    let mut group = c.benchmark_group("handler/rss");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1));
    group.throughput(criterion::Throughput::Bytes(size * RECORDS as u64));
    let mut peaks = Vec::new();
    let name = if support::smoke_test() {
        "8x4MiB"
    } else {
        "8x256MiB"
    };
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    clear(&rt, &client, &destination, &keys);
                    let run = invoke(&event, &destination);
                    let report: serde_json::Value =
                        serde_json::from_str(&run.stdout).expect("report");
                    assert_eq!(report["summary"]["copied"], RECORDS, "every record copied");
                    peaks.push(run.peak_rss);
                    run.elapsed
                })
                .sum()
        })
    });
    group.finish();
    let peak = support::median(&mut peaks);
    let budget = MEMORY_MIB * MIB / 8;
    println!(
        "handler/rss/{name}: median peak RSS {:.1} MiB, idle baseline {:.1} MiB, growth {:.1} MiB, budget {:.0} MiB",
        peak as f64 / MIB as f64,
        baseline as f64 / MIB as f64,
        peak.saturating_sub(baseline) as f64 / MIB as f64,
        budget as f64 / MIB as f64
    );
    if !support::smoke_test() {
        assert!(
            peak.saturating_sub(baseline) <= budget,
            "buffers exceeded the budget"
        );
    }
}

/// Small objects in the SQS batch (and single-message invocations).
const SMALL_OBJECTS: usize = 100;

/// Size of each small object.
const SMALL_OBJECT_BYTES: usize = 4 * 1024;

/// An SQS batch whose messages each carry one S3 notification.
fn sqs_batch(notifications: &[serde_json::Value]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = notifications
        .iter()
        .enumerate()
        .map(|(n, body)| {
            serde_json::json!({
                "messageId": format!("message-{n}"),
                "receiptHandle": format!("handle-{n}"),
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3-copies",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Measures one SQS batch of 100 messages × 4 KiB objects at 512 MB against
/// 100 single-message invocations run one after another, through the real
/// `bootstrap` runtime loop and the emulator, on the same server in one run,
/// for the streaming path (`COPY_MODE=stream`, GET + PUT) and the default
/// server-side path (`CopyObject`); asserts every message was copied and, in
/// a full run, that a streamed batch takes at most a fifth of the singles'
/// time (records run concurrently). The server-side ratio is reported only:
/// it costs no transfer latency to hide, so on two cores shared with the
/// server it measures CPU, not concurrency.
fn small_objects(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (client, destination, notifications) = rt.block_on(async {
        let client = common::client().await;
        let source = common::create_bucket(&client, "bench-small-src").await;
        let destination = common::create_bucket(&client, "bench-small-dst").await;
        let mut notifications = Vec::new();
        for n in 0..SMALL_OBJECTS {
            let key = format!("small/{n}.json");
            let data = common::bytes_of(SMALL_OBJECT_BYTES, n as u64);
            let etag = common::put(&client, &source, &key, data).await;
            notifications.push(common::function::s3_event(&[(
                &source,
                &key,
                SMALL_OBJECT_BYTES,
                &etag,
            )]));
        }
        (client, destination, notifications)
    });
    let keys: Vec<String> = (0..SMALL_OBJECTS)
        .map(|n| format!("small/{n}.json"))
        .collect();
    let batch_event = sqs_batch(&notifications);
    let singles: Vec<serde_json::Value> = notifications
        .iter()
        .map(|n| sqs_batch(std::slice::from_ref(n)))
        .collect();
    let mut group = c.benchmark_group("handler/small-objects");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1));
    let mut ratios = Vec::new();
    for (variant, mode) in [("stream", "stream"), ("server", "auto")] {
        let function = rt.block_on(common::function::start(&[
            ("DST_BUCKET", &destination),
            ("COPY_MODE", mode),
        ]));
        let copied = |post: &s3_stream_testkit::emulator::Post, messages: usize| {
            let report = post.json();
            assert_eq!(report["summary"]["copied"], messages, "{report}");
            assert_eq!(
                report["batchItemFailures"],
                serde_json::json!([]),
                "{report}"
            );
            let method = report["records"][0]["method"].as_str().unwrap_or_default();
            assert_eq!(method, variant, "{report}");
        };
        // Times `events` delivered one after another (the destination
        // cleared first), each post checked after the timing; the median.
        let mut measure = |name: String, events: &[serde_json::Value], messages: usize| {
            let mut times = Vec::new();
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            clear(&rt, &client, &destination, &keys);
                            let started = std::time::Instant::now();
                            let posts: Vec<_> = events
                                .iter()
                                .map(|event| rt.block_on(function.invoke(event.clone())))
                                .collect();
                            let elapsed = started.elapsed();
                            for post in &posts {
                                copied(post, messages);
                            }
                            times.push(elapsed);
                            elapsed
                        })
                        .sum()
                })
            });
            support::median(&mut times)
        };
        let batch = measure(
            format!("sqs-batch-100/{variant}"),
            std::slice::from_ref(&batch_event),
            SMALL_OBJECTS,
        );
        let singles = measure(format!("single-message-x100/{variant}"), &singles, 1);
        let ratio = batch.as_secs_f64() / singles.as_secs_f64();
        println!(
            "handler/small-objects/{variant}: sqs-batch-100 median {batch:.2?}, single-message-x100 median {singles:.2?}, batch/singles {ratio:.3}"
        );
        ratios.push((variant, ratio));
    }
    group.finish();
    let (_, streamed) = ratios[0];
    println!("handler/small-objects: streamed batch/singles {streamed:.3} (goal <= 0.200)");
    if !support::smoke_test() {
        assert!(
            streamed <= 0.2,
            "the streamed batch took {streamed:.3} of the singles' time"
        );
    }
}

criterion_group!(benches, eight_records, small_objects);
criterion_main!(benches);
