//! The faults a rule can inject, and builders for S3-shaped error responses.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};

/// Header real S3 uses to tell the client which region a bucket lives in.
const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// Content type of every S3 error document.
const XML_CONTENT_TYPE: &str = "application/xml";

/// What to do to a request that a rule selects.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Wait this long before forwarding the request upstream.
    Delay(Duration),
    /// Forward, receive the upstream response head, then wait this long before answering.
    HoldResponse(Duration),
    /// Forward and stream back the headers and this many body bytes, then drop the
    /// connection without finishing the body (a body no longer than this passes whole).
    CutBodyAfter(u64),
    /// Forward and stream the response body back no faster than this many bytes
    /// per second (a throttled or sick connection).
    Throttle {
        /// The pace of the body.
        bytes_per_sec: u64,
    },
    /// Forward and XOR 0xFF the response body byte at this offset.
    FlipByte(u64),
    /// Answer with this response without forwarding; the request body is read and discarded.
    Respond {
        /// Response status.
        status: StatusCode,
        /// Response headers; `content-length` is set from the body.
        headers: HeaderMap,
        /// Response body.
        body: Bytes,
    },
    /// Forward, and if upstream answers 200, replace its body with an S3 `<Error>` document
    /// (still status 200) — the upstream has performed the operation.
    Error200 {
        /// S3 error code, e.g. `InternalError`.
        code: String,
        /// Human-readable error message.
        message: String,
    },
    /// Forward, let upstream carry the request out, then answer this S3
    /// error instead of upstream's answer: the ambiguous 500 S3 documents
    /// ("the request may have succeeded").
    ErrorAfterForward {
        /// Response status, e.g. 500.
        status: StatusCode,
        /// S3 error code, e.g. `InternalError`.
        code: String,
    },
    /// Close the client connection without any response.
    Disconnect,
}

impl Fault {
    /// An S3 error response, e.g. `(503, "SlowDown", "Please reduce your request rate.")`.
    pub fn s3_error(status: StatusCode, code: &str, message: &str) -> Fault {
        Fault::Respond {
            status,
            headers: xml_headers(),
            body: Bytes::from(error_xml(code, message, &[])),
        }
    }

    /// A 500 `InternalError` answered after upstream carried the request out.
    pub fn internal_error_after_forward() -> Fault {
        Fault::ErrorAfterForward {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError".into(),
        }
    }

    /// The 301 PermanentRedirect S3 sends for a bucket addressed in the wrong region.
    pub fn wrong_region(region: &str) -> Fault {
        let mut headers = xml_headers();
        if let Ok(value) = HeaderValue::from_str(region) {
            headers.insert(BUCKET_REGION_HEADER, value);
        }
        let endpoint = format!("s3.{region}.amazonaws.com");
        let message = "The bucket you are attempting to access must be addressed using the \
                       specified endpoint. Please send all future requests to this endpoint.";
        Fault::Respond {
            status: StatusCode::MOVED_PERMANENTLY,
            headers,
            body: Bytes::from(error_xml(
                "PermanentRedirect",
                message,
                &[("Endpoint", &endpoint)],
            )),
        }
    }

    /// A 200 with this XML body, instead of the server's answer (e.g. a
    /// `CopyPartResult` carrying a checksum the server never reports).
    pub fn ok_xml(body: &str) -> Fault {
        Fault::Respond {
            status: StatusCode::OK,
            headers: xml_headers(),
            body: Bytes::from(body.to_owned()),
        }
    }

    /// An [`Fault::Error200`] with this code and message.
    pub fn error_200(code: &str, message: &str) -> Fault {
        Fault::Error200 {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Headers of an S3 error document (without its length).
pub(super) fn xml_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE));
    headers
}

/// Sets `content-length` to `len`, replacing any upstream value.
pub(super) fn set_content_length(headers: &mut HeaderMap, len: usize) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
}

/// Builds S3's `<Error>` document with a fresh request id and any extra elements.
pub(super) fn error_xml(code: &str, message: &str, extra: &[(&str, &str)]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    let mut element = |name: &str, value: &str| {
        let _ = write!(xml, "<{name}>{}</{name}>", escape(value));
    };
    element("Code", code);
    element("Message", message);
    for (name, value) in extra {
        element(name, value);
    }
    element("RequestId", &next_request_id());
    xml.push_str("</Error>");
    xml
}

/// A unique, recognisable request id for injected errors.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("FAULTPROXY{:08X}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Escapes the five XML special characters.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_escapes_and_orders_elements() {
        let xml = error_xml("SlowDown", "a<b & c", &[("Endpoint", "e")]);
        let body = xml.split_once("<Error>").unwrap().1;
        assert!(body.starts_with("<Code>SlowDown</Code><Message>a&lt;b &amp; c</Message>"));
        assert!(body.contains("<Endpoint>e</Endpoint><RequestId>FAULTPROXY"));
        assert!(body.ends_with("</RequestId></Error>"));
    }

    #[test]
    fn wrong_region_sets_region_header() {
        let Fault::Respond {
            status, headers, ..
        } = Fault::wrong_region("eu-west-1")
        else {
            panic!("wrong_region must build a response");
        };
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(headers[BUCKET_REGION_HEADER], "eu-west-1");
    }
}
