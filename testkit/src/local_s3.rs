//! S3 and SQS clients for a loopback server (moto_server, s3s-fs, the synthetic S3).

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// Region the local servers are addressed in; they accept any.
pub const LOCAL_REGION: &str = "us-east-1";

/// A path-style client for `endpoint` with static test credentials.
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SQS client for `endpoint` (moto_server serves SQS beside S3) with
/// static test credentials.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_sqs::config::Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "testkit",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// The environment that points a child `bootstrap` at `endpoint`.
pub fn child_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_S3", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", LOCAL_REGION.into()),
        ("S3_FORCE_PATH_STYLE", "true".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}
