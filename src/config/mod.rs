//! The function's configuration, read from the environment and validated at start-up.

pub mod allow_list;

pub use allow_list::AllowLists;

use crate::copy::memory::{Output, minimum_budget};
use crate::copy::part_size::{DEFAULT_PART_SIZE, MAX_PART_SIZE, MIB, MIN_PART_SIZE};
use crate::copy::server::DEFAULT_PART_COPY_CONCURRENCY;
use crate::copy::{CopyMode, CopySettings, ServerCopySettings, UploadOptions};
use crate::runtime::DEFAULT_SAFETY_MARGIN;
use crate::runtime::deadline::MAX_LAMBDA_TIMEOUT;
use crate::transform::{GzipMembers, TransformOptions};
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
use std::collections::HashMap;
use std::time::Duration;

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

/// Most compression workers: Lambda's largest function (10,240 MB) gets six vCPUs.
pub const MAX_COMPRESSION_WORKERS: usize = 6;

/// Longest `ASSUMED_TIMEOUT_SECONDS`: a day, longer than Lambda allows, so
/// an emulator's invocation can sit at a debugger's breakpoint.
pub const MAX_ASSUMED_TIMEOUT_SECONDS: u64 = 86_400;

/// Longest `DST_PREFIX`: half of S3's 1,024-byte key, so the source key keeps the rest.
pub const MAX_PREFIX_BYTES: usize = 512;

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
}

pub(crate) fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Reads a whole number in `range` from `variable`, if set.
fn number(
    env: &HashMap<String, String>,
    variable: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let Some(text) = env
        .get(variable)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(problem(
            variable,
            format!(
                "must be a whole number from {} to {}, got {text:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// True when `name` follows S3's bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
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
    env: &HashMap<String, String>,
    lambda_memory: Option<u64>,
) -> Result<TransformOptions, ConfigError> {
    let defaults = TransformOptions::default();
    let gzip_members = match env
        .get("GZIP_MEMBERS")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None | Some("parallel") => GzipMembers::Parallel,
        Some("single") => GzipMembers::Single,
        Some(other) => {
            return Err(problem(
                "GZIP_MEMBERS",
                format!("must be parallel or single, got {other:?}"),
            ));
        }
    };
    Ok(TransformOptions {
        gzip_level: number(env, "GZIP_LEVEL", 1..=9)?.map_or(defaults.gzip_level, |n| n as u32),
        gzip_members,
        zstd_level: number(env, "ZSTD_LEVEL", 1..=19)?.map_or(defaults.zstd_level, |n| n as i32),
        workers: number(env, "COMPRESSION_WORKERS", 1..=64)?
            .map_or_else(|| default_workers(lambda_memory), |n| n as usize),
    })
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_map(&std::env::vars().collect())
    }

    /// Reads `env` (a map, so tests pass their own).
    pub fn from_map(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let dst_bucket = env
            .get("DST_BUCKET")
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        if dst_bucket.is_empty() {
            return Err(problem(
                "DST_BUCKET",
                "must name the destination bucket, but it is unset or empty",
            ));
        }
        if !valid_bucket_name(&dst_bucket) {
            return Err(problem(
                "DST_BUCKET",
                format!("must be a valid s3 bucket name (3-63 of a-z 0-9 . -), got {dst_bucket:?}"),
            ));
        }
        let dst_prefix = env.get("DST_PREFIX").cloned().unwrap_or_default();
        if dst_prefix.starts_with('/') || dst_prefix.len() > MAX_PREFIX_BYTES {
            return Err(problem(
                "DST_PREFIX",
                "must not start with / and must be at most 512 bytes",
            ));
        }
        let transform = env
            .get("TRANSFORM")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "identity".to_owned());
        let lambda_memory = number(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 128..=10_240)?;
        let memory_mib = lambda_memory.unwrap_or(DEFAULT_MEMORY_MIB);
        let transform_options = transform_options(env, lambda_memory)?;
        let Some(built) = crate::transform::by_name_with(&transform, &transform_options) else {
            return Err(problem(
                "TRANSFORM",
                format!(
                    "must be one of {} (or several, comma-separated, applied in order), got {transform:?}",
                    crate::transform::names().join(", ")
                ),
            ));
        };
        let window = built.window();
        let buffer_budget = memory_mib * MIB / BUFFER_MEMORY_DIVISOR;
        let output = Output::of(built.as_ref());
        // The transform's window comes out of the same budget as the parts.
        let part_budget = buffer_budget.saturating_sub(window);
        let part_size = match number(
            env,
            "PART_SIZE_MIB",
            MIN_PART_SIZE / MIB..=MAX_PART_SIZE / MIB,
        )? {
            Some(mib) => {
                let needed = minimum_budget(mib * MIB, output) + window;
                if needed > buffer_budget {
                    return Err(problem(
                        "PART_SIZE_MIB",
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
            // The default, shrunk (not below S3's minimum) where memory is small.
            None => DEFAULT_PART_SIZE.min(largest_part(part_budget, output)),
        };
        if minimum_budget(part_size, output) + window > buffer_budget {
            if window > 0 {
                return Err(problem(
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                    format!(
                        "of {memory_mib} MB leaves {} MiB of copy buffers, fewer than TRANSFORM={transform} needs: {} MiB of parts and its {} MiB window",
                        buffer_budget / MIB,
                        minimum_budget(part_size, output) / MIB,
                        window.div_ceil(MIB)
                    ),
                ));
            }
            return Err(problem(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                format!(
                    "of {memory_mib} MB leaves {} MiB of copy buffers, fewer than TRANSFORM={transform} needs at S3's 5 MiB minimum part ({} MiB)",
                    buffer_budget / MIB,
                    minimum_budget(MIN_PART_SIZE, output) / MIB
                ),
            ));
        }
        // Slots of one part each; two are kept for the block being
        // transformed and the part being filled, the rest split between
        // read-ahead and uploads (the memory plan fits them at run time).
        let slots = (buffer_budget / part_size).saturating_sub(2) as usize;
        let default_upload = slots.div_ceil(2).clamp(2, MAX_DEFAULT_CONCURRENCY);
        let default_read = (slots / 2).clamp(1, MAX_DEFAULT_CONCURRENCY);
        let concurrency = 1..=MAX_CONCURRENCY as u64;
        let upload_concurrency = number(env, "UPLOAD_CONCURRENCY", concurrency.clone())?
            .map_or(default_upload, |n| n as usize);
        let read_ahead =
            number(env, "READ_AHEAD", concurrency.clone())?.map_or(default_read, |n| n as usize);
        let max_record_concurrency = number(env, "MAX_RECORD_CONCURRENCY", concurrency)?
            .map_or(default_record_concurrency(memory_mib), |n| n as usize);
        let deadline_margin = number(env, "DEADLINE_MARGIN_MS", 100..=600_000)?
            .map_or(DEFAULT_SAFETY_MARGIN, Duration::from_millis);
        let assumed_timeout = number(
            env,
            "ASSUMED_TIMEOUT_SECONDS",
            1..=MAX_ASSUMED_TIMEOUT_SECONDS,
        )?
        .map_or(MAX_LAMBDA_TIMEOUT, Duration::from_secs);
        let storage_class = match env
            .get("STORAGE_CLASS")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(text) => {
                let known = StorageClass::values();
                if !known.contains(&text) {
                    return Err(problem(
                        "STORAGE_CLASS",
                        format!("must be one of {}, got {text:?}", known.join(", ")),
                    ));
                }
                Some(StorageClass::from(text))
            }
        };
        let sse = match env.get("SSE").map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => None,
            Some("AES256") => Some(ServerSideEncryption::Aes256),
            Some("aws:kms") => Some(ServerSideEncryption::AwsKms),
            Some(other) => {
                return Err(problem(
                    "SSE",
                    format!("must be AES256 or aws:kms, got {other:?}"),
                ));
            }
        };
        let kms_key_id = env
            .get("SSE_KMS_KEY_ID")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if kms_key_id.is_some() && sse != Some(ServerSideEncryption::AwsKms) {
            return Err(problem("SSE_KMS_KEY_ID", "is only valid with SSE=aws:kms"));
        }
        let dst_region = env
            .get("DST_REGION")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(region) = &dst_region
            && !(region.len() <= 32
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(problem(
                "DST_REGION",
                format!("must be an aws region such as eu-west-1, got {region:?}"),
            ));
        }
        let mode = match env
            .get("COPY_MODE")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => CopyMode::default(),
            Some(text) => CopyMode::parse(text).ok_or_else(|| {
                problem(
                    "COPY_MODE",
                    format!("must be auto, server or stream, got {text:?}"),
                )
            })?,
        };
        if mode == CopyMode::Server && transform != "identity" {
            return Err(problem(
                "COPY_MODE",
                format!(
                    "server copies bytes unchanged, but TRANSFORM={transform} changes them: use auto or stream"
                ),
            ));
        }
        let server = ServerCopySettings {
            part_size: number(
                env,
                "PART_COPY_SIZE_MIB",
                MIN_PART_SIZE / MIB..=MAX_PART_SIZE / MIB,
            )?
            .map_or(ServerCopySettings::default().part_size, |mib| mib * MIB),
            concurrency: number(
                env,
                "PART_COPY_CONCURRENCY",
                1..=MAX_PART_COPY_CONCURRENCY as u64,
            )?
            .map_or(DEFAULT_PART_COPY_CONCURRENCY, |n| n as usize),
        };
        let acl = match env.get("ACL").map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => None,
            Some(text) => {
                let known = ObjectCannedAcl::values();
                if !known.contains(&text) {
                    return Err(problem(
                        "ACL",
                        format!("must be one of {}, got {text:?}", known.join(", ")),
                    ));
                }
                Some(ObjectCannedAcl::from(text))
            }
        };
        let expected_bucket_owner = env
            .get("EXPECTED_BUCKET_OWNER")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(owner) = &expected_bucket_owner
            && !(owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(problem(
                "EXPECTED_BUCKET_OWNER",
                format!("must be a 12-digit aws account id, got {owner:?}"),
            ));
        }
        let requester_pays = match env
            .get("REQUEST_PAYER")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => false,
            Some("requester") => true,
            Some(other) => {
                return Err(problem(
                    "REQUEST_PAYER",
                    format!("must be requester (or unset), got {other:?}"),
                ));
            }
        };
        let copy_tags = match env
            .get("COPY_TAGS")
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .as_deref()
        {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(problem(
                    "COPY_TAGS",
                    format!("must be true or false, got {other:?}"),
                ));
            }
        };
        if let Some(text) = env
            .get(crate::s3::FORCE_PATH_STYLE_ENV)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            && !text.eq_ignore_ascii_case("true")
            && !text.eq_ignore_ascii_case("false")
        {
            return Err(problem(
                crate::s3::FORCE_PATH_STYLE_ENV,
                format!("must be true or false, got {text:?}"),
            ));
        }
        Ok(Config {
            dst_bucket,
            dst_prefix,
            transform,
            transform_options,
            copy: CopySettings {
                part_size,
                upload_concurrency,
                read_ahead,
                memory_budget: buffer_budget,
                options: UploadOptions {
                    storage_class,
                    sse,
                    kms_key_id,
                    acl,
                    expected_bucket_owner,
                },
                mode,
                server,
                copy_tags,
                ..CopySettings::default()
            },
            max_record_concurrency,
            buffer_budget,
            deadline_margin,
            assumed_timeout,
            dst_region,
            allow: AllowLists::from_map(env)?,
            requester_pays,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
