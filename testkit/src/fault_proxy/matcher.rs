//! Request matcher: which requests a rule applies to.

use http::Method;
use http::request::Parts;

use super::s3op::{S3Op, has_query_param};

/// Selects requests by method, S3 operation, path substring, header or query parameter.
///
/// Every condition that is set must hold; an empty matcher matches every request.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    method: Option<Method>,
    op: Option<S3Op>,
    path_contains: Option<String>,
    header: Option<String>,
    query_param: Option<String>,
    query_value: Option<(String, String)>,
    signed_outside: Option<String>,
}

impl Matcher {
    /// A matcher that matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// A matcher for one S3 operation; shorthand for `Matcher::any().op(op)`.
    pub fn s3(op: S3Op) -> Self {
        Self::any().op(op)
    }

    /// Requires this HTTP method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Requires this S3 operation (see [`S3Op::classify`]).
    pub fn op(mut self, op: S3Op) -> Self {
        self.op = Some(op);
        self
    }

    /// Requires the raw (percent-encoded) path to contain `needle`, e.g. an object key.
    pub fn path_contains(mut self, needle: impl Into<String>) -> Self {
        self.path_contains = Some(needle.into());
        self
    }

    /// Requires a header with this name (case-insensitive), e.g. `range`.
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into().to_ascii_lowercase());
        self
    }

    /// Requires a query parameter with this name, e.g. `partNumber`.
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query_param = Some(name.into());
        self
    }

    /// Requires query parameter `name` with exactly `value`, e.g.
    /// `partNumber` = `7`: one part of every upload.
    pub fn query_value(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query_value = Some((name.into(), value.into()));
        self
    }

    /// Requires a SigV4 `Authorization` signed for another region than
    /// `region` (or none): how S3 tells a request sent to the wrong region.
    pub fn signed_outside(mut self, region: impl Into<String>) -> Self {
        self.signed_outside = Some(region.into());
        self
    }

    /// True when the request satisfies every condition of this matcher.
    pub fn matches(&self, parts: &Parts, op: S3Op) -> bool {
        let method_ok = self.method.as_ref().is_none_or(|m| *m == parts.method);
        let op_ok = self.op.is_none_or(|o| o == op);
        let path_ok = self
            .path_contains
            .as_deref()
            .is_none_or(|needle| parts.uri.path().contains(needle));
        let header_ok = self
            .header
            .as_deref()
            .is_none_or(|name| parts.headers.contains_key(name));
        let query = parts.uri.query().unwrap_or("");
        let query_ok = self
            .query_param
            .as_deref()
            .is_none_or(|name| has_query_param(query, name));
        let value_ok = self.query_value.as_ref().is_none_or(|(name, value)| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .any(|(n, v)| n == name && v == value)
        });
        let region_ok = self.signed_outside.as_deref().is_none_or(|region| {
            let scope = format!("/{region}/s3/aws4_request");
            !parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.contains(&scope))
        });
        method_ok && op_ok && path_ok && header_ok && query_ok && value_ok && region_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(method: Method, uri: &str, header: Option<&str>) -> Parts {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(name) = header {
            builder = builder.header(name, "x");
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn every_condition_must_hold() {
        let m = Matcher::s3(S3Op::GetObject)
            .method(Method::GET)
            .path_contains("key-1")
            .header("Range")
            .query_param("partNumber");
        let good = parts(Method::GET, "/b/key-1?partNumber=2", Some("range"));
        assert!(m.matches(&good, S3Op::GetObject));
        assert!(!m.matches(&good, S3Op::HeadObject));
        let no_header = parts(Method::GET, "/b/key-1?partNumber=2", None);
        assert!(!m.matches(&no_header, S3Op::GetObject));
        let other_key = parts(Method::GET, "/b/key-2?partNumber=2", Some("range"));
        assert!(!m.matches(&other_key, S3Op::GetObject));
        let no_query = parts(Method::GET, "/b/key-1", Some("range"));
        assert!(!m.matches(&no_query, S3Op::GetObject));
        assert!(Matcher::any().matches(&no_query, S3Op::Other));
    }
}
