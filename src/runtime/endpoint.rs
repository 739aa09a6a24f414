//! Where the Lambda Runtime API lives: parsed from `AWS_LAMBDA_RUNTIME_API`.

use std::fmt;

/// The Runtime API's API version, the first path segment of every endpoint.
pub const API_VERSION: &str = "2018-06-01";

/// The Extensions API's version, the first path segment of its endpoints
/// (served at the same address as the Runtime API).
pub const EXTENSIONS_API_VERSION: &str = "2020-01-01";

/// The address of a Lambda Runtime API.
///
/// Lambda hands it out as `host:port`; some emulators hand out
/// `http://host:port[/prefix]`. Both forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    authority: String,
    prefix: String,
}

/// Why an `AWS_LAMBDA_RUNTIME_API` value could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid runtime api endpoint {value:?}: {reason}")]
pub struct EndpointError {
    value: String,
    reason: &'static str,
}

impl Endpoint {
    /// Parses `host:port` or `http://host:port[/prefix]`.
    pub fn parse(value: &str) -> Result<Endpoint, EndpointError> {
        let fail = |reason| EndpointError {
            value: value.to_owned(),
            reason,
        };
        let trimmed = value.trim();
        if trimmed.starts_with("https://") {
            return Err(fail("https is not offered by the runtime api"));
        }
        let rest = trimmed.strip_prefix("http://").unwrap_or(trimmed);
        let (authority, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(fail("expected host:port"));
        };
        if host.is_empty() {
            return Err(fail("the host is empty"));
        }
        if port.parse::<u16>().is_err() {
            return Err(fail("the port is not a number from 0 to 65535"));
        }
        Ok(Endpoint {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `host:port`, for connecting and for the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request path of `route` (e.g. `runtime/invocation/next`).
    pub fn path(&self, route: &str) -> String {
        format!("{}/{API_VERSION}/{route}", self.prefix)
    }

    /// The request path of an Extensions API `route` (e.g. `extension/register`).
    pub fn extension_path(&self, route: &str) -> String {
        format!("{}/{EXTENSIONS_API_VERSION}/{route}", self.prefix)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lambda_form() {
        let e = Endpoint::parse("127.0.0.1:9001").unwrap();
        assert_eq!(e.authority(), "127.0.0.1:9001");
        assert_eq!(
            e.path("runtime/invocation/next"),
            "/2018-06-01/runtime/invocation/next"
        );
    }

    #[test]
    fn accepts_url_form_with_prefix() {
        let e = Endpoint::parse("http://localhost:8080/lambda/").unwrap();
        assert_eq!(e.authority(), "localhost:8080");
        assert_eq!(
            e.path("runtime/init/error"),
            "/lambda/2018-06-01/runtime/init/error"
        );
        assert_eq!(
            e.extension_path("extension/register"),
            "/lambda/2020-01-01/extension/register"
        );
    }

    #[test]
    fn rejects_bad_values() {
        for bad in ["", "localhost", ":9001", "host:port", "https://h:1"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
