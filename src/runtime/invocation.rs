//! The context of one invocation, parsed from the headers of `/invocation/next`.

use super::deadline::{self, DeadlinePassed, DeadlineReading, Receipt};
use http::HeaderMap;
use std::time::Duration;
use tokio::time::Instant;

/// Header names of `/invocation/next`, as the Runtime API documents them.
pub mod header {
    /// The request id; every later post for this invocation names it.
    pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
    /// Milliseconds since the Unix epoch at which Lambda stops the invocation
    /// (emulators send other shapes: see [`super::super::deadline`]).
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
    /// The deadline, as milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The deadline on tokio's clock, for timers.
    pub deadline: Instant,
    /// How `Lambda-Runtime-Deadline-Ms` was read.
    pub deadline_reading: DeadlineReading,
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
    /// A request id, but a deadline that had passed on arrival.
    #[error("invocation {request_id}: {}", header::DEADLINE_MS)]
    DeadlinePassed {
        /// The invocation's id, so an error can still be posted.
        request_id: String,
        /// The header's value and how it was read.
        #[source]
        passed: DeadlinePassed,
    },
}

impl Invocation {
    /// Parses the headers of a `/next` response that arrived at `receipt`;
    /// `assumed_timeout` stands in for a deadline the header does not give
    /// (see [`deadline::read`]).
    pub fn from_headers(
        headers: &HeaderMap,
        receipt: Receipt,
        assumed_timeout: Duration,
    ) -> Result<Invocation, InvocationHeaderError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let request_id = text(header::REQUEST_ID).ok_or(InvocationHeaderError::MissingRequestId)?;
        let deadline = match deadline::read(
            text(header::DEADLINE_MS).as_deref(),
            receipt,
            assumed_timeout,
        ) {
            Ok(deadline) => deadline,
            Err(passed) => {
                return Err(InvocationHeaderError::DeadlinePassed { request_id, passed });
            }
        };
        Ok(Invocation {
            deadline: deadline.instant,
            deadline_ms: deadline.unix_ms,
            deadline_reading: deadline.reading,
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

    const TIMEOUT: Duration = Duration::from_secs(900);

    fn receipt() -> Receipt {
        Receipt {
            unix_ms: 1_780_000_000_000,
            instant: Instant::now(),
        }
    }

    #[test]
    fn parses_every_header() {
        let at = receipt();
        let inv = Invocation::from_headers(
            &headers(&[
                (header::REQUEST_ID, "r-1"),
                (header::DEADLINE_MS, "1780000060000"),
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
            ]),
            at,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(inv.request_id, "r-1");
        assert_eq!(inv.deadline - at.instant, Duration::from_secs(60));
        assert_eq!(inv.deadline_ms, 1_780_000_060_000);
        assert_eq!(inv.deadline_reading, DeadlineReading::UnixMs);
        assert_eq!(
            inv.trace_id.as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
        );
        assert_eq!(inv.client_context.as_deref(), Some("{}"));
        assert!(inv.cognito_identity.is_some());
    }

    #[test]
    fn a_missing_id_or_a_passed_deadline_is_an_error() {
        let at = receipt();
        assert_eq!(
            Invocation::from_headers(&headers(&[(header::DEADLINE_MS, "1")]), at, TIMEOUT)
                .unwrap_err(),
            InvocationHeaderError::MissingRequestId
        );
        let passed = Invocation::from_headers(
            &headers(&[
                (header::REQUEST_ID, "r"),
                (header::DEADLINE_MS, "1779999999000"),
            ]),
            at,
            TIMEOUT,
        )
        .unwrap_err();
        assert!(matches!(
            &passed,
            InvocationHeaderError::DeadlinePassed { request_id, .. } if request_id == "r"
        ));
        assert_eq!(
            crate::runtime::error_chain(&passed),
            "invocation r: lambda-runtime-deadline-ms: deadline \"1779999999000\" read as unix ms had passed 1000 ms before the invocation arrived"
        );
        // An unusable header is not an error: the assumed timeout stands in.
        let assumed = Invocation::from_headers(
            &headers(&[(header::REQUEST_ID, "r"), (header::DEADLINE_MS, "soon")]),
            at,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(assumed.deadline_reading, DeadlineReading::Unparsable);
        assert_eq!(assumed.deadline - at.instant, TIMEOUT);
    }
}
