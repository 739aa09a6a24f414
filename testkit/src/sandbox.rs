//! The environment a Lambda sandbox gives a `provided.al2023` function, for spawning the real `bootstrap` as deployed.

/// What a Lambda sandbox's environment holds for a `provided.al2023`
/// function (besides `AWS_LAMBDA_RUNTIME_API`), with fake credentials and no
/// `HOME`, plus the function's required configuration (`DST_BUCKET`). No
/// endpoint override: the S3 client is built for real S3 over HTTPS, as
/// deployed (so nothing may reach S3 before the first invocation).
pub const SANDBOX_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "en_US.UTF-8"),
    ("TZ", ":UTC"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLETOKEN"),
    ("AWS_LAMBDA_FUNCTION_NAME", "s3-stream-lambda"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/s3-stream-lambda"),
    (
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "2026/12/01/[$LATEST]0123456789abcdef",
    ),
    ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
    ("DST_BUCKET", "sandbox-destination"),
];
