//! The error document posted to `/error` and `/init/error`, and the stable error types.

use serde::Serialize;

/// Stable `errorType` values this function reports; documented in the README.
pub mod error_type {
    /// The event body is not JSON, or not a shape the handler accepts.
    pub const MALFORMED_EVENT: &str = "Runtime.MalformedEvent";
    /// The handler panicked; the process keeps serving.
    pub const HANDLER_PANIC: &str = "Runtime.HandlerPanic";
    /// The handler did not return in time after its cancellation signal (or
    /// after SIGTERM); the runtime stopped it and posted this instead.
    pub const HANDLER_TIMEOUT: &str = "Runtime.HandlerTimeout";
    /// The handler's result could not be serialized to JSON.
    pub const SERIALIZATION: &str = "Runtime.SerializationError";
    /// `/next` delivered an invocation whose deadline had already passed (a
    /// header the runtime cannot read is no error: it assumes a timeout).
    pub const INVALID_INVOCATION: &str = "Runtime.InvalidInvocation";
    /// Configuration read at start-up is missing or invalid.
    pub const INVALID_CONFIG: &str = "Runtime.InvalidConfiguration";
}

/// An error as the Runtime API expects it: `{"errorType", "errorMessage", "stackTrace"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// A stable, documented class such as `S3.NoSuchKey`; also sent as the
    /// `Lambda-Runtime-Function-Error-Type` header.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// What failed, lowercase, causes chained with ": ".
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    /// Always empty: Rust has no useful stack trace for a handled error.
    #[serde(rename = "stackTrace")]
    pub stack_trace: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic of `error_type` with `message`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            error_type: error_type.into(),
            error_message: message.into(),
            stack_trace: Vec::new(),
        }
    }

    /// The JSON body of an error post.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// Renders an error and its chain of sources as `outer: inner: innermost`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_the_documented_shape() {
        let d = Diagnostic::new("S3.NoSuchKey", "source object a/b is gone");
        let v: serde_json::Value = serde_json::from_slice(&d.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorType": "S3.NoSuchKey", "errorMessage": "source object a/b is gone", "stackTrace": []})
        );
    }
}
