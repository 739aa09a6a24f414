//! The function's configuration, read from the environment and validated at start-up.

pub mod allow_list;
mod env;
pub mod variables;

pub use allow_list::AllowLists;
pub use env::valid_bucket_name;

use crate::copy::fan_out::FanOutSettings;
use crate::copy::memory::{Output, minimum_budget};
use crate::copy::part_size::{DEFAULT_PART_SIZE, MIB, MIN_PART_SIZE};
use crate::copy::resume::{DEFAULT_MAX_ATTEMPTS, ResumeSettings, STOP_BUDGET};
use crate::copy::server::DEFAULT_PART_COPY_CONCURRENCY;
use crate::copy::upload::multipart::CLEANUP_BUDGET;
use crate::copy::{CopyMode, CopySettings, ServerCopySettings, UploadOptions};
use crate::runtime::deadline::MAX_LAMBDA_TIMEOUT;
use crate::runtime::{DEFAULT_SAFETY_MARGIN, POST_RESERVE};
use crate::transform::{GzipMembers, TransformOptions};
use crate::work_queue::HANDOFF_BUDGET;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
use env::Env;
use std::collections::HashMap;
use std::time::Duration;
use variables as var;

/// Memory assumed when `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is unset (a local run).
pub const DEFAULT_MEMORY_MIB: u64 = 1024;

/// Share of the function's memory all copy buffers of one invocation may
/// hold: one eighth leaves the rest to the runtime, the SDK, TLS and the
/// allocator's slack, so a 512 MB function buffers at most 64 MiB.
pub const BUFFER_MEMORY_DIVISOR: u64 = 8;

/// Most parts uploading (and ranges read ahead) per copy by default: beyond
/// this, one copy gains nothing on Lambda's network share.
pub const MAX_DEFAULT_CONCURRENCY: usize = 16;

/// Function memory per record copied at once by default (16 at 512 MB):
/// small objects are latency-bound (~30 ms of S3 round trips each), so many
/// overlap; large ones are bounded by the shared buffer budget anyway.
pub const MEMORY_MIB_PER_RECORD: u64 = 32;

/// Fewest records copied at once by default, at the smallest memory sizes.
pub const MIN_DEFAULT_RECORD_CONCURRENCY: usize = 4;

/// Upper bound for any concurrency setting, so a typo cannot open thousands
/// of connections.
pub const MAX_CONCURRENCY: usize = 64;

/// Most part copies in flight (`PART_COPY_CONCURRENCY`): each holds only a
/// connection, so more than streamed parts, but bounded so a typo cannot
/// open thousands.
pub const MAX_PART_COPY_CONCURRENCY: usize = 256;

/// Function memory per vCPU Lambda gives (1,769 MB is one full vCPU): the
/// visible CPU count does not follow the function's share, so compression
/// workers are sized from the memory instead.
pub const MEMORY_MIB_PER_VCPU: u64 = 1769;

/// Most compression workers by default: Lambda's largest function (10,240
/// MB) gets six vCPUs.
pub const MAX_COMPRESSION_WORKERS: usize = 6;

/// Most compression workers `COMPRESSION_WORKERS` may ask for (outside
/// Lambda a machine may have many cores).
pub const MAX_COMPRESSION_WORKERS_SETTING: usize = 64;

/// Shortest `DEADLINE_MARGIN_MS`: what a copy cancelled at the margin needs
/// before Lambda's deadline. Its upload's cleanup gets [`CLEANUP_BUDGET`]
/// (a create in flight, our abort, the uploads ambiguous creates left
/// open), and the runtime [`POST_RESERVE`] to post the answer; a margin
/// below their sum could leave an upload open or post nothing.
pub const MIN_DEADLINE_MARGIN_MS: u64 =
    (CLEANUP_BUDGET.as_millis() + POST_RESERVE.as_millis()) as u64;

const _: () = assert!(
    STOP_BUDGET.as_millis() <= CLEANUP_BUDGET.as_millis(),
    "a resumable copy stopped at the margin (its upload kept) must need no more than an aborted one"
);

/// Shortest `DEADLINE_MARGIN_MS` with a work queue, and its default then:
/// a copy stopped at the margin keeps its upload ([`STOP_BUDGET`]), then
/// hands off ([`HANDOFF_BUDGET`]), and the runtime posts.
pub const MIN_HANDOFF_MARGIN: Duration = STOP_BUDGET
    .saturating_add(HANDOFF_BUDGET)
    .saturating_add(POST_RESERVE);

const _: () = assert!(
    MIN_HANDOFF_MARGIN.as_millis() as u64 >= MIN_DEADLINE_MARGIN_MS,
    "a margin that holds a hand-off must hold an aborted copy's cleanup too"
);

/// Most `FAN_OUT_THRESHOLD_MIB`: S3's largest object, in MiB (a higher
/// threshold would never fan out).
pub const MAX_FAN_OUT_THRESHOLD_MIB: u64 = crate::copy::part_size::MAX_OBJECT_SIZE / MIB;

/// Most `RESUME_MAX_ATTEMPTS`: far beyond any trigger's redeliveries (SQS
/// allows a `maxReceiveCount` of 1,000), so a copy can never loop forever.
pub const MAX_RESUME_ATTEMPTS: u32 = 1000;

const _: () = assert!(
    DEFAULT_SAFETY_MARGIN.as_millis() as u64 >= MIN_DEADLINE_MARGIN_MS,
    "the default deadline margin must cover a cancelled copy's cleanup and the post"
);

/// Longest `PROGRESS_INTERVAL_SECONDS`: an hour, far beyond a Lambda's 15
/// minutes, for local copies that want few lines.
pub const MAX_PROGRESS_INTERVAL_SECONDS: u64 = 3_600;

/// How often a running copy logs its progress when
/// `PROGRESS_INTERVAL_SECONDS` is unset: often enough to watch a copy of
/// minutes, a few dozen lines for the longest invocation.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Longest `ASSUMED_TIMEOUT_SECONDS`: a day, longer than Lambda allows, so
/// an emulator's invocation can sit at a debugger's breakpoint.
pub const MAX_ASSUMED_TIMEOUT_SECONDS: u64 = 86_400;

/// Longest `DST_PREFIX`: half of S3's 1,024-byte key, so the source key keeps the rest.
pub const MAX_PREFIX_BYTES: usize = crate::handler::record::MAX_KEY_BYTES / 2;

/// One invalid or missing variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable} {problem}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What it expects.
    pub problem: String,
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `DST_BUCKET`: where copies go.
    pub dst_bucket: String,
    /// `DST_PREFIX`: prepended to every destination key.
    pub dst_prefix: String,
    /// `TRANSFORM`: the transform's name (or names, comma-separated).
    pub transform: String,
    /// `GZIP_LEVEL`, `GZIP_MEMBERS`, `ZSTD_LEVEL`, `COMPRESSION_WORKERS`.
    pub transform_options: TransformOptions,
    /// Part size, concurrency and destination options of each copy.
    pub copy: CopySettings,
    /// `MAX_RECORD_CONCURRENCY`: records copied at once.
    pub max_record_concurrency: usize,
    /// All copies of one invocation together buffer at most this many bytes.
    pub buffer_budget: u64,
    /// `DEADLINE_MARGIN_MS`: cancel this long before the deadline.
    pub deadline_margin: Duration,
    /// `ASSUMED_TIMEOUT_SECONDS`: the invocation's timeout when the Runtime
    /// API sends no real deadline (some emulators).
    pub assumed_timeout: Duration,
    /// `DST_REGION`: the destination bucket's region (found with one
    /// `HeadBucket` on first use when unset).
    pub dst_region: Option<String>,
    /// `SOURCE_BUCKETS` and the Batch Operations `ALLOWED_*` lists.
    pub allow: AllowLists,
    /// `REQUEST_PAYER=requester`: every request accepts a requester-pays
    /// bucket's charges.
    pub requester_pays: bool,
    /// `METRICS` and `METRICS_NAMESPACE`: the namespace metrics are written
    /// to, `None` when they are off.
    pub metrics_namespace: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the metrics' `FunctionName`.
    pub function_name: String,
    /// `PROGRESS_INTERVAL_SECONDS`: how often a running copy logs its
    /// progress; `None` never.
    pub progress_interval: Option<Duration>,
    /// `WORK_QUEUE_URL`: where copies that stop at their deadline go on.
    pub work_queue_url: Option<String>,
    /// `BENCH_PREFIX`: where bench events may measure; `None`: refused.
    pub bench: Option<crate::bench::BenchTarget>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (or its default outside Lambda).
    pub memory_mib: u64,
}

pub(crate) fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// The largest part (whole MiB, at least S3's minimum) whose fewest buffers fit `budget`.
fn largest_part(budget: u64, output: Output) -> u64 {
    let per_part = minimum_budget(1, output);
    (budget / per_part / MIB * MIB).max(MIN_PART_SIZE)
}

/// Records copied at once when `MAX_RECORD_CONCURRENCY` is unset.
fn default_record_concurrency(memory_mib: u64) -> usize {
    ((memory_mib / MEMORY_MIB_PER_RECORD) as usize)
        .clamp(MIN_DEFAULT_RECORD_CONCURRENCY, MAX_CONCURRENCY)
}

/// Compression workers when `COMPRESSION_WORKERS` is unset: one per vCPU
/// the function's memory buys in Lambda, else the cores this machine has.
fn default_workers(lambda_memory: Option<u64>) -> usize {
    match lambda_memory {
        Some(mib) => (mib.div_ceil(MEMORY_MIB_PER_VCPU) as usize).clamp(1, MAX_COMPRESSION_WORKERS),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// `GZIP_LEVEL`, `GZIP_MEMBERS`, `ZSTD_LEVEL`, `COMPRESSION_WORKERS`.
fn transform_options(
    env: &Env,
    lambda_memory: Option<u64>,
) -> Result<TransformOptions, ConfigError> {
    let defaults = TransformOptions::default();
    let gzip_members = match env.word(&var::GZIP_MEMBERS)? {
        Some("single") => GzipMembers::Single,
        _ => GzipMembers::Parallel,
    };
    Ok(TransformOptions {
        gzip_level: env
            .number(&var::GZIP_LEVEL)?
            .map_or(defaults.gzip_level, |n| n as u32),
        gzip_members,
        zstd_level: env
            .number(&var::ZSTD_LEVEL)?
            .map_or(defaults.zstd_level, |n| n as i32),
        workers: env
            .number(&var::COMPRESSION_WORKERS)?
            .map_or_else(|| default_workers(lambda_memory), |n| n as usize),
    })
}

/// The part size: `PART_SIZE_MIB` if its fewest buffers (and the
/// transform's window) fit the budget, else the default shrunk to fit (not
/// below S3's minimum); an error when nothing fits.
fn part_size(
    env: &Env,
    transform: &str,
    output: Output,
    window: u64,
    memory_mib: u64,
    buffer_budget: u64,
) -> Result<u64, ConfigError> {
    let part_budget = buffer_budget.saturating_sub(window);
    let part_size = match env.number(&var::PART_SIZE_MIB)? {
        Some(mib) => {
            let needed = minimum_budget(mib * MIB, output) + window;
            if needed > buffer_budget {
                return Err(problem(
                    var::PART_SIZE_MIB.name,
                    format!(
                        "of {mib} needs {} MiB of copy buffers with TRANSFORM={transform}, but a {memory_mib} MB function buffers at most {} MiB: use at most {} or more memory",
                        needed / MIB,
                        buffer_budget / MIB,
                        largest_part(part_budget, output) / MIB
                    ),
                ));
            }
            mib * MIB
        }
        None => DEFAULT_PART_SIZE.min(largest_part(part_budget, output)),
    };
    if minimum_budget(part_size, output) + window <= buffer_budget {
        return Ok(part_size);
    }
    let problem_text = if window > 0 {
        format!(
            "of {memory_mib} MB leaves {} MiB of copy buffers, fewer than TRANSFORM={transform} needs: {} MiB of parts and its {} MiB window",
            buffer_budget / MIB,
            minimum_budget(part_size, output) / MIB,
            window.div_ceil(MIB)
        )
    } else {
        format!(
            "of {memory_mib} MB leaves {} MiB of copy buffers, fewer than TRANSFORM={transform} needs at S3's 5 MiB minimum part ({} MiB)",
            buffer_budget / MIB,
            minimum_budget(MIN_PART_SIZE, output) / MIB
        )
    };
    Err(problem(var::FUNCTION_MEMORY_SIZE.name, problem_text))
}

/// `STORAGE_CLASS`, `SSE`, `SSE_KMS_KEY_ID`, `ACL`, `EXPECTED_BUCKET_OWNER`.
fn upload_options(env: &Env) -> Result<UploadOptions, ConfigError> {
    let sse = match env.word(&var::SSE)? {
        Some("AES256") => Some(ServerSideEncryption::Aes256),
        Some(_) => Some(ServerSideEncryption::AwsKms),
        None => None,
    };
    let kms_key_id = env.text(&var::SSE_KMS_KEY_ID)?;
    if kms_key_id.is_some() && sse != Some(ServerSideEncryption::AwsKms) {
        return Err(problem(
            var::SSE_KMS_KEY_ID.name,
            "is only valid with SSE=aws:kms",
        ));
    }
    Ok(UploadOptions {
        storage_class: env
            .text(&var::STORAGE_CLASS)?
            .map(|text| StorageClass::from(text.as_str())),
        sse,
        kms_key_id,
        acl: env
            .text(&var::ACL)?
            .map(|text| ObjectCannedAcl::from(text.as_str())),
        expected_bucket_owner: env.text(&var::EXPECTED_BUCKET_OWNER)?,
        metadata: HashMap::new(),
    })
}

/// `COPY_MODE` (refused as `server` with a transform), `PART_COPY_SIZE_MIB`,
/// `PART_COPY_CONCURRENCY`.
fn copy_mode(env: &Env, transform: &str) -> Result<(CopyMode, ServerCopySettings), ConfigError> {
    let mode = env
        .word(&var::COPY_MODE)?
        .and_then(CopyMode::parse)
        .unwrap_or_default();
    if mode == CopyMode::Server && transform != "identity" {
        return Err(problem(
            var::COPY_MODE.name,
            format!(
                "server copies bytes unchanged, but TRANSFORM={transform} changes them: use auto or stream"
            ),
        ));
    }
    let server = ServerCopySettings {
        part_size: env
            .number(&var::PART_COPY_SIZE_MIB)?
            .map_or(ServerCopySettings::default().part_size, |mib| mib * MIB),
        concurrency: env
            .number(&var::PART_COPY_CONCURRENCY)?
            .map_or(DEFAULT_PART_COPY_CONCURRENCY, |n| n as usize),
    };
    Ok((mode, server))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_map(&std::env::vars().collect())
    }

    /// Reads `env` (a map, so tests pass their own).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Config, ConfigError> {
        Config::read(&Env::new(map))
    }

    fn read(env: &Env) -> Result<Config, ConfigError> {
        let dst_bucket = env.text(&var::DST_BUCKET)?.ok_or_else(|| {
            problem(
                var::DST_BUCKET.name,
                "must name the destination bucket, but it is unset or empty",
            )
        })?;
        let dst_prefix = env.text(&var::DST_PREFIX)?.unwrap_or_default();
        let transform = env
            .text(&var::TRANSFORM)?
            .unwrap_or_else(|| "identity".to_owned());
        let lambda_memory = env.number(&var::FUNCTION_MEMORY_SIZE)?;
        let memory_mib = lambda_memory.unwrap_or(DEFAULT_MEMORY_MIB);
        let transform_options = transform_options(env, lambda_memory)?;
        let built = crate::transform::by_name_with(&transform, &transform_options)
            .ok_or_else(|| problem(var::TRANSFORM.name, "names no transform"))?;
        let window = built.window();
        let buffer_budget = memory_mib * MIB / BUFFER_MEMORY_DIVISOR;
        let output = Output::of(built.as_ref());
        let part_size = part_size(env, &transform, output, window, memory_mib, buffer_budget)?;
        // Slots of one part each; two are kept for the block being
        // transformed and the part being filled, the rest split between
        // read-ahead and uploads (the memory plan fits them at run time).
        let slots = (buffer_budget / part_size).saturating_sub(2) as usize;
        let default_upload = slots.div_ceil(2).clamp(2, MAX_DEFAULT_CONCURRENCY);
        let default_read = (slots / 2).clamp(1, MAX_DEFAULT_CONCURRENCY);
        let (mode, server) = copy_mode(env, &transform)?;
        // Read by the S3 client's builder; checked here so a typo is an init error.
        env.flag(&var::S3_FORCE_PATH_STYLE)?;
        let work_queue_url = env.text(&var::WORK_QUEUE_URL)?;
        if let Some(url) = &work_queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(problem(
                var::WORK_QUEUE_URL.name,
                format!(
                    "must be an sqs queue url (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not {url:?}"
                ),
            ));
        }
        let deadline_margin = match env.number(&var::DEADLINE_MARGIN_MS)? {
            Some(ms) => Duration::from_millis(ms),
            None if work_queue_url.is_some() => MIN_HANDOFF_MARGIN,
            None => DEFAULT_SAFETY_MARGIN,
        };
        if work_queue_url.is_some() && deadline_margin < MIN_HANDOFF_MARGIN {
            return Err(problem(
                var::DEADLINE_MARGIN_MS.name,
                format!(
                    "must be at least {} with WORK_QUEUE_URL set: a copy stopped at the margin keeps its upload, then sends itself to the queue",
                    MIN_HANDOFF_MARGIN.as_millis()
                ),
            ));
        }
        let segment_parts = env.number(&var::FAN_OUT_SEGMENT_PARTS)?;
        let fan_out = match env.number(&var::FAN_OUT_THRESHOLD_MIB)? {
            None => None,
            Some(threshold) => {
                if work_queue_url.is_none() {
                    return Err(problem(
                        var::FAN_OUT_THRESHOLD_MIB.name,
                        "needs WORK_QUEUE_URL: each segment is a message on the work queue",
                    ));
                }
                Some(FanOutSettings {
                    threshold: threshold * MIB,
                    segment_parts,
                })
            }
        };
        let max_attempts = env
            .number(&var::RESUME_MAX_ATTEMPTS)?
            .map_or(DEFAULT_MAX_ATTEMPTS, |n| n as u32);
        if fan_out.is_some() && max_attempts < 2 {
            return Err(problem(
                var::RESUME_MAX_ATTEMPTS.name,
                "must be at least 2 with FAN_OUT_THRESHOLD_MIB set: segments read the copy's checkpoint",
            ));
        }
        Ok(Config {
            transform_options,
            copy: CopySettings {
                part_size,
                upload_concurrency: env
                    .number(&var::UPLOAD_CONCURRENCY)?
                    .map_or(default_upload, |n| n as usize),
                read_ahead: env
                    .number(&var::READ_AHEAD)?
                    .map_or(default_read, |n| n as usize),
                memory_budget: buffer_budget,
                options: upload_options(env)?,
                mode,
                server,
                copy_tags: env.flag(&var::COPY_TAGS)?.unwrap_or(true),
                resume: Some(ResumeSettings {
                    max_attempts,
                    stop_at: None,
                }),
                fan_out,
                ..CopySettings::default()
            },
            max_record_concurrency: env
                .number(&var::MAX_RECORD_CONCURRENCY)?
                .map_or(default_record_concurrency(memory_mib), |n| n as usize),
            buffer_budget,
            deadline_margin,
            assumed_timeout: env
                .number(&var::ASSUMED_TIMEOUT_SECONDS)?
                .map_or(MAX_LAMBDA_TIMEOUT, Duration::from_secs),
            dst_region: env.text(&var::DST_REGION)?,
            allow: AllowLists::read(env)?,
            requester_pays: env.word(&var::REQUEST_PAYER)?.is_some(),
            metrics_namespace: match env.flag(&var::METRICS)? {
                Some(false) => {
                    env.text(&var::METRICS_NAMESPACE)?;
                    None
                }
                _ => Some(
                    env.text(&var::METRICS_NAMESPACE)?
                        .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned()),
                ),
            },
            function_name: env
                .text(&var::FUNCTION_NAME)?
                .unwrap_or_else(|| crate::metrics::LOCAL_FUNCTION_NAME.to_owned()),
            progress_interval: match env.number(&var::PROGRESS_INTERVAL_SECONDS)? {
                Some(0) => None,
                Some(seconds) => Some(Duration::from_secs(seconds)),
                None => Some(DEFAULT_PROGRESS_INTERVAL),
            },
            work_queue_url,
            bench: match env.text(&var::BENCH_PREFIX)? {
                None => None,
                Some(url) => Some(
                    crate::bench::BenchTarget::parse(&url)
                        .map_err(|error| problem(var::BENCH_PREFIX.name, error.to_string()))?,
                ),
            },
            memory_mib,
            dst_bucket,
            dst_prefix,
            transform,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use variables::{VARIABLES, Value};

    /// Where the documentation's copy of the table sits.
    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    const BEGIN: &str = "<!-- BEGIN GENERATED: configuration variables -->\n";
    const END: &str = "<!-- END GENERATED: configuration variables -->";

    /// One table, three readers: the configuration reads exactly the
    /// variables the table lists as its own (the rest are the SDK's and the
    /// logger's), `--help` lists every one, and the documentation holds the
    /// table as the code renders it (`UPDATE_DOCS=1` rewrites it).
    #[test]
    fn the_variable_table_is_what_the_code_reads_help_lists_and_the_docs_say() {
        let map = env(&[("DST_BUCKET", "dst")]);
        let reader = Env::new(&map);
        Config::read(&reader).expect("a minimal configuration is valid");
        let own: BTreeSet<&str> = VARIABLES
            .iter()
            .filter(|v| !matches!(v.value, Value::External(_)))
            .map(|v| v.name)
            .collect();
        let names: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
        let read = reader.names_read();
        assert!(
            own.is_subset(&read) && read.is_subset(&names),
            "variables read {read:?} vs the table's own {own:?}"
        );
        assert_eq!(names.len(), VARIABLES.len(), "a variable is listed twice");

        let help = crate::cli::help();
        for variable in VARIABLES {
            assert!(
                help.contains(&format!("    {} ", variable.name)),
                "{} missing from --help",
                variable.name
            );
        }

        let doc = std::fs::read_to_string(DOC).expect("docs/configuration.md");
        let (before, rest) = doc.split_once(BEGIN).expect("the begin marker");
        let (current, after) = rest.split_once(END).expect("the end marker");
        let generated = variables::markdown_table();
        if current != generated {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(DOC, format!("{before}{BEGIN}{generated}{END}{after}"))
                    .expect("docs/configuration.md is writable");
            } else {
                panic!(
                    "docs/configuration.md's table differs from src/config/variables.rs: \
                     run UPDATE_DOCS=1 cargo test -p s3-stream-lambda --lib config"
                );
            }
        }
    }

    /// An environment of `pairs`, for the configuration's tests.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_fit_the_memory_budget() {
        for memory in ["128", "512", "1769", "10240"] {
            let config = Config::from_map(&env(&[
                ("DST_BUCKET", "dst"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory),
            ]))
            .unwrap();
            let memory: u64 = memory.parse().unwrap();
            let plan = crate::copy::memory::plan(
                &config.copy,
                Some(10 << 30),
                Output::Input,
                config.copy.memory_budget,
            )
            .unwrap();
            assert!(
                plan.reservation <= config.buffer_budget,
                "{memory} MB: {plan:?}"
            );
            assert_eq!(config.buffer_budget, memory * MIB / 8);
        }
        let small = Config::from_map(&env(&[
            ("DST_BUCKET", "dst"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ]))
        .unwrap();
        assert_eq!(
            (small.copy.upload_concurrency, small.copy.read_ahead),
            (3, 3)
        );
        assert_eq!(small.max_record_concurrency, 16);
    }

    /// A work queue's URL, for the configuration's tests.
    const QUEUE: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/work";

    /// The configuration of `DST_BUCKET=dst` and `pairs`.
    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("DST_BUCKET", "dst")];
        all.extend_from_slice(pairs);
        Config::from_map(&env(&all))
    }

    #[test]
    fn a_work_queue_takes_a_margin_that_holds_the_hand_off() {
        let plain = with(&[]).unwrap();
        assert_eq!(plain.deadline_margin, DEFAULT_SAFETY_MARGIN);
        assert_eq!(plain.work_queue_url, None);
        let queued = with(&[("WORK_QUEUE_URL", QUEUE)]).unwrap();
        assert_eq!(queued.deadline_margin, MIN_HANDOFF_MARGIN);
        assert_eq!(queued.work_queue_url.as_deref(), Some(QUEUE));
        let short = with(&[("WORK_QUEUE_URL", QUEUE), ("DEADLINE_MARGIN_MS", "2000")]);
        assert_eq!(short.unwrap_err().variable, "DEADLINE_MARGIN_MS");
        assert!(with(&[("WORK_QUEUE_URL", QUEUE), ("DEADLINE_MARGIN_MS", "5000")]).is_ok());
        let name = with(&[("WORK_QUEUE_URL", "work")]).unwrap_err();
        assert_eq!(name.variable, "WORK_QUEUE_URL");
    }

    #[test]
    fn fan_out_needs_the_work_queue_and_resuming() {
        assert_eq!(with(&[]).unwrap().copy.fan_out, None);
        let alone = with(&[("FAN_OUT_THRESHOLD_MIB", "1024")]).unwrap_err();
        assert_eq!(alone.variable, "FAN_OUT_THRESHOLD_MIB");
        let once = with(&[
            ("FAN_OUT_THRESHOLD_MIB", "1024"),
            ("WORK_QUEUE_URL", QUEUE),
            ("RESUME_MAX_ATTEMPTS", "1"),
        ])
        .unwrap_err();
        assert_eq!(once.variable, "RESUME_MAX_ATTEMPTS");
        let fanned = with(&[
            ("FAN_OUT_THRESHOLD_MIB", "1024"),
            ("FAN_OUT_SEGMENT_PARTS", "50"),
            ("WORK_QUEUE_URL", QUEUE),
        ])
        .unwrap();
        assert_eq!(
            fanned.copy.fan_out,
            Some(FanOutSettings {
                threshold: 1024 * MIB,
                segment_parts: Some(50),
            })
        );
        let zero = with(&[("FAN_OUT_SEGMENT_PARTS", "0")]).unwrap_err();
        assert_eq!(zero.variable, "FAN_OUT_SEGMENT_PARTS");
    }

    #[test]
    fn refuses_parts_that_can_never_fit() {
        let at_512 = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("DST_BUCKET", "dst"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ];
            all.extend_from_slice(pairs);
            Config::from_map(&env(&all))
        };
        let error = at_512(&[("PART_SIZE_MIB", "64")]).unwrap_err();
        assert_eq!(error.variable, "PART_SIZE_MIB");
        assert!(error.problem.contains("use at most 21"), "{error}");
        let gzip = at_512(&[("PART_SIZE_MIB", "21"), ("TRANSFORM", "gzip")]).unwrap_err();
        assert_eq!(gzip.variable, "PART_SIZE_MIB");
        assert!(at_512(&[("PART_SIZE_MIB", "21")]).is_ok());
        // gzip's 5.25 MiB window (one worker at 512 MB) comes out of the budget.
        let gzip = at_512(&[("PART_SIZE_MIB", "15"), ("TRANSFORM", "gzip")]).unwrap_err();
        assert!(gzip.problem.contains("use at most 14"), "{gzip}");
        assert!(at_512(&[("PART_SIZE_MIB", "14"), ("TRANSFORM", "gzip")]).is_ok());
        let tiny = Config::from_map(&env(&[
            ("DST_BUCKET", "dst"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]))
        .unwrap();
        assert_eq!(tiny.copy.part_size, MIN_PART_SIZE);
    }

    #[test]
    fn names_the_bad_variable() {
        let cases = [
            (vec![], "DST_BUCKET"),
            (vec![("DST_BUCKET", "  ")], "DST_BUCKET"),
            (vec![("DST_BUCKET", "Bad_Bucket")], "DST_BUCKET"),
            (
                vec![("DST_BUCKET", "dst"), ("TRANSFORM", "nope")],
                "TRANSFORM",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("PART_SIZE_MIB", "4")],
                "PART_SIZE_MIB",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("UPLOAD_CONCURRENCY", "0")],
                "UPLOAD_CONCURRENCY",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("MAX_RECORD_CONCURRENCY", "x")],
                "MAX_RECORD_CONCURRENCY",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("DEADLINE_MARGIN_MS", "5")],
                "DEADLINE_MARGIN_MS",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("STORAGE_CLASS", "COLD")],
                "STORAGE_CLASS",
            ),
            (vec![("DST_BUCKET", "dst"), ("SSE", "rot13")], "SSE"),
            (
                vec![("DST_BUCKET", "dst"), ("DST_REGION", "EU West")],
                "DST_REGION",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("COPY_MODE", "fast")],
                "COPY_MODE",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("COPY_TAGS", "yes")],
                "COPY_TAGS",
            ),
            (vec![("DST_BUCKET", "dst"), ("ACL", "everyone")], "ACL"),
            (
                vec![("DST_BUCKET", "dst"), ("EXPECTED_BUCKET_OWNER", "12345")],
                "EXPECTED_BUCKET_OWNER",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("REQUEST_PAYER", "owner")],
                "REQUEST_PAYER",
            ),
            (
                vec![
                    ("DST_BUCKET", "dst"),
                    ("COPY_MODE", "server"),
                    ("TRANSFORM", "gzip"),
                ],
                "COPY_MODE",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("PART_COPY_SIZE_MIB", "4")],
                "PART_COPY_SIZE_MIB",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("PART_COPY_CONCURRENCY", "0")],
                "PART_COPY_CONCURRENCY",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("SSE_KMS_KEY_ID", "k")],
                "SSE_KMS_KEY_ID",
            ),
            (
                vec![("DST_BUCKET", "dst"), ("S3_FORCE_PATH_STYLE", "yes")],
                "S3_FORCE_PATH_STYLE",
            ),
            (
                vec![
                    ("DST_BUCKET", "dst"),
                    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "64"),
                ],
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            ),
        ];
        for (pairs, variable) in cases {
            let error = Config::from_map(&env(&pairs)).unwrap_err();
            assert_eq!(error.variable, variable, "{pairs:?}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("invalid configuration: {variable} "))
            );
        }
    }
}
