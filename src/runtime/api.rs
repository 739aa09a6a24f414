//! One small type per Runtime API endpoint, each turning itself into an HTTP request.

use super::diagnostic::Diagnostic;
use super::endpoint::Endpoint;
use super::invocation::header;
use bytes::Bytes;
use http::{Method, Request, header as http_header};
use http_body_util::Full;

/// The content type of error posts, as the Runtime API documents it.
pub const ERROR_CONTENT_TYPE: &str = "application/vnd.aws.lambda.error+json";

/// A request to one Runtime API endpoint.
pub trait ApiRequest {
    /// The HTTP request for `endpoint`.
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>>;
}

/// A request to `path` on `endpoint` with the headers every request carries.
pub(super) fn request_builder(
    endpoint: &Endpoint,
    method: Method,
    path: String,
) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(http_header::HOST, endpoint.authority())
        .header(
            http_header::USER_AGENT,
            concat!("s3-stream-lambda/", env!("CARGO_PKG_VERSION")),
        )
}

fn build(
    endpoint: &Endpoint,
    method: Method,
    route: &str,
    content_type: Option<&str>,
    error_type: Option<&str>,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut builder = request_builder(endpoint, method, endpoint.path(route));
    if let Some(content_type) = content_type {
        builder = builder.header(http_header::CONTENT_TYPE, content_type);
    }
    if let Some(error_type) = error_type {
        builder = builder.header(header::FUNCTION_ERROR_TYPE, sanitize_header(error_type));
    }
    // Every part was validated above (route from our own constants, a
    // sanitized header value), so building cannot fail; fall back to an empty
    // request rather than panic if it ever did.
    builder.body(Full::new(body)).unwrap_or_default()
}

/// Keeps a header value to visible ASCII so it is always a valid header.
pub(super) fn sanitize_header(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `GET /runtime/invocation/next`: wait for the next event.
pub struct NextInvocation;

impl ApiRequest for NextInvocation {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        build(
            endpoint,
            Method::GET,
            "runtime/invocation/next",
            None,
            None,
            Bytes::new(),
        )
    }
}

/// `POST /runtime/invocation/{id}/response`: the handler's JSON result.
pub struct InvocationResponse<'a> {
    /// The invocation being answered.
    pub request_id: &'a str,
    /// The JSON document.
    pub body: Bytes,
}

impl ApiRequest for InvocationResponse<'_> {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        let route = format!("runtime/invocation/{}/response", self.request_id);
        build(
            endpoint,
            Method::POST,
            &route,
            Some("application/json"),
            None,
            self.body.clone(),
        )
    }
}

/// `POST /runtime/invocation/{id}/error`: the invocation failed.
pub struct InvocationError<'a> {
    /// The invocation that failed.
    pub request_id: &'a str,
    /// Why.
    pub diagnostic: &'a Diagnostic,
}

impl ApiRequest for InvocationError<'_> {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        let route = format!("runtime/invocation/{}/error", self.request_id);
        let body = Bytes::from(self.diagnostic.to_json());
        let error_type = Some(self.diagnostic.error_type.as_str());
        build(
            endpoint,
            Method::POST,
            &route,
            Some(ERROR_CONTENT_TYPE),
            error_type,
            body,
        )
    }
}

/// `POST /runtime/init/error`: start-up failed; the process exits next.
pub struct InitError<'a> {
    /// Why.
    pub diagnostic: &'a Diagnostic,
}

impl ApiRequest for InitError<'_> {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        let body = Bytes::from(self.diagnostic.to_json());
        let error_type = Some(self.diagnostic.error_type.as_str());
        build(
            endpoint,
            Method::POST,
            "runtime/init/error",
            Some(ERROR_CONTENT_TYPE),
            error_type,
            body,
        )
    }
}
