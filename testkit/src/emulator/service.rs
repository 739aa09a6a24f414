//! The emulator's HTTP routes, answering as the documented Runtime and Extensions APIs do.

use super::MAX_RESPONSE_BYTES;
use super::header;
use super::state::{DeadlineHeader, Post, PostKind, State};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const PREFIX: &str = "/2018-06-01/runtime/";

/// The Extensions API's routes, at the same address.
const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";

pub(super) fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        serde_json::json!({"errorType": error_type, "errorMessage": message}),
    )
}

/// Answers one request.
pub(super) async fn route(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if state.failing() {
        return Ok(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "non-recoverable state: runtime should exit promptly",
        ));
    }
    let path = request.uri().path().to_owned();
    if let Some(route) = path.strip_prefix(EXTENSION_PREFIX) {
        return Ok(extension_route(&state, request, route).await);
    }
    let Some(route) = path.strip_prefix(PREFIX) else {
        return Ok(error(StatusCode::NOT_FOUND, "NotFound", "unknown path"));
    };
    let method = request.method().clone();
    let segments: Vec<&str> = route.split('/').collect();
    let response = match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(&state).await,
        (Method::POST, ["invocation", id, "response"]) => {
            post(&state, request, PostKind::Response, Some((*id).to_owned())).await
        }
        (Method::POST, ["invocation", id, "error"]) => {
            post(&state, request, PostKind::Error, Some((*id).to_owned())).await
        }
        (Method::POST, ["init", "error"]) => post(&state, request, PostKind::InitError, None).await,
        _ => error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    };
    Ok(response)
}

async fn extension_route(
    state: &State,
    request: Request<Incoming>,
    route: &str,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    match (method, route) {
        (Method::POST, "register") => {
            let (parts, body) = request.into_parts();
            match body.collect().await {
                Ok(collected) => state
                    .extensions
                    .register(&parts.headers, &collected.to_bytes()),
                Err(_) => error(StatusCode::BAD_REQUEST, "InvalidRequest", "unreadable body"),
            }
        }
        (Method::GET, "event/next") => state.extensions.next(request.headers()).await,
        _ => error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    // The runtime's first `/next` ends init: no more extensions may register.
    state.extensions.close_registration();
    let (id, spec) = state.next_event().await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let deadline_ms = now_ms + spec.timeout.as_millis() as u64;
    state.extensions.deliver_invoke(
        &id,
        deadline_ms,
        &spec.function_arn,
        spec.trace_id.as_deref(),
    );
    let mut response = Response::new(Full::new(spec.body.clone()));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json");
    if !spec.omit_request_id {
        set(header::REQUEST_ID, &id);
    }
    match &spec.deadline_header {
        DeadlineHeader::UnixMs => set(header::DEADLINE_MS, &deadline_ms.to_string()),
        DeadlineHeader::Duration => {
            set(header::DEADLINE_MS, &spec.timeout.as_millis().to_string());
        }
        DeadlineHeader::Absent => {}
        DeadlineHeader::Value(value) => set(header::DEADLINE_MS, value),
    }
    set(header::INVOKED_FUNCTION_ARN, &spec.function_arn);
    if let Some(trace_id) = &spec.trace_id {
        set(header::TRACE_ID, trace_id);
    }
    if let Some(context) = &spec.client_context {
        set(header::CLIENT_CONTEXT, context);
    }
    if let Some(identity) = &spec.cognito_identity {
        set(header::COGNITO_IDENTITY, identity);
    }
    response
}

async fn post(
    state: &Arc<State>,
    request: Request<Incoming>,
    kind: PostKind,
    request_id: Option<String>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "InvalidRequest", "unreadable body"),
    };
    let accepted = || reply(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}));
    let (status, response, retry, retried) = match &request_id {
        None => (StatusCode::ACCEPTED, accepted(), 0, false),
        Some(id) => match state.finish(id) {
            None => {
                let message = format!("invalid request id {id}: not an invocation in flight");
                let bad = StatusCode::BAD_REQUEST;
                (bad, error(bad, "InvalidRequestID", &message), 0, false)
            }
            Some(spec) => {
                let retry = spec.retry;
                let too_large = kind == PostKind::Response && body.len() > MAX_RESPONSE_BYTES;
                // Lambda counts a response it refuses as a function error,
                // and retries an asynchronous invocation after either.
                let retried =
                    (kind == PostKind::Error || too_large) && state.retry_after_error(id, spec);
                if too_large {
                    let message = format!(
                        "exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)"
                    );
                    let refused = StatusCode::PAYLOAD_TOO_LARGE;
                    let response = error(refused, "RequestEntityTooLarge", &message);
                    (refused, response, retry, retried)
                } else {
                    (StatusCode::ACCEPTED, accepted(), retry, retried)
                }
            }
        },
    };
    state.record(Post {
        kind,
        request_id,
        headers: parts.headers,
        body,
        status: status.as_u16(),
        received_at: std::time::Instant::now(),
        retry,
        retried,
    });
    response
}
