//! Header names of the Runtime and Extensions APIs, as AWS documents them (the emulator's own copy of the contract).

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
/// Extensions API: the extension's name, sent with `/extension/register`.
pub const EXTENSION_NAME: &str = "lambda-extension-name";
/// Extensions API: the id `/extension/register` answers with; later calls name it.
pub const EXTENSION_IDENTIFIER: &str = "lambda-extension-identifier";
/// Extensions API: the id of one event `/extension/event/next` delivers.
pub const EXTENSION_EVENT_IDENTIFIER: &str = "lambda-extension-event-identifier";
/// Extensions API: opt-in features of `/extension/register` (`accountId`).
pub const EXTENSION_ACCEPT_FEATURE: &str = "lambda-extension-accept-feature";
