//! Every environment variable the function reads, in one table: it drives parsing and its errors, `bootstrap --help` and `docs/configuration.md`.

use super::MAX_FAN_OUT_THRESHOLD_MIB;
use super::{MAX_ASSUMED_TIMEOUT_SECONDS, MAX_COMPRESSION_WORKERS_SETTING, MAX_CONCURRENCY};
use super::{
    MAX_PART_COPY_CONCURRENCY, MAX_PREFIX_BYTES, MAX_RESUME_ATTEMPTS, MIN_DEADLINE_MARGIN_MS,
};
use crate::copy::part_size::{MAX_PART_SIZE, MIB, MIN_PART_SIZE};
use aws_sdk_s3::types::{ObjectCannedAcl, StorageClass};

/// What a variable's value may be; the one place each kind is validated.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// A whole number in `min..=max`.
    Number {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// Exactly one of these words.
    OneOf(&'static [&'static str]),
    /// `true` or `false`, any case.
    Flag,
    /// One of the names an SDK enum knows (storage classes, canned ACLs).
    SdkName(fn() -> &'static [&'static str], &'static str),
    /// An S3 bucket name.
    Bucket,
    /// A key prefix: not starting with `/`, at most [`MAX_PREFIX_BYTES`].
    Prefix,
    /// A transform, or several comma-separated (see `crate::transform`).
    Transform,
    /// An AWS region name.
    Region,
    /// A 12-digit AWS account id.
    AccountId,
    /// Any text.
    Text,
    /// Comma-separated entries, each of the inner kind.
    List(&'static Value),
    /// Read by the AWS SDK or the logger, not by the configuration.
    External(&'static str),
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its default, as the documentation states it (`""`: none).
    pub default: &'static str,
    /// What it may be.
    pub value: Value,
    /// One line: `--help` and the documentation's table.
    pub summary: &'static str,
    /// More for the documentation (`""`: nothing more).
    pub details: &'static str,
}

const CONCURRENCY: Value = Value::Number {
    min: 1,
    max: MAX_CONCURRENCY as u64,
};
const PART_MIB: Value = Value::Number {
    min: MIN_PART_SIZE / MIB,
    max: MAX_PART_SIZE / MIB,
};

/// `DST_BUCKET`.
pub const DST_BUCKET: Variable = Variable {
    name: "DST_BUCKET",
    default: "",
    value: Value::Bucket,
    summary: "the destination bucket (required by the function and `invoke`)",
    details: "",
};
/// `DST_PREFIX`.
pub const DST_PREFIX: Variable = Variable {
    name: "DST_PREFIX",
    default: "",
    value: Value::Prefix,
    summary: "prepended to every destination key",
    details: "",
};
/// `DST_REGION`.
pub const DST_REGION: Variable = Variable {
    name: "DST_REGION",
    default: "found on first use",
    value: Value::Region,
    summary: "the destination bucket's region",
    details: "Unset, one `HeadBucket` on the first copy learns it (cached for the sandbox's life), so a bucket in another region just works.",
};
/// `TRANSFORM`.
pub const TRANSFORM: Variable = Variable {
    name: "TRANSFORM",
    default: "identity",
    value: Value::Transform,
    summary: "the transform every object goes through",
    details: "A name from [transforms](transforms.md), or several joined by commas, applied in order.",
};
/// `COPY_MODE`.
pub const COPY_MODE: Variable = Variable {
    name: "COPY_MODE",
    default: "auto",
    value: Value::OneOf(&["auto", "server", "stream"]),
    summary: "how identity copies move their bytes",
    details: "`auto`: server-side, streaming when the store refuses for a reason streaming overcomes; `server`: server-side only (refused with a transform); `stream`: always through the function.",
};
/// `GZIP_LEVEL`.
pub const GZIP_LEVEL: Variable = Variable {
    name: "GZIP_LEVEL",
    default: "2",
    value: Value::Number { min: 1, max: 9 },
    summary: "`gzip`'s compression level",
    details: "2 because zlib-rs's level 1 (zlib-ng's quick strategy) wrote 19.1% of JSON lines where 2 writes 13.1%, and expands incompressible input by 5.5% where 2 stores it.",
};
/// `GZIP_MEMBERS`.
pub const GZIP_MEMBERS: Variable = Variable {
    name: "GZIP_MEMBERS",
    default: "parallel",
    value: Value::OneOf(&["parallel", "single"]),
    summary: "`gzip`'s output: 1 MiB members on many threads, or one member",
    details: "`single` is for decoders that read only the first member.",
};
/// `ZSTD_LEVEL`.
pub const ZSTD_LEVEL: Variable = Variable {
    name: "ZSTD_LEVEL",
    default: "3",
    value: Value::Number { min: 1, max: 19 },
    summary: "`zstd`'s compression level",
    details: "",
};
/// `COMPRESSION_WORKERS`.
pub const COMPRESSION_WORKERS: Variable = Variable {
    name: "COMPRESSION_WORKERS",
    default: "memory ÷ 1769 MB, rounded up (1–6)",
    value: Value::Number {
        min: 1,
        max: MAX_COMPRESSION_WORKERS_SETTING as u64,
    },
    summary: "threads a compressing transform uses",
    details: "Outside Lambda the default is the machine's cores.",
};
/// `PART_SIZE_MIB`.
pub const PART_SIZE_MIB: Variable = Variable {
    name: "PART_SIZE_MIB",
    default: "8 (5 where memory is small)",
    value: PART_MIB,
    summary: "streamed part size in MiB",
    details: "Grown to `ceil(size / 10,000)` for large objects; refused at start-up when even the fewest buffers of that size exceed the budget (the error names the largest that fits).",
};
/// `UPLOAD_CONCURRENCY`.
pub const UPLOAD_CONCURRENCY: Variable = Variable {
    name: "UPLOAD_CONCURRENCY",
    default: "from memory",
    value: CONCURRENCY,
    summary: "parts uploading at once per streamed copy",
    details: "A streamed identity copy pipes at most 4 (each one GET streaming into one `UploadPart`): more only share the link.",
};
/// `READ_AHEAD`.
pub const READ_AHEAD: Variable = Variable {
    name: "READ_AHEAD",
    default: "from memory",
    value: CONCURRENCY,
    summary: "ranged GETs in flight or waiting per streamed copy",
    details: "",
};
/// `MAX_RECORD_CONCURRENCY`.
pub const MAX_RECORD_CONCURRENCY: Variable = Variable {
    name: "MAX_RECORD_CONCURRENCY",
    default: "memory ÷ 32 MB, at least 4",
    value: CONCURRENCY,
    summary: "records (of one event, or of an SQS batch) copied at once",
    details: "All of them within the one buffer budget.",
};
/// `PART_COPY_SIZE_MIB`.
pub const PART_COPY_SIZE_MIB: Variable = Variable {
    name: "PART_COPY_SIZE_MIB",
    default: "64",
    value: PART_MIB,
    summary: "server-side part size in MiB",
    details: "Grown to fit 10,000 parts; an object up to it is one `CopyObject`.",
};
/// `PART_COPY_CONCURRENCY`.
pub const PART_COPY_CONCURRENCY: Variable = Variable {
    name: "PART_COPY_CONCURRENCY",
    default: "16",
    value: Value::Number {
        min: 1,
        max: MAX_PART_COPY_CONCURRENCY as u64,
    },
    summary: "`UploadPartCopy` requests in flight per copy",
    details: "They hold no memory in the function.",
};
/// `DEADLINE_MARGIN_MS`.
pub const DEADLINE_MARGIN_MS: Variable = Variable {
    name: "DEADLINE_MARGIN_MS",
    default: "2000 (3000 with `WORK_QUEUE_URL`)",
    value: Value::Number {
        min: MIN_DEADLINE_MARGIN_MS,
        max: 600_000,
    },
    summary: "copies are cancelled (and aborted) this long before the deadline",
    details: "At least what a cancelled copy needs: its upload's cleanup budget (a create in flight's grace, then its abort and the sweep of uploads an ambiguous create left open) and the runtime's time to post.",
};
/// `RESUME_MAX_ATTEMPTS`.
pub const RESUME_MAX_ATTEMPTS: Variable = Variable {
    name: "RESUME_MAX_ATTEMPTS",
    default: "3",
    value: Value::Number {
        min: 1,
        max: MAX_RESUME_ATTEMPTS as u64,
    },
    summary: "attempts a multipart copy (identity, or through `gzip`) may take across invocations; 1 turns resuming off",
    details: "An attempt that meets its deadline keeps its upload and fails with `Copy.Continue`; the next delivery of the record copies only the missing parts. The attempt that reaches this count aborts instead (`Copy.Timeout`). Set it to the deliveries your trigger makes: 3 for Lambda's asynchronous invocation (its default 2 retries), at most the queue's `maxReceiveCount` for SQS; with `WORK_QUEUE_URL`, the invocations one copy may take.",
};
/// `WORK_QUEUE_URL`.
pub const WORK_QUEUE_URL: Variable = Variable {
    name: "WORK_QUEUE_URL",
    default: "",
    value: Value::Text,
    summary: "an SQS queue triggering this function, where copies that stop at their deadline go on",
    details: "A record that stops with `Copy.Continue` sends itself there, one hop further, and succeeds (S3 Batch Operations tasks never do), until its copy completes or `RESUME_MAX_ATTEMPTS` (also the most hops) is spent. Allow recursion for the function (`deploy/` does): each hop is a send from a queue-triggered invocation. Unset, no SQS client is built. See [operating notes](operating.md#copies-longer-than-one-invocation).",
};
/// `FAN_OUT_THRESHOLD_MIB`.
pub const FAN_OUT_THRESHOLD_MIB: Variable = Variable {
    name: "FAN_OUT_THRESHOLD_MIB",
    default: "off",
    value: Value::Number {
        min: 1,
        max: MAX_FAN_OUT_THRESHOLD_MIB,
    },
    summary: "identity copies larger than this fan out: their parts are split into segments copied by many invocations at once",
    details: "Needs `WORK_QUEUE_URL` (one message per segment) and `RESUME_MAX_ATTEMPTS` of at least 2. The record creates the upload and its checkpoint, sends the segments and succeeds (`outcome: split`); the segment that finds every part in S3 completes the copy, verified. Server-side unless `COPY_MODE=stream`. See [operating notes](operating.md#fan-out-one-object-many-invocations).",
};
/// `FAN_OUT_SEGMENT_PARTS`.
pub const FAN_OUT_SEGMENT_PARTS: Variable = Variable {
    name: "FAN_OUT_SEGMENT_PARTS",
    default: "a third of the invocation's time at the method's pace",
    value: Value::Number {
        min: 1,
        max: crate::copy::part_size::MAX_PARTS,
    },
    summary: "parts per fan-out segment",
    details: "By default what the copy's requests in flight move in a third of the time the splitting invocation had, at 50 MB/s per part copy or 60 MB/s per streamed connection: a segment rarely needs a second invocation, and one that does resumes.",
};
/// `ASSUMED_TIMEOUT_SECONDS`.
pub const ASSUMED_TIMEOUT_SECONDS: Variable = Variable {
    name: "ASSUMED_TIMEOUT_SECONDS",
    default: "900",
    value: Value::Number {
        min: 1,
        max: MAX_ASSUMED_TIMEOUT_SECONDS,
    },
    summary: "the timeout when the Runtime API sends no real deadline",
    details: "Some emulators send no `Lambda-Runtime-Deadline-Ms`, or a date decades ahead; `invoke` uses it too. Lambda exposes no timeout variable; 900 is its maximum.",
};
/// `STORAGE_CLASS`.
pub const STORAGE_CLASS: Variable = Variable {
    name: "STORAGE_CLASS",
    default: "the bucket's",
    value: Value::SdkName(StorageClass::values, "s3 storage classes"),
    summary: "the copies' storage class, e.g. `STANDARD_IA`",
    details: "",
};
/// `SSE`.
pub const SSE: Variable = Variable {
    name: "SSE",
    default: "the bucket's",
    value: Value::OneOf(&["AES256", "aws:kms"]),
    summary: "server-side encryption of the copies",
    details: "",
};
/// `SSE_KMS_KEY_ID`.
pub const SSE_KMS_KEY_ID: Variable = Variable {
    name: "SSE_KMS_KEY_ID",
    default: "",
    value: Value::Text,
    summary: "the KMS key for `SSE=aws:kms`",
    details: "",
};
/// `ACL`.
pub const ACL: Variable = Variable {
    name: "ACL",
    default: "",
    value: Value::SdkName(ObjectCannedAcl::values, "canned acls"),
    summary: "a canned ACL for every copy",
    details: "E.g. `bucket-owner-full-control` when writing to another account's bucket that still uses ACLs (a bucket with `BucketOwnerEnforced` ownership refuses any other).",
};
/// `EXPECTED_BUCKET_OWNER`.
pub const EXPECTED_BUCKET_OWNER: Variable = Variable {
    name: "EXPECTED_BUCKET_OWNER",
    default: "",
    value: Value::AccountId,
    summary: "the account that must own the destination",
    details: "S3 refuses the write (403) to a bucket someone else owns, so nothing is written there.",
};
/// `REQUEST_PAYER`.
pub const REQUEST_PAYER: Variable = Variable {
    name: "REQUEST_PAYER",
    default: "",
    value: Value::OneOf(&["requester"]),
    summary: "accept a requester-pays source's charges on every request",
    details: "",
};
/// `COPY_TAGS`.
pub const COPY_TAGS: Variable = Variable {
    name: "COPY_TAGS",
    default: "true",
    value: Value::Flag,
    summary: "carry the source's tags to the copy",
    details: "`CopyObject` copies them; a copy that rewrites the object reads them with `GetObjectTagging` (only when the GET's `x-amz-tagging-count` says there are any), which needs `s3:GetObjectTagging`.",
};
/// `SOURCE_BUCKETS`.
pub const SOURCE_BUCKETS: Variable = Variable {
    name: "SOURCE_BUCKETS",
    default: "any bucket name",
    value: Value::List(&Value::Text),
    summary: "the only buckets copied from",
    details: "A record for another is failed `Copy.SourceNotAllowed` without a request to it. Unset, a source that is not a plain bucket name (an ARN, an access point alias `…-s3alias`) is refused the same way; list it to allow it.",
};
/// `ALLOWED_DST_BUCKETS`.
pub const ALLOWED_DST_BUCKETS: Variable = Variable {
    name: "ALLOWED_DST_BUCKETS",
    default: "",
    value: Value::List(&Value::Bucket),
    summary: "buckets a Batch Operations job may choose (`userArguments.dstBucket`)",
    details: "`DST_BUCKET` always may; the function's role must be able to write there.",
};
/// `ALLOWED_DST_PREFIXES`.
pub const ALLOWED_DST_PREFIXES: Variable = Variable {
    name: "ALLOWED_DST_PREFIXES",
    default: "",
    value: Value::List(&Value::Prefix),
    summary: "prefixes a Batch Operations job may choose (`userArguments.dstPrefix`)",
    details: "`DST_PREFIX` always may.",
};
/// `ALLOWED_TRANSFORMS`.
pub const ALLOWED_TRANSFORMS: Variable = Variable {
    name: "ALLOWED_TRANSFORMS",
    default: "",
    value: Value::List(&Value::Transform),
    summary: "transforms a Batch Operations job may choose (`userArguments.transform`)",
    details: "`TRANSFORM` always may.",
};
/// `ALLOWED_STORAGE_CLASSES`.
pub const ALLOWED_STORAGE_CLASSES: Variable = Variable {
    name: "ALLOWED_STORAGE_CLASSES",
    default: "",
    value: Value::List(&STORAGE_CLASS.value),
    summary: "storage classes a Batch Operations job may choose (`userArguments.storageClass`)",
    details: "`STORAGE_CLASS` always may.",
};
/// `METRICS`.
pub const METRICS: Variable = Variable {
    name: "METRICS",
    default: "true",
    value: Value::Flag,
    summary: "write CloudWatch Embedded Metric Format records to stdout",
    details: "Bytes, copies, durations, throughput, retries, records by outcome and failures by error type and class: see [operating notes](operating.md#metrics). `false` writes none.",
};
/// `METRICS_NAMESPACE`.
pub const METRICS_NAMESPACE: Variable = Variable {
    name: "METRICS_NAMESPACE",
    default: crate::metrics::DEFAULT_NAMESPACE,
    value: Value::Text,
    summary: "the CloudWatch namespace of the metrics",
    details: "",
};
/// `PROGRESS_INTERVAL_SECONDS`.
pub const PROGRESS_INTERVAL_SECONDS: Variable = Variable {
    name: "PROGRESS_INTERVAL_SECONDS",
    default: "10",
    value: Value::Number {
        min: 0,
        max: super::MAX_PROGRESS_INTERVAL_SECONDS,
    },
    summary: "a running copy logs its progress this often (0: never)",
    details: "Copy id, bytes done, rate and ETA, in the function's log format; a copy shorter than this logs none.",
};
/// `BENCH_PREFIX`.
pub const BENCH_PREFIX: Variable = Variable {
    name: "BENCH_PREFIX",
    default: "",
    value: Value::Text,
    summary: "`s3://BUCKET/PREFIX/` where bench events may measure (unset: bench events are refused)",
    details: "A `{\"bench\": {...}}` event runs `bootstrap bench` in the sandbox on this prefix or one under it, and removes everything it wrote; a prefix holding objects the bench did not write is refused ([benchmarking](benchmarking.md)).",
};
/// `AWS_LAMBDA_FUNCTION_NAME`.
pub const FUNCTION_NAME: Variable = Variable {
    name: "AWS_LAMBDA_FUNCTION_NAME",
    default: "local",
    value: Value::Text,
    summary: "set by Lambda: the `FunctionName` dimension of the metrics",
    details: "",
};
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
pub const FUNCTION_MEMORY_SIZE: Variable = Variable {
    name: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    default: "1024 outside Lambda",
    value: Value::Number {
        min: 128,
        max: 10_240,
    },
    summary: "set by Lambda: one eighth is the copies' buffer budget",
    details: "Defaults above derive from it. Set it to run `invoke` or `copy` as a given function size.",
};
/// `S3_FORCE_PATH_STYLE`.
pub const S3_FORCE_PATH_STYLE: Variable = Variable {
    name: "S3_FORCE_PATH_STYLE",
    default: "false",
    value: Value::Flag,
    summary: "path-style addressing, for local S3-compatible servers",
    details: "",
};
/// `AWS_ENDPOINT_URL_S3`.
pub const AWS_ENDPOINT_URL_S3: Variable = Variable {
    name: "AWS_ENDPOINT_URL_S3",
    default: "AWS",
    value: Value::External("a URL"),
    summary: "the S3 endpoint (or `AWS_ENDPOINT_URL`; the SDK's variables)",
    details: "Region and credentials come from the standard AWS variables too.",
};
/// `AWS_LAMBDA_LOG_FORMAT`.
pub const AWS_LAMBDA_LOG_FORMAT: Variable = Variable {
    name: "AWS_LAMBDA_LOG_FORMAT",
    default: "Text",
    value: Value::External("`JSON` or `Text`"),
    summary: "`JSON` writes `{timestamp, level, message, requestId}` lines",
    details: "Set by Lambda from the function's logging configuration.",
};
/// `AWS_LAMBDA_LOG_LEVEL`.
pub const AWS_LAMBDA_LOG_LEVEL: Variable = Variable {
    name: "AWS_LAMBDA_LOG_LEVEL",
    default: "INFO",
    value: Value::External("a level"),
    summary: "the log level (else `RUST_LOG`, a level or a filter)",
    details: "Set by Lambda from the function's logging configuration.",
};

/// Every variable, in the order `--help` and the documentation list them.
pub const VARIABLES: &[&Variable] = &[
    &DST_BUCKET,
    &DST_PREFIX,
    &DST_REGION,
    &TRANSFORM,
    &COPY_MODE,
    &GZIP_LEVEL,
    &GZIP_MEMBERS,
    &ZSTD_LEVEL,
    &COMPRESSION_WORKERS,
    &PART_SIZE_MIB,
    &UPLOAD_CONCURRENCY,
    &READ_AHEAD,
    &MAX_RECORD_CONCURRENCY,
    &PART_COPY_SIZE_MIB,
    &PART_COPY_CONCURRENCY,
    &DEADLINE_MARGIN_MS,
    &RESUME_MAX_ATTEMPTS,
    &WORK_QUEUE_URL,
    &FAN_OUT_THRESHOLD_MIB,
    &FAN_OUT_SEGMENT_PARTS,
    &ASSUMED_TIMEOUT_SECONDS,
    &STORAGE_CLASS,
    &SSE,
    &SSE_KMS_KEY_ID,
    &ACL,
    &EXPECTED_BUCKET_OWNER,
    &REQUEST_PAYER,
    &COPY_TAGS,
    &SOURCE_BUCKETS,
    &ALLOWED_DST_BUCKETS,
    &ALLOWED_DST_PREFIXES,
    &ALLOWED_TRANSFORMS,
    &ALLOWED_STORAGE_CLASSES,
    &METRICS,
    &METRICS_NAMESPACE,
    &PROGRESS_INTERVAL_SECONDS,
    &BENCH_PREFIX,
    &FUNCTION_NAME,
    &FUNCTION_MEMORY_SIZE,
    &S3_FORCE_PATH_STYLE,
    &AWS_ENDPOINT_URL_S3,
    &AWS_LAMBDA_LOG_FORMAT,
    &AWS_LAMBDA_LOG_LEVEL,
];

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn alternatives(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

impl Value {
    /// What a value of this kind may be, as the documentation says it.
    pub fn describe(&self) -> String {
        match self {
            Value::Number { min, max } => format!("{min}–{max}"),
            Value::OneOf(words) => alternatives(words),
            Value::Flag => "true or false".to_owned(),
            Value::SdkName(_, what) => what.to_string(),
            Value::Bucket => "a bucket name".to_owned(),
            Value::Prefix => format!("a key prefix (no leading /, ≤ {MAX_PREFIX_BYTES} bytes)"),
            Value::Transform => "a transform name, or several comma-separated".to_owned(),
            Value::Region => "a region, e.g. eu-west-1".to_owned(),
            Value::AccountId => "a 12-digit account id".to_owned(),
            Value::Text => "text".to_owned(),
            Value::List(inner) => format!("comma-separated: {}", inner.describe()),
            Value::External(what) => what.to_string(),
        }
    }
}

/// The `CONFIGURATION` part of `bootstrap --help`: every variable with its
/// default and summary.
pub fn help() -> String {
    let width = VARIABLES.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut text = String::from(
        "CONFIGURATION (environment variables; docs/configuration.md has the details):\n",
    );
    for variable in VARIABLES {
        let default = match variable.default {
            "" => String::new(),
            default => format!(" [default: {default}]"),
        };
        text.push_str(&format!(
            "    {:width$}  {}{default}\n",
            variable.name, variable.summary
        ));
    }
    text
}

/// The table `docs/configuration.md` holds between its markers.
pub fn markdown_table() -> String {
    let mut text = String::from("| variable | default | values | meaning |\n|---|---|---|---|\n");
    for variable in VARIABLES {
        let default = match variable.default {
            "" => "—".to_owned(),
            default => default.to_owned(),
        };
        let meaning = match variable.details {
            "" => variable.summary.to_owned(),
            details => format!("{}. {details}", variable.summary),
        };
        text.push_str(&format!(
            "| `{}` | {default} | {} | {meaning} |\n",
            variable.name,
            variable.value.describe()
        ));
    }
    text
}
