//! The S3 client, configured from the standard AWS environment.

use aws_config::BehaviorVersion;
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::retry::RetryConfig;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::{
    RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use std::time::Duration;

/// `S3_FORCE_PATH_STYLE=true` addresses buckets as `endpoint/bucket` (local
/// S3-compatible servers) instead of `bucket.endpoint`.
pub const FORCE_PATH_STYLE_ENV: &str = crate::config::variables::S3_FORCE_PATH_STYLE.name;

/// How long a transfer may make no progress before the SDK fails it (time the
/// reader does not poll is not counted, so back-pressure never trips it). A
/// trickle above the SDK's 1 B/s floor is the engine's `RangeReader`'s to
/// catch and resume.
pub const STALL_GRACE_PERIOD: Duration = Duration::from_secs(20);

/// Attempts the SDK makes per request, the first included, in adaptive mode:
/// one more than the SDK's default 3, because S3 answers a burst of part
/// uploads with `SlowDown` (503) until its partition scales, and the adaptive
/// rate limiter needs a few answers to slow the client down to that rate.
pub const SDK_MAX_ATTEMPTS: u32 = 4;

/// Builds the S3 client from the environment (credentials, region,
/// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) plus `S3_FORCE_PATH_STYLE`,
/// with the SDK's full default chains: profile files, every credentials
/// source, the system's root certificates. For local commands.
///
/// Clones share one connection pool; the pool keeps as many connections as
/// the copies' concurrency asks for and reuses them across invocations.
pub async fn client_from_env() -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await;
    client_with(&shared, force_path_style_from_env())
}

/// The shared AWS configuration from a Lambda sandbox's environment: every
/// standard variable still applies (`AWS_ENDPOINT_URL_S3`, FIPS, dual-stack,
/// checksums…), but the region (`AWS_REGION`) and credentials come from the
/// variables Lambda sets only, no profile file is read (a sandbox has none), and
/// TLS trusts the compiled-in root store ([`crate::https::client`]), so
/// building it reads no file. Loaded with [`retry_config`].
pub async fn lambda_config_from_env() -> aws_config::SdkConfig {
    let no_profile_files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Config, "")
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .profile_files(no_profile_files)
        .region(EnvironmentVariableRegionProvider::new())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(crate::https::client())
        .load()
        .await
}

/// `S3_FORCE_PATH_STYLE=true` (any case).
pub fn force_path_style_from_env() -> bool {
    std::env::var(FORCE_PATH_STYLE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The SDK's retries: adaptive, so `SlowDown`/503 and connection failures
/// before a response are retried behind a client-side rate limiter. A body
/// that fails after the response headers is the engine's `RangeReader`'s.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// Builds the S3 client from an already loaded AWS configuration, keeping its
/// retry settings ([`client_from_env`] loads it with [`retry_config`]).
pub fn client_with(shared: &aws_config::SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(force_path_style)
        // We send our own CRC64NVME on every write; no second SDK checksum.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        // Whole-object GETs ask for validation explicitly (checksum mode).
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(STALL_GRACE_PERIOD)
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Splits `s3://BUCKET/KEY` (both parts non-empty) into the bucket and the key.
pub fn object_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_object_urls() {
        assert_eq!(
            object_url("s3://b/a/b c"),
            Some(("b".into(), "a/b c".into()))
        );
        assert_eq!(object_url("s3://b/"), None);
        assert_eq!(object_url("http://b/k"), None);
    }
}
