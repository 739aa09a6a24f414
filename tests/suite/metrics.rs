//! Metrics and progress: every EMF record the function writes is valid, and a long copy logs its progress at the interval.

use crate::common::function::{self, Function, s3_event, sqs_message};
use crate::common::{self, Stack};
use s3_stream_testkit::emf::{self, Published};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind};
use s3_stream_testkit::synthetic_s3::{GeneratedObject, SyntheticS3, SyntheticS3Config};
use serde_json::{Value, json};
use std::time::Duration;

/// The function's name in these tests: the `FunctionName` dimension.
const FUNCTION_NAME: &str = "copier";

/// Longest wait for the metric records after the invocation's result (they
/// are written before the result is posted; the pipe may lag the post).
const RECORDS_PATIENCE: Duration = Duration::from_secs(10);

/// The metric records the function wrote since `from` lines, once stdout is
/// quiet; every line is validated against the specification.
async fn published(f: &Function, from: usize) -> Vec<Vec<Published>> {
    let started = std::time::Instant::now();
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lines = f.stdout_lines();
        if lines.len() > from && lines.len() == seen || started.elapsed() > RECORDS_PATIENCE {
            return lines[from.min(lines.len())..]
                .iter()
                .map(|line| {
                    emf::validate_line(line).unwrap_or_else(|problems| {
                        panic!("invalid EMF record {line}: {problems:#?}")
                    })
                })
                .collect();
        }
        seen = lines.len();
    }
}

/// The sum of metric `name`'s values across `records`, where published with
/// the dimension `dimension` (a name and value), or anywhere when `None`.
fn total(records: &[Vec<Published>], name: &str, dimension: Option<(&str, &str)>) -> f64 {
    records
        .iter()
        .flatten()
        .filter(|metric| metric.name == name)
        .filter(|metric| {
            dimension.is_none_or(|(key, value)| {
                metric
                    .dimension_sets
                    .iter()
                    .flatten()
                    .any(|(k, v)| k == key && v == value)
            })
        })
        .map(|metric| metric.values.iter().sum::<f64>())
        .sum()
}

#[tokio::test]
async fn one_copy_publishes_valid_records_at_a_level_the_log_filter_keeps() {
    let s = Stack::new("metrics-one").await;
    let data = common::bytes_of(300_000, 5);
    let etag = s.put("one.bin", data.clone()).await;
    let event = s3_event(&[(&s.source, "one.bin", data.len(), &etag)]);
    // (log format, application log level, the level records must carry)
    let cases = [
        ("Text", None, "INFO"),
        ("JSON", Some("WARN"), "WARN"),
        ("JSON", Some("DEBUG"), "INFO"),
    ];
    for (case, (format, level, expected_level)) in cases.into_iter().enumerate() {
        // A prefix a case, so each copies (newest-wins skips a second copy).
        let prefix = format!("case-{case}/");
        let mut env = vec![
            ("DST_BUCKET", s.destination.as_str()),
            ("DST_PREFIX", prefix.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
            ("AWS_LAMBDA_LOG_FORMAT", format),
        ];
        if let Some(level) = level {
            env.push(("AWS_LAMBDA_LOG_LEVEL", level));
        }
        let f = function::start(&env).await;
        f.invoke_ok(event.clone()).await;
        let records = published(&f, 0).await;
        assert_eq!(total(&records, "Records", None), 1.0);
        assert_eq!(total(&records, "RecordsCopied", None), 1.0);
        assert_eq!(
            total(&records, "BytesCopied", Some(("Method", "server"))),
            data.len() as f64
        );
        for line in f.stdout_lines() {
            let record: Value = serde_json::from_str(&line).expect("json");
            assert_eq!(record["level"], expected_level, "{line}");
            assert_eq!(record["FunctionName"], FUNCTION_NAME);
            assert_eq!(
                record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
                "S3StreamLambda"
            );
        }
    }
    // METRICS=false writes none; the namespace is configurable.
    let f = function::start(&[("DST_BUCKET", &s.destination), ("METRICS", "false")]).await;
    f.invoke_ok(event.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(f.stdout_lines().is_empty(), "{:?}", f.stdout_lines());
    let f = function::start(&[
        ("DST_BUCKET", &s.destination),
        ("DST_PREFIX", "namespace/"),
        ("METRICS_NAMESPACE", "Team/Copies"),
    ])
    .await;
    f.invoke_ok(event).await;
    let records = published(&f, 0).await;
    assert!(
        records
            .iter()
            .flatten()
            .all(|metric| metric.namespace == "Team/Copies")
    );
}

#[tokio::test]
async fn an_sqs_batch_with_failures_publishes_failures_by_error_type() {
    let s = Stack::new("metrics-sqs").await;
    let data = common::bytes_of(10_000, 6);
    let etag = s.put("present.bin", data.clone()).await;
    let f = function::start(&[
        ("DST_BUCKET", &s.destination),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
    ])
    .await;
    let batch = json!({"Records": [
        sqs_message("m1", &s3_event(&[(&s.source, "present.bin", data.len(), &etag)])),
        sqs_message("m2", &s3_event(&[(&s.source, "missing.bin", 5, "0123")])),
        sqs_message("m3", &json!({"not": "an s3 event"})),
    ]});
    let post = f.invoke_ok(batch).await;
    assert_eq!(
        post.json()["batchItemFailures"].as_array().map(Vec::len),
        Some(2),
        "{}",
        post.json()
    );
    let records = published(&f, 0).await;
    assert_eq!(total(&records, "Records", None), 3.0);
    assert_eq!(total(&records, "RecordsCopied", None), 1.0);
    assert_eq!(total(&records, "RecordsFailed", None), 2.0);
    assert_eq!(total(&records, "Failures", None), 2.0);
    assert_eq!(
        total(&records, "Failures", Some(("ErrorType", "S3.NoSuchKey"))),
        1.0
    );
    assert_eq!(
        total(
            &records,
            "Failures",
            Some(("ErrorType", "Runtime.MalformedEvent"))
        ),
        1.0
    );
}

#[tokio::test]
async fn a_ten_thousand_record_event_publishes_a_few_records_within_the_limits() {
    // Every kind of record, 10,000 in all. The copies are enough to fill
    // ten arrays to the format's 100 values (a 10,000-copy split is the
    // unit test's: 10,000 copies of a debug build take a minute here).
    const COPIED: usize = 1_000;
    const MISSING: usize = 100;
    const REMOVED: usize = 8_900;
    let s3 = SyntheticS3::start(SyntheticS3Config::default())
        .await
        .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut objects = Vec::new();
    for i in 0..COPIED {
        let mut spec = GeneratedObject::new("source", format!("k/{i}"), 100, i as u64);
        spec.crc64nvme = true;
        let stored = s3.add_generated(spec);
        objects.push((stored.key, stored.etag));
    }
    let mut copies: Vec<(&str, &str, usize, &str)> = objects
        .iter()
        .map(|(key, etag)| ("source", key.as_str(), 100, etag.as_str()))
        .collect();
    let missing: Vec<String> = (0..MISSING).map(|i| format!("gone/{i}")).collect();
    copies.extend(
        missing
            .iter()
            .map(|key| ("source", key.as_str(), 100, "00")),
    );
    let mut event = s3_event(&copies);
    for i in 0..REMOVED {
        let mut removed = event["Records"][0].clone();
        removed["eventName"] = "ObjectRemoved:Delete".into();
        removed["s3"]["object"]["key"] = format!("removed/{i}").into();
        event["Records"]
            .as_array_mut()
            .expect("records")
            .push(removed);
    }
    let endpoint = s3.endpoint();
    let f = function::start(&[
        ("DST_BUCKET", "destination"),
        ("AWS_ENDPOINT_URL_S3", &endpoint),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
        ("MAX_RECORD_CONCURRENCY", "64"),
    ])
    .await;
    let mut spec = InvocationSpec::new(event.to_string());
    spec.timeout = Duration::from_secs(300);
    let post = f.invoke_spec(spec).await;
    assert_eq!(
        post.json()["errorType"],
        "S3.NoSuchKey",
        "the missing sources fail the invocation"
    );
    let records = published(&f, 0).await;
    let lines = f.stdout_lines();
    // One record of outcomes, one per 100 copies, one per error type:
    // a handful of lines, not one per record.
    assert_eq!(lines.len(), 1 + COPIED.div_ceil(100) + 1, "{lines:?}");
    assert_eq!(
        total(&records, "Records", None),
        (COPIED + MISSING + REMOVED) as f64
    );
    assert_eq!(total(&records, "Copies", None), COPIED as f64);
    assert_eq!(total(&records, "BytesCopied", None), (COPIED * 100) as f64);
    assert_eq!(total(&records, "RecordsSkipped", None), REMOVED as f64);
    assert_eq!(total(&records, "Failures", None), MISSING as f64);
    let durations: usize = records
        .iter()
        .flatten()
        .filter(|metric| metric.name == "CopyDuration")
        .map(|metric| metric.values.len())
        .sum();
    assert_eq!(durations, COPIED, "one duration a copy, in arrays");
}

/// The progress interval in the progress test: short, so a copy of a few
/// seconds logs several lines.
const PROGRESS_INTERVAL_SECONDS: u64 = 1;

/// The 1 GiB copy's pace: each connection to the synthetic S3 moves at most
/// this many bytes per second, so the copy (a few GETs and part uploads at
/// once) takes several intervals however fast the machine is.
const PACE_BYTES_PER_SECOND: u64 = 40_000_000;

/// The paced copy's size: 1 GiB.
const PROGRESS_SIZE: u64 = 1 << 30;

/// The paced copy's invocation timeout: far beyond its 7 s at full pace.
const LOADED_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test]
async fn a_long_copy_logs_its_progress_at_the_interval_in_both_log_formats() {
    let s3 = SyntheticS3::start(
        SyntheticS3Config::default().with_per_connection_rate(PACE_BYTES_PER_SECOND),
    )
    .await
    .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut spec = GeneratedObject::new("source", "big.bin", PROGRESS_SIZE, 9);
    spec.crc64nvme = true;
    let stored = s3.add_generated(spec);
    let event = s3_event(&[("source", "big.bin", PROGRESS_SIZE as usize, &stored.etag)]);
    let endpoint = s3.endpoint();
    let interval = PROGRESS_INTERVAL_SECONDS.to_string();
    // The copy's bytes cross two sets of paced connections, GETs and part
    // uploads, so it moves no faster than the smaller set allows.
    let (read_ahead, uploads) = (4u64, 4u64);
    let fastest_seconds = PROGRESS_SIZE / (read_ahead.min(uploads) * PACE_BYTES_PER_SECOND);
    for format in ["Text", "JSON"] {
        let prefix = format!("{format}/");
        let f = function::start(&[
            ("DST_BUCKET", "destination"),
            ("DST_PREFIX", &prefix),
            ("AWS_ENDPOINT_URL_S3", &endpoint),
            ("COPY_MODE", "stream"),
            ("PROGRESS_INTERVAL_SECONDS", &interval),
            ("READ_AHEAD", &read_ahead.to_string()),
            ("UPLOAD_CONCURRENCY", &uploads.to_string()),
            ("AWS_LAMBDA_LOG_FORMAT", format),
        ])
        .await;
        // Time enough for a loaded machine: the subject is the progress
        // lines, not the deadline.
        let post = f
            .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(LOADED_TIMEOUT))
            .await;
        assert_eq!(
            post.kind,
            PostKind::Response,
            "{}\n{}",
            post.json(),
            f.logs()
        );
        let lines: Vec<Progress> = f
            .logs()
            .lines()
            .filter_map(|line| Progress::parse(line, format))
            .collect();
        // A copy of at least `fastest_seconds` ticks at least that many
        // times less one (the last tick may race the copy's end).
        assert!(
            lines.len() as u64 >= fastest_seconds / PROGRESS_INTERVAL_SECONDS - 1,
            "{format}: {} progress lines for a copy of at least {fastest_seconds} s:\n{}",
            lines.len(),
            f.logs()
        );
        for (index, line) in lines.iter().enumerate() {
            // The k-th line comes no sooner than k intervals in (a late tick
            // delays the next): never more often than the interval.
            assert!(
                line.elapsed_seconds >= (index as u64 + 1) * PROGRESS_INTERVAL_SECONDS,
                "{format}: line {index} at {} s",
                line.elapsed_seconds
            );
            assert_eq!(line.bytes_total, PROGRESS_SIZE);
            assert!(line.bytes_done <= PROGRESS_SIZE);
            assert_eq!(line.copy_id.len(), 16, "{format}: {line:?}");
        }
        assert!(
            lines.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done),
            "{format}: progress never goes back"
        );
        assert!(
            lines.windows(2).all(|w| w[0].copy_id == w[1].copy_id),
            "{format}: one copy, one id"
        );
    }
}

/// One progress line's fields.
#[derive(Debug)]
struct Progress {
    copy_id: String,
    bytes_done: u64,
    bytes_total: u64,
    elapsed_seconds: u64,
}

impl Progress {
    /// Reads a progress line in `format` (`JSON`: members; `Text`: the
    /// `key=value` fields after the message); `None` for other lines.
    fn parse(line: &str, format: &str) -> Option<Progress> {
        let field = |name: &str| -> Option<String> {
            if format == "JSON" {
                let value: Value = serde_json::from_str(line).ok()?;
                let member = value.get(name)?;
                Some(
                    member
                        .as_str()
                        .map_or_else(|| member.to_string(), str::to_owned),
                )
            } else {
                let start = line.find(&format!(" {name}="))? + name.len() + 2;
                let value = line[start..].split(' ').next()?;
                Some(value.trim_matches('"').to_owned())
            }
        };
        Some(Progress {
            copy_id: field("copy_id")?,
            bytes_done: field("bytes_done")?.parse().ok()?,
            bytes_total: field("bytes_total")?.parse().ok()?,
            elapsed_seconds: field("elapsed_seconds")?.parse().ok()?,
        })
    }
}
