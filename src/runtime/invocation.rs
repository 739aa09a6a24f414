//! The context of one invocation, parsed from the headers of `/invocation/next`.

use http::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Header names of `/invocation/next`, as the Runtime API documents them.
pub mod header {
    /// The request id; every later post for this invocation names it.
    pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
    /// Milliseconds since the Unix epoch at which Lambda stops the invocation.
    pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
    /// The ARN the function was invoked with (version or alias included).
    pub const INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
    /// The X-Ray tracing header, exported as `_X_AMZN_TRACE_ID`.
    pub const TRACE_ID: &str = "lambda-runtime-trace-id";
    /// Client context of a mobile SDK invoke (JSON).
    pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
    /// Cognito identity of a mobile SDK invoke (JSON).
    pub const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
    /// The error class of an `/error` or `/init/error` post.
    pub const FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";
}

/// What Lambda told us about one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`, as milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The deadline on tokio's clock, for timers.
    pub deadline: Instant,
    /// `Lambda-Runtime-Invoked-Function-Arn`, empty when absent.
    pub invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<String>,
}

/// Why `/next` headers did not make an invocation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvocationHeaderError {
    /// No request id: nothing can be posted for this invocation.
    #[error("invocation has no {} header", header::REQUEST_ID)]
    MissingRequestId,
    /// A request id, but no usable deadline.
    #[error("invocation {request_id} has no valid {} header", header::DEADLINE_MS)]
    BadDeadline {
        /// The invocation's id, so an error can still be posted.
        request_id: String,
    },
}

impl Invocation {
    /// Parses the headers of a `/next` response.
    pub fn from_headers(headers: &HeaderMap) -> Result<Invocation, InvocationHeaderError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let request_id = text(header::REQUEST_ID).ok_or(InvocationHeaderError::MissingRequestId)?;
        let Some(deadline_ms) = text(header::DEADLINE_MS).and_then(|v| v.parse::<u64>().ok())
        else {
            return Err(InvocationHeaderError::BadDeadline { request_id });
        };
        Ok(Invocation {
            deadline: instant_of_epoch_ms(deadline_ms),
            deadline_ms,
            request_id,
            invoked_function_arn: text(header::INVOKED_FUNCTION_ARN).unwrap_or_default(),
            trace_id: text(header::TRACE_ID),
            client_context: text(header::CLIENT_CONTEXT),
            cognito_identity: text(header::COGNITO_IDENTITY),
        })
    }

    /// Time left before Lambda stops this invocation.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Maps a wall-clock deadline onto tokio's monotonic clock.
fn instant_of_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn parses_every_header() {
        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        let far = far.to_string();
        let inv = Invocation::from_headers(&headers(&[
            (header::REQUEST_ID, "r-1"),
            (header::DEADLINE_MS, &far),
            (
                header::INVOKED_FUNCTION_ARN,
                "arn:aws:lambda:us-east-1:1:function:f",
            ),
            (
                header::TRACE_ID,
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            ),
            (header::CLIENT_CONTEXT, "{}"),
            (header::COGNITO_IDENTITY, "{\"cognitoIdentityId\":\"x\"}"),
        ]))
        .unwrap();
        assert_eq!(inv.request_id, "r-1");
        assert!(inv.remaining() > Duration::from_secs(50));
        assert_eq!(
            inv.trace_id.as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
        );
        assert_eq!(inv.client_context.as_deref(), Some("{}"));
        assert!(inv.cognito_identity.is_some());
    }

    #[test]
    fn missing_id_or_deadline_is_an_error() {
        assert_eq!(
            Invocation::from_headers(&headers(&[(header::DEADLINE_MS, "1")])).unwrap_err(),
            InvocationHeaderError::MissingRequestId
        );
        assert_eq!(
            Invocation::from_headers(&headers(&[
                (header::REQUEST_ID, "r"),
                (header::DEADLINE_MS, "soon")
            ]))
            .unwrap_err(),
            InvocationHeaderError::BadDeadline {
                request_id: "r".into()
            }
        );
    }
}
