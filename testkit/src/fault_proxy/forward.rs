//! Handling of one request: pick a rule, apply its fault, forward upstream, shape the response.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::body::ProxyBody;
use super::error::ForwardError;
use super::fault::{Fault, error_xml, set_content_length, xml_headers};
use super::log::{ExchangeHandle, Log};
use super::rule::RuleSet;
use super::s3op::S3Op;

/// How long to wait for a TCP connection to the upstream.
///
/// Loopback connects finish in microseconds or are refused at once; a longer wait means
/// the upstream is wedged, and failing the request beats hanging the test.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one hop, not the message; never forwarded in either direction.
///
/// `transfer-encoding` is re-chosen by hyper for each hop from the body it is given.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// State shared by the accept loop and every request.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) upstream: SocketAddr,
    pub(super) rules: Mutex<RuleSet>,
    pub(super) log: Arc<Log>,
    pub(super) shutdown: CancellationToken,
}

impl Shared {
    /// Locks the rules; a panic elsewhere cannot make them unusable.
    pub(super) fn rules(&self) -> MutexGuard<'_, RuleSet> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Answers one client request; an error closes the client connection without a response.
pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, ForwardError> {
    let (parts, body) = request.into_parts();
    let op = S3Op::classify(&parts);
    let (fault, handle) = {
        let mut rules = shared.rules();
        let fired = rules.select(&parts, op);
        let handle = shared.log.begin(&parts, op, fired.as_ref().map(|f| f.0));
        (fired.map(|f| f.1), handle)
    };
    match fault {
        Some(Fault::Disconnect) => return Err(ForwardError::Disconnect),
        Some(Fault::Respond {
            status,
            mut headers,
            body: payload,
        }) => {
            drain(body).await;
            set_content_length(&mut headers, payload.len());
            return Ok(fixed(status, headers, payload, handle));
        }
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        _ => {}
    }
    // S3 carries out a request it received whole, whatever its client does
    // next (an abort sent just before the process exits, say): once
    // forwarding starts, the exchange goes on in a task of its own even if
    // the client leaves. A body the client never finished still fails
    // upstream, as it would at S3.
    let exchange = tokio::spawn({
        let shared = Arc::clone(&shared);
        async move { send_upstream(&shared, parts, body).await }
    });
    let forwarded = exchange.await.unwrap_or_else(|join| {
        Err(ForwardError::Task {
            addr: shared.upstream,
            reason: join.to_string(),
        })
    });
    let upstream = match forwarded {
        Ok(response) => response,
        Err(error) => {
            warn!(error = %error, "fault proxy could not forward a request");
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            let text = Bytes::from(error.to_string());
            set_content_length(&mut headers, text.len());
            return Ok(fixed(StatusCode::BAD_GATEWAY, headers, text, handle));
        }
    };
    handle.upstream_answered();
    if let Some(Fault::HoldResponse(pause)) = fault {
        tokio::time::sleep(pause).await;
    }
    let (mut head, incoming) = upstream.into_parts();
    strip_hop_by_hop(&mut head.headers);
    handle.set_status(head.status);
    let body = match fault {
        Some(Fault::ErrorAfterForward { status, code }) => {
            drain(incoming).await;
            let xml = Bytes::from(error_xml(
                &code,
                "We encountered an internal error. Please try again.",
                &[],
            ));
            head.status = status;
            handle.set_status(status);
            head.headers = xml_headers();
            set_content_length(&mut head.headers, xml.len());
            ProxyBody::full(xml, handle)
        }
        Some(Fault::Error200 { code, message }) if head.status == StatusCode::OK => {
            let xml = Bytes::from(error_xml(&code, &message, &[]));
            head.headers.remove(CONTENT_ENCODING);
            head.headers.extend(xml_headers());
            set_content_length(&mut head.headers, xml.len());
            ProxyBody::full(xml, handle)
        }
        Some(Fault::CutBodyAfter(limit)) => ProxyBody::new(incoming, handle).cut_after(limit),
        Some(Fault::FlipByte(offset)) => ProxyBody::new(incoming, handle).flip_at(offset),
        Some(Fault::Throttle { bytes_per_sec }) => {
            ProxyBody::new(incoming, handle).throttle(bytes_per_sec)
        }
        _ => ProxyBody::new(incoming, handle),
    };
    Ok(Response::from_parts(head, body))
}

/// A response with a fixed body, not forwarded.
fn fixed(
    status: StatusCode,
    headers: HeaderMap,
    payload: Bytes,
    handle: ExchangeHandle,
) -> Response<ProxyBody> {
    handle.set_status(status);
    let mut response = Response::new(ProxyBody::full(payload, handle));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Reads and discards a request body, so the client finishes sending before it is answered.
async fn drain(mut body: Incoming) {
    while let Some(frame) = body.frame().await {
        if let Err(error) = frame {
            debug!(error = %error, "fault proxy stopped draining a request body");
            return;
        }
    }
}

/// Sends the request, body streaming, over a fresh connection to the upstream.
///
/// The request keeps its method, path and query, and every end-to-end header including
/// `host`, which SigV4 signs.
async fn send_upstream(
    shared: &Shared,
    mut parts: http::request::Parts,
    body: Incoming,
) -> Result<Response<Incoming>, ForwardError> {
    let addr = shared.upstream;
    let stream = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| ForwardError::ConnectTimeout(addr))?
        .map_err(|source| ForwardError::Connect { addr, source })?;
    if let Err(error) = stream.set_nodelay(true) {
        debug!(error = %error, "fault proxy could not disable nagle upstream");
    }
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ForwardError::Handshake { addr, source })?;
    let shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            result = connection => {
                if let Err(error) = result {
                    debug!(error = %error, "fault proxy upstream connection failed");
                }
            }
            () = shutdown.cancelled() => {}
        }
    });
    strip_hop_by_hop(&mut parts.headers);
    parts.uri = parts
        .uri
        .path_and_query()
        .cloned()
        .map_or_else(|| Uri::from_static("/"), Uri::from);
    parts.version = Version::HTTP_11;
    sender
        .send_request(Request::from_parts(parts, body))
        .await
        .map_err(|source| ForwardError::Exchange { addr, source })
}

/// Removes hop-by-hop headers, including any that `connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_but_keeps_host() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("host", "bucket.example"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("x-amz-date", "20240101T000000Z"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["host", "x-amz-date"]);
    }
}
