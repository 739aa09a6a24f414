//! CloudWatch Embedded Metric Format: what one invocation copied, as metric records on stdout, within the format's limits.
//!
//! Lambda sends stdout to CloudWatch Logs, which turns each line holding an
//! `_aws` directive into metrics. Dimensions are bounded by construction (the
//! function's name, the copy method, the transform, the outcome, the error
//! type and class: never a bucket or a key), so a million copies make a
//! handful of metric streams. An invocation writes a few records, not one per
//! copy: copies are grouped by method and transform, their durations and
//! throughputs sent as arrays of at most [`MAX_VALUES_PER_METRIC`] values.

use crate::copy::{CopyMethod, FailureClass};
use crate::handler::{Outcome, RecordResult};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "S3StreamLambda";

/// Most metrics one directive may declare (the format's limit).
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;

/// Most dimensions one dimension set may hold (the format's limit).
pub const MAX_DIMENSIONS_PER_SET: usize = 30;

/// Most values one metric may carry in one record (the format's limit):
/// copies beyond it go to another record.
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// Largest record: a CloudWatch Logs event is at most 256 KiB (the format's
/// own limit, 1 MB, is the larger); a record of 100 copies is ~3 KiB.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// The dimension every record carries.
pub const FUNCTION_NAME: &str = "FunctionName";

/// The function's name when `AWS_LAMBDA_FUNCTION_NAME` is unset (a local run).
pub const LOCAL_FUNCTION_NAME: &str = "local";

/// A metric the function publishes: one entry per metric, the one list
/// behind the records, the operating notes' table and the dashboard in
/// `deploy/monitoring.tf` (a test ties the three).
#[derive(Debug)]
pub struct Metric {
    /// The metric's name.
    pub name: &'static str,
    /// Its CloudWatch unit.
    pub unit: &'static str,
    /// The dimensions it is published under, besides `FunctionName` alone.
    pub dimensions: &'static str,
    /// What one value is.
    pub meaning: &'static str,
}

macro_rules! metrics {
    ($($id:ident: $name:literal, $unit:literal, $dimensions:literal, $meaning:literal;)*) => {
        $(
            #[doc = $meaning]
            pub const $id: Metric = Metric { name: $name, unit: $unit, dimensions: $dimensions, meaning: $meaning };
        )*
        /// Every metric the function publishes.
        pub const PUBLISHED: &[Metric] = &[$($id),*];
    };
}

metrics! {
    RECORDS: "Records", "Count", "", "records an invocation received (per invocation)";
    RECORDS_COPIED: "RecordsCopied", "Count", "", "records whose copy completed and was verified";
    RECORDS_SKIPPED: "RecordsSkipped", "Count", "", "records skipped: not an object-created event, or the function's own output (the recursion guard)";
    RECORDS_SUPERSEDED: "RecordsSuperseded", "Count", "", "records a newer version made moot (newest wins)";
    RECORDS_CONTINUING: "RecordsContinuing", "Count", "", "records whose copy stopped at its deadline and continues on the work queue";
    RECORDS_SPLIT: "RecordsSplit", "Count", "", "records whose copy fanned out into segments on the work queue";
    RECORDS_SEGMENT: "RecordsSegment", "Count", "", "fan-out segments whose parts are in S3 (the segment that completes the copy counts as copied)";
    RECORDS_FAILED: "RecordsFailed", "Count", "", "records that failed, transient or permanent";
    COPIES: "Copies", "Count", "Method, Transform", "completed copies";
    BYTES_COPIED: "BytesCopied", "Bytes", "Method, Transform", "bytes written to destinations";
    BYTES_THROUGH_FUNCTION: "BytesThroughFunction", "Bytes", "Method, Transform", "bytes that passed through the function (0 for a server-side copy)";
    PARTS: "Parts", "Count", "Method, Transform", "parts uploaded or part-copied";
    REQUESTS: "Requests", "Count", "Method, Transform", "S3 requests the copies sent";
    READ_RETRIES: "ReadRetries", "Count", "Method, Transform", "ranged GETs resumed after a failed, short or stalled body";
    UPLOAD_RETRIES: "UploadRetries", "Count", "Method, Transform", "part uploads sent again after a transient failure";
    COPY_DURATION: "CopyDuration", "Milliseconds", "Method, Transform", "one value per copy: its duration";
    COPY_THROUGHPUT: "CopyThroughput", "Megabytes/Second", "Method, Transform", "one value per copy: its bytes over its duration";
    FAILURES: "Failures", "Count", "ErrorType, FailureClass", "failed records, by `errorType` and by `failureClass`";
}

/// The table of `docs/operating.md` between its markers.
pub fn markdown_table() -> String {
    let mut text = String::from("| metric | unit | also by | meaning |\n|---|---|---|---|\n");
    for metric in PUBLISHED {
        let dimensions = match metric.dimensions {
            "" => "—",
            dimensions => dimensions,
        };
        text.push_str(&format!(
            "| `{}` | {} | {dimensions} | {} |\n",
            metric.name, metric.unit, metric.meaning
        ));
    }
    text
}

/// Where and how records are written.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `METRICS_NAMESPACE`.
    pub namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the one dimension every record carries.
    pub function_name: String,
    /// The `level` each record carries: the function's application log level
    /// (`AWS_LAMBDA_LOG_LEVEL`), so Lambda's log-level filtering, which gives
    /// a line without a level INFO, never drops a record.
    pub level: String,
}

/// Lambda's log levels, least severe first.
const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The `level` records carry for the application log level `configured`
/// (`AWS_LAMBDA_LOG_LEVEL`): that level when it is above INFO, so the
/// filter lets them through, else INFO.
pub fn record_level(configured: Option<&str>) -> &'static str {
    let configured = configured
        .and_then(|level| {
            LAMBDA_LEVELS
                .iter()
                .position(|known| known.eq_ignore_ascii_case(level.trim()))
        })
        .unwrap_or(2);
    LAMBDA_LEVELS[configured.max(2)]
}

impl Metrics {
    /// Metrics to `namespace` for the function `function_name`, at the level
    /// the function's application log level lets through.
    pub fn new(namespace: &str, function_name: &str) -> Metrics {
        let configured = std::env::var(crate::config::variables::AWS_LAMBDA_LOG_LEVEL.name).ok();
        Metrics {
            namespace: namespace.to_owned(),
            function_name: function_name.to_owned(),
            level: record_level(configured.as_deref()).to_owned(),
        }
    }
}

/// One metric a record declares.
struct Declared {
    metric: &'static Metric,
    value: Value,
}

impl Metrics {
    /// The EMF records of one invocation's records.
    pub fn records(&self, results: &[RecordResult]) -> Vec<Value> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut records = Vec::new();
        if results.is_empty() {
            return records;
        }
        let count = |outcome| results.iter().filter(|r| r.outcome == outcome).count() as u64;
        records.push(self.record(
            now,
            &[],
            vec![
                declared(&RECORDS, results.len() as u64),
                declared(&RECORDS_COPIED, count(Outcome::Copied)),
                declared(&RECORDS_SKIPPED, count(Outcome::Skipped)),
                declared(&RECORDS_SUPERSEDED, count(Outcome::Superseded)),
                declared(&RECORDS_CONTINUING, count(Outcome::Continuing)),
                declared(&RECORDS_SPLIT, count(Outcome::Split)),
                declared(&RECORDS_SEGMENT, count(Outcome::Segment)),
                declared(&RECORDS_FAILED, count(Outcome::Failed)),
            ],
        ));
        // Copies by method and transform, in records of at most
        // MAX_VALUES_PER_METRIC copies each.
        let mut copies: BTreeMap<(&str, &str), Vec<&RecordResult>> = BTreeMap::new();
        for result in results.iter().filter(|r| r.outcome == Outcome::Copied) {
            let method = match result.method {
                Some(CopyMethod::Server) => "server",
                _ => "stream",
            };
            let transform = result.transform.as_deref().unwrap_or("identity");
            copies.entry((method, transform)).or_default().push(result);
        }
        for ((method, transform), group) in copies {
            for chunk in group.chunks(MAX_VALUES_PER_METRIC) {
                let sum =
                    |field: fn(&RecordResult) -> u64| chunk.iter().map(|r| field(r)).sum::<u64>();
                records.push(self.record(
                    now,
                    &[("Method", method), ("Transform", transform)],
                    vec![
                        declared(&COPIES, chunk.len() as u64),
                        declared(&BYTES_COPIED, sum(|r| r.bytes_out)),
                        declared(&BYTES_THROUGH_FUNCTION,
                            sum(|r| r.bytes_through_function),
                        ),
                        declared(&PARTS, sum(|r| r.parts)),
                        declared(&REQUESTS, sum(|r| r.requests)),
                        declared(&READ_RETRIES, sum(|r| r.read_retries)),
                        declared(&UPLOAD_RETRIES, sum(|r| r.upload_retries)),
                        Declared {
                            metric: &COPY_DURATION,
                            value: chunk.iter().map(|r| r.ms).collect::<Vec<_>>().into(),
                        },
                        Declared {
                            metric: &COPY_THROUGHPUT,
                            value: chunk
                                .iter()
                                .map(|r| finite(r.mb_per_s))
                                .collect::<Vec<_>>()
                                .into(),
                        },
                    ],
                ));
            }
        }
        // Failures by error type and by class.
        let mut failures: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for result in results.iter().filter(|r| r.outcome == Outcome::Failed) {
            let class = match result.failure_class {
                Some(FailureClass::Transient) => "transient",
                _ => "permanent",
            };
            let error_type = result.error_type.as_deref().unwrap_or("Unknown");
            *failures.entry((error_type, class)).or_default() += 1;
        }
        for ((error_type, class), count) in failures {
            records.push(self.record(
                now,
                &[("ErrorType", error_type), ("FailureClass", class)],
                vec![declared(&FAILURES, count)],
            ));
        }
        records
    }

    /// One record: `metrics` published under the function's dimension alone
    /// and, one set per extra dimension, with it.
    fn record(&self, now: u64, dimensions: &[(&str, &str)], metrics: Vec<Declared>) -> Value {
        let mut sets = vec![vec![FUNCTION_NAME]];
        sets.extend(
            dimensions
                .iter()
                .map(|(name, _)| vec![FUNCTION_NAME, *name]),
        );
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": now,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": sets,
                    "Metrics": metrics
                        .iter()
                        .map(|m| json!({"Name": m.metric.name, "Unit": m.metric.unit}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        root.insert("level".into(), self.level.clone().into());
        root.insert("timestamp".into(), crate::logging::timestamp().into());
        root.insert("message".into(), "metrics".into());
        root.insert(FUNCTION_NAME.into(), self.function_name.clone().into());
        for (name, value) in dimensions {
            root.insert((*name).into(), (*value).into());
        }
        for metric in metrics {
            root.insert(metric.metric.name.into(), metric.value);
        }
        Value::Object(root)
    }

    /// Writes the records of `results` to stdout, one line each.
    pub fn emit(&self, results: &[RecordResult]) {
        let mut out = std::io::stdout().lock();
        for record in self.records(results) {
            let mut line = record.to_string();
            line.push('\n');
            if let Err(error) = out.write_all(line.as_bytes()) {
                tracing::warn!("failed to write a metrics record: {error}");
                return;
            }
        }
        let _ = out.flush();
    }
}

fn declared(metric: &'static Metric, value: u64) -> Declared {
    Declared {
        metric,
        value: value.into(),
    }
}

/// JSON has no NaN or infinity; EMF refuses them.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Outcome;
    use s3_stream_testkit::emf;

    /// `count` results: every fourth failed (two error types), the rest
    /// copied by two methods.
    fn results(count: usize) -> Vec<RecordResult> {
        (0..count)
            .map(|i| {
                if i % 4 == 3 {
                    let error_type = if i % 8 == 3 {
                        "S3.NoSuchKey"
                    } else {
                        "Copy.Timeout"
                    };
                    return RecordResult::failed(
                        "b",
                        "k",
                        error_type,
                        FailureClass::Permanent,
                        "e",
                    );
                }
                RecordResult {
                    method: Some(if i % 2 == 0 {
                        CopyMethod::Server
                    } else {
                        CopyMethod::Stream
                    }),
                    transform: Some("identity".into()),
                    bytes_out: 1000,
                    ms: i as u64,
                    mb_per_s: f64::NAN,
                    ..RecordResult::new(Outcome::Copied, "b", "k")
                }
            })
            .collect()
    }

    #[test]
    fn ten_thousand_results_make_valid_records_within_the_limits() {
        let metrics = Metrics {
            namespace: DEFAULT_NAMESPACE.into(),
            function_name: "copier".into(),
            level: "INFO".into(),
        };
        let results = results(10_000);
        let records = metrics.records(&results);
        // 1 for the records' outcomes; 5,000 server-side copies in 50
        // records of 100 and 2,500 streamed ones in 25; 1 per error type.
        assert_eq!(records.len(), 1 + 50 + 25 + 2);
        let mut copies = 0.0;
        let mut bytes = 0.0;
        for record in &records {
            let line = record.to_string();
            let published = emf::validate_line(&line)
                .unwrap_or_else(|problems| panic!("invalid record {line}: {problems:?}"));
            for metric in published {
                assert!(metric.values.len() <= MAX_VALUES_PER_METRIC);
                match metric.name.as_str() {
                    "Copies" => copies += metric.values.iter().sum::<f64>(),
                    "BytesCopied" => bytes += metric.values.iter().sum::<f64>(),
                    _ => {}
                }
            }
        }
        assert_eq!(copies, 7_500.0);
        assert_eq!(bytes, 7_500_000.0);
    }

    /// Every metric of the list is declared by some record, and nothing
    /// else is; the operating notes hold the list's table (`UPDATE_DOCS=1`
    /// rewrites it); the dashboard and alarms name only listed metrics.
    #[test]
    fn the_published_list_is_what_records_declare_the_docs_say_and_deploy_uses() {
        let metrics = Metrics {
            namespace: DEFAULT_NAMESPACE.into(),
            function_name: "copier".into(),
            level: "INFO".into(),
        };
        let mut declared = std::collections::BTreeSet::new();
        for record in metrics.records(&results(16)) {
            for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                declared.insert(metric["Name"].as_str().unwrap_or_default().to_owned());
            }
        }
        let listed: std::collections::BTreeSet<String> =
            PUBLISHED.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(declared, listed);

        const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md");
        const BEGIN: &str = "<!-- BEGIN GENERATED: metrics -->\n";
        const END: &str = "<!-- END GENERATED: metrics -->";
        let doc = std::fs::read_to_string(DOC).expect("docs/operating.md");
        let (before, rest) = doc.split_once(BEGIN).expect("the begin marker");
        let (current, after) = rest.split_once(END).expect("the end marker");
        let generated = markdown_table();
        if current != generated {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(DOC, format!("{before}{BEGIN}{generated}{END}{after}"))
                    .expect("docs/operating.md is writable");
            } else {
                panic!(
                    "docs/operating.md's metrics table differs from src/metrics.rs: \
                     run UPDATE_DOCS=1 cargo test -p s3-stream-lambda --lib metrics"
                );
            }
        }

        // `[local.metrics_namespace, "Name", ...]` in the dashboard and
        // `metric_name = "Name"` in the alarms.
        let deploy = include_str!("../deploy/monitoring.tf");
        let mut used = Vec::new();
        for marker in ["local.metrics_namespace, \"", "metric_name = \""] {
            for (at, _) in deploy.match_indices(marker) {
                let rest = &deploy[at + marker.len()..];
                used.push(&rest[..rest.find('"').unwrap_or(0)]);
            }
        }
        assert!(used.len() >= 4, "the dashboard names its metrics: {used:?}");
        for name in used {
            let aws = ["ApproximateNumberOfMessagesVisible"];
            assert!(
                listed.contains(name) || aws.contains(&name),
                "deploy/monitoring.tf names {name}, which the function does not publish"
            );
        }
    }

    #[test]
    fn the_limits_are_the_specifications() {
        assert_eq!(MAX_VALUES_PER_METRIC, emf::MAX_VALUES_PER_METRIC);
        assert_eq!(MAX_METRICS_PER_DIRECTIVE, emf::MAX_METRICS_PER_DIRECTIVE);
        assert_eq!(MAX_DIMENSIONS_PER_SET, emf::MAX_DIMENSIONS_PER_SET);
        assert_eq!(MAX_RECORD_BYTES, emf::MAX_RECORD_BYTES);
    }

    #[test]
    fn records_carry_the_lowest_level_the_filter_lets_through() {
        assert_eq!(record_level(None), "INFO");
        assert_eq!(record_level(Some("debug")), "INFO");
        assert_eq!(record_level(Some("WARN")), "WARN");
        assert_eq!(record_level(Some("FATAL")), "FATAL");
        assert_eq!(record_level(Some("loud")), "INFO");
    }

    #[test]
    fn records_carry_an_rfc3339_utc_timestamp() {
        let metrics = Metrics {
            namespace: DEFAULT_NAMESPACE.into(),
            function_name: "copier".into(),
            level: "INFO".into(),
        };
        let record = &metrics.records(&results(1))[0];
        let timestamp = record["timestamp"].as_str().unwrap_or_default();
        assert!(
            timestamp.starts_with("20") && timestamp.ends_with('Z'),
            "{timestamp}"
        );
        assert_eq!(timestamp.as_bytes().get(10), Some(&b'T'), "{timestamp}");
    }
}
