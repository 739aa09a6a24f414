//! Lambda's shutdown phase: `bootstrap` registers its internal extension, and SIGTERM mid-copy aborts the multipart upload and exits 0.

mod common;

use bytes::Bytes;
use common::function::{self, s3_event};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use s3_stream_lambda::runtime::Endpoint;
use s3_stream_lambda::runtime::extension::{INTERNAL_EXTENSION_NAME, RegisteredExtension};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind, RuntimeApiEmulator, ShutdownSignal};
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Outcome, Rule, S3Op};
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

/// Upper bound for any single wait in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// How long after SIGTERM the process may take to exit before the test fails:
/// Lambda allows 500 ms; the slack absorbs a loaded test machine.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Polls the child until it exits; returns its exit code and when it was seen
/// to exit (to within a millisecond), or `None` after `timeout`. Async, so
/// the emulator and the proxy on this runtime keep serving meanwhile.
async fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> Option<(i32, Instant)> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status.code().unwrap_or(-1), Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

#[tokio::test]
async fn bootstrap_registers_its_internal_extension_during_init() {
    let mut f = function::start(&[("DST_BUCKET", "unused-bucket")]).await;
    assert!(
        f.emulator.wait_for_extensions_ready(1, WAIT).await,
        "no extension called event/next; bootstrap stderr:\n{}",
        f.logs()
    );
    let extensions = f.emulator.registered_extensions();
    assert_eq!(extensions.len(), 1, "{extensions:?}");
    let extension = &extensions[0];
    assert_eq!(extension.name, INTERNAL_EXTENSION_NAME);
    assert!(extension.events.is_empty(), "{extension:?}");
    assert!(!extension.external);
    // Idle, then SIGTERM: a prompt, clean exit.
    let phase = f.emulator.shutdown(f.child.id()).expect("sigterm sent");
    assert_eq!(phase.signal, ShutdownSignal::Term);
    let (code, exited_at) = wait_exit(&mut f.child, EXIT_WAIT)
        .await
        .unwrap_or_else(|| panic!("bootstrap did not exit after sigterm:\n{}", f.logs()));
    assert_eq!(code, 0, "{}", f.logs());
    eprintln!(
        "idle: sigterm to exit {:?}",
        exited_at.duration_since(phase.started_at)
    );
}

#[tokio::test]
async fn sigterm_mid_copy_aborts_the_multipart_upload_and_exits_0() {
    // UPLOAD_CONCURRENCY=1 leaves two upload slots: the third part waits for
    // one when SIGTERM arrives, so the copy is still in its pipeline.
    sigterm_mid_copy(&[("UPLOAD_CONCURRENCY", "1")]).await;
}

#[tokio::test]
async fn sigterm_while_the_last_parts_are_in_flight_aborts_the_multipart_upload() {
    // Every part in flight: the engine has read the whole source and waits
    // in `complete()` for the held UploadParts when SIGTERM arrives.
    sigterm_mid_copy(&[]).await;
}

/// Copies 3 × 5 MiB through the fault proxy, UploadPart responses held for
/// 30 s; SIGTERM once the first UploadPart reached S3. Asserts a clean exit
/// with the multipart upload aborted first.
async fn sigterm_mid_copy(extra_env: &[(&str, &str)]) {
    let client = common::client().await;
    let source = common::create_bucket(&client, "sigterm-src").await;
    let destination = common::create_bucket(&client, "sigterm-dst").await;
    let data = common::bytes_of(3 * 5 * MIB, 11);
    let etag = common::put(&client, &source, "big.bin", data.clone()).await;
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("proxy starts");
    proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPart),
        Fault::HoldResponse(Duration::from_secs(30)),
    ));
    let proxy_endpoint = proxy.endpoint();
    let mut env = vec![
        ("DST_BUCKET", destination.as_str()),
        ("PART_SIZE_MIB", "5"),
        ("COPY_MODE", "stream"),
        ("AWS_ENDPOINT_URL_S3", proxy_endpoint.as_str()),
    ];
    env.extend_from_slice(extra_env);
    let mut f = function::start(&env).await;
    assert!(
        f.emulator.wait_for_extensions_ready(1, WAIT).await,
        "the internal extension is not ready:\n{}",
        f.logs()
    );
    let event = s3_event(&[(&source, "big.bin", data.len(), &etag)]);
    let request_id = f.emulator.enqueue(InvocationSpec::new(event.to_string()));

    // Mid-flight: UploadParts reached S3 and their responses are held.
    let waiting = Instant::now();
    while !proxy.log().iter().any(|e| e.op == S3Op::UploadPart) {
        assert!(
            waiting.elapsed() < WAIT,
            "no UploadPart within {WAIT:?}:\n{}",
            f.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let phase = f.emulator.shutdown(f.child.id()).expect("sigterm sent");
    assert_eq!(phase.signal, ShutdownSignal::Term);
    let (code, exited_at) = wait_exit(&mut f.child, EXIT_WAIT)
        .await
        .unwrap_or_else(|| panic!("bootstrap did not exit after sigterm:\n{}", f.logs()));
    let took = exited_at.duration_since(phase.started_at);
    eprintln!("mid-copy: sigterm to exit {took:?}");
    assert_eq!(code, 0, "{}", f.logs());

    let log = proxy.log();
    let abort = log
        .iter()
        .find(|e| e.op == S3Op::AbortMultipartUpload)
        .unwrap_or_else(|| panic!("no AbortMultipartUpload: {log:#?}\n{}", f.logs()));
    assert_eq!(abort.outcome, Outcome::Complete, "{abort:?}");
    assert_eq!(abort.status.map(|s| s.as_u16()), Some(204), "{abort:?}");
    let answered = abort.responded_at.expect("abort answered");
    assert!(
        answered <= exited_at && abort.arrived_at >= phase.started_at,
        "the abort must follow sigterm and precede the exit"
    );
    assert!(
        !log.iter().any(|e| e.op == S3Op::CompleteMultipartUpload),
        "the copy must not complete"
    );
    assert_eq!(common::incomplete_uploads(&client, &destination).await, 0);
    // The copy's failure was posted within the window, before the exit.
    let post = f
        .emulator
        .wait_for_result(&request_id, Duration::from_millis(100))
        .await
        .unwrap_or_else(|| panic!("no result posted for the invocation:\n{}", f.logs()));
    assert_eq!(post.kind, PostKind::Error, "{}", post.json());
}

/// One raw request to the emulator, for the parts of the contract our client never sends.
async fn raw(
    endpoint: &str,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (http::StatusCode, http::HeaderMap, serde_json::Value) {
    let stream = tokio::net::TcpStream::connect(endpoint)
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", endpoint);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn the_emulators_extensions_api_keeps_the_contract() {
    let emulator = RuntimeApiEmulator::start().await.expect("emulator starts");
    let address = emulator.endpoint();
    let endpoint = Endpoint::parse(&address).expect("endpoint parses");
    let register = "/2020-01-01/extension/register";
    let next = "/2020-01-01/extension/event/next";

    // Registration answers 200, an identifier and the function's metadata.
    let (status, headers, body) = raw(
        &address,
        http::Method::POST,
        register,
        &[
            ("lambda-extension-name", "raw"),
            ("lambda-extension-accept-feature", "accountId"),
        ],
        r#"{"events": ["INVOKE"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("lambda-extension-identifier"));
    for field in ["functionName", "functionVersion", "handler", "accountId"] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }
    // Refusals are 403 with the Extension.* error types.
    let no_name: &[(&str, &str)] = &[];
    let refusals = [
        (
            no_name,
            r#"{"events": []}"#,
            "Extension.InvalidExtensionName",
        ),
        (
            &[("lambda-extension-name", "raw")][..],
            "{}",
            "Extension.InvalidExtensionState",
        ),
        (
            &[("lambda-extension-name", "internal")][..],
            r#"{"events": ["SHUTDOWN"]}"#,
            "Extension.InvalidEventType",
        ),
        (
            &[("lambda-extension-name", "bad")][..],
            "not json",
            "InvalidRequestFormat",
        ),
    ];
    for (headers, body, error_type) in refusals {
        let (status, _, answer) = raw(&address, http::Method::POST, register, headers, body).await;
        assert_eq!(status, 403, "{error_type}: {answer}");
        assert_eq!(answer["errorType"], error_type);
    }
    for (headers, error_type) in [
        (&[][..], "Extension.MissingExtensionIdentifier"),
        (
            &[("lambda-extension-identifier", "nope")][..],
            "Extension.InvalidExtensionIdentifier",
        ),
        (
            &[(
                "lambda-extension-identifier",
                "00000000-0000-4000-8000-000000000000",
            )][..],
            "Extension.UnknownExtensionIdentifier",
        ),
    ] {
        let (status, _, answer) = raw(&address, http::Method::GET, next, headers, "").await;
        assert_eq!(status, 403, "{error_type}: {answer}");
        assert_eq!(answer["errorType"], error_type);
    }

    // An external extension may subscribe to SHUTDOWN and gets the event.
    emulator.declare_external_extension("watcher");
    let watcher = RegisteredExtension::register(&endpoint, "watcher", &["SHUTDOWN"])
        .await
        .expect("external extension registers");
    let idle = RegisteredExtension::register(&endpoint, "idle", &[])
        .await
        .expect("internal extension registers");
    let idle_id = idle.id().to_owned();
    let idle_next = tokio::spawn({
        let address = address.clone();
        async move {
            raw(
                &address,
                http::Method::GET,
                next,
                &[("lambda-extension-identifier", &idle_id)],
                "",
            )
            .await
        }
    });
    let watcher_id = watcher.id().to_owned();
    let watcher_next = tokio::spawn({
        let address = address.clone();
        async move {
            raw(
                &address,
                http::Method::GET,
                next,
                &[("lambda-extension-identifier", &watcher_id)],
                "",
            )
            .await
        }
    });
    assert!(emulator.wait_for_extensions_ready(2, WAIT).await);
    let phase = emulator.request_shutdown();
    assert_eq!(phase.signal, ShutdownSignal::Term);
    let (status, headers, event) = tokio::time::timeout(WAIT, watcher_next)
        .await
        .expect("the shutdown event arrives")
        .expect("task joins");
    assert_eq!(status, 200);
    assert!(headers.contains_key("lambda-extension-event-identifier"));
    assert_eq!(event["eventType"], "SHUTDOWN");
    assert_eq!(event["shutdownReason"], "spindown");
    assert_eq!(event["deadlineMs"], phase.deadline_ms);
    // The internal one subscribed to nothing: it just holds.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!idle_next.is_finished());
    idle_next.abort();
    // Registration is closed once the shutdown phase (or the first invocation/next) began.
    let late = RegisteredExtension::register(&endpoint, "late", &[]).await;
    assert!(late.is_err());
}

#[tokio::test]
async fn the_emulator_closes_registration_when_the_runtime_first_asks_for_an_invocation() {
    let emulator = RuntimeApiEmulator::start().await.expect("emulator starts");
    let address = emulator.endpoint();
    let endpoint = Endpoint::parse(&address).expect("endpoint parses");
    let early = RegisteredExtension::register(&endpoint, "early", &[]).await;
    assert!(early.is_ok());
    let runtime_next = tokio::spawn({
        let address = address.clone();
        async move {
            raw(
                &address,
                http::Method::GET,
                "/2018-06-01/runtime/invocation/next",
                &[],
                "",
            )
            .await
        }
    });
    assert!(emulator.wait_for_next_requests(1, WAIT).await);
    let (status, _, answer) = raw(
        &address,
        http::Method::POST,
        "/2020-01-01/extension/register",
        &[("lambda-extension-name", "late")],
        r#"{"events": []}"#,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["errorType"], "Extension.RegistrationClosed");
    runtime_next.abort();
    // Without any extension, Lambda's shutdown is SIGKILL, not SIGTERM.
    let bare = RuntimeApiEmulator::start().await.expect("emulator starts");
    assert_eq!(bare.request_shutdown().signal, ShutdownSignal::Kill);
}
