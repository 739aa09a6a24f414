//! Header names of the Runtime API, as AWS documents them (the emulator's own copy of the contract).

/// The request id; every later post for this invocation names it.
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// Milliseconds since the Unix epoch at which Lambda stops the invocation.
pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
/// The ARN the function was invoked with (version or alias included).
pub const INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
/// The X-Ray tracing header.
pub const TRACE_ID: &str = "lambda-runtime-trace-id";
/// Client context of a mobile SDK invoke (JSON).
pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
/// Cognito identity of a mobile SDK invoke (JSON).
pub const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
/// The error class of an `/error` or `/init/error` post.
pub const FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";
