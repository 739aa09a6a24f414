//! Integration tests of the fault proxy against a tiny in-process upstream HTTP server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Outcome, Rule, S3Op, Times};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for any one test, so a bug fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Size of the object the upstream serves by default.
const MIB: usize = 1024 * 1024;
/// Host header the client signs; the upstream must see it untouched.
const HOST: &str = "s3.test.invalid";
/// Pause used by the timing faults: long enough to measure, short enough to keep tests quick.
const PAUSE: Duration = Duration::from_millis(300);

/// Body type of every test request.
type ReqBody = UnsyncBoxBody<Bytes, Infallible>;

/// Fails the test if it runs longer than [`TEST_TIMEOUT`].
async fn within<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out")
}

/// Deterministic object content.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// FNV-1a offset basis: a cheap content hash to compare uploads without storing them.
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x100_0000_01b3;

/// Folds `bytes` into an FNV-1a hash.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// In-process upstream: GET serves `pattern(size)` (`?size=N`, default 1 MiB), PUT echoes
/// the body's length and hash plus the host and target it saw, POST returns an XML result.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Instant>>>,
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            let service = service_fn(move |req| upstream_answer(Arc::clone(&log), req));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Upstream { addr, seen }
}

async fn upstream_answer(
    seen: Arc<Mutex<Vec<Instant>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    seen.lock().unwrap().push(Instant::now());
    let query = req.uri().query().unwrap_or("").to_owned();
    let response = Response::builder();
    let response = match *req.method() {
        Method::GET => {
            let size = query
                .strip_prefix("size=")
                .map_or(MIB, |n| n.parse().unwrap());
            response.body(Full::from(pattern(size)))
        }
        Method::PUT => {
            let host = req.headers()["host"].to_str().unwrap().to_owned();
            let target = req.uri().to_string();
            let (mut len, mut hash, mut body) = (0usize, FNV_START, req.into_body());
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    len += data.len();
                    hash = fnv(hash, &data);
                }
            }
            let response = response
                .header("x-echo-length", len)
                .header("x-echo-hash", hash);
            let response = response
                .header("x-echo-host", host)
                .header("x-echo-target", target);
            response.body(Full::default())
        }
        Method::POST => response.body(Full::from("<CompleteMultipartUploadResult/>")),
        Method::HEAD => response.header("content-length", MIB).body(Full::default()),
        _ => response.body(Full::default()),
    };
    Ok(response.unwrap())
}

async fn connect(addr: SocketAddr) -> SendRequest<ReqBody> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

fn request(method: Method, target: &str, body: ReqBody) -> Request<ReqBody> {
    Request::builder()
        .method(method)
        .uri(target)
        .header("host", HOST)
        .body(body)
        .unwrap()
}

fn empty() -> ReqBody {
    Empty::new().boxed_unsync()
}

/// Sends one request on a fresh connection.
async fn send(proxy: &FaultProxy, req: Request<ReqBody>) -> Response<Incoming> {
    connect(proxy.addr()).await.send_request(req).await.unwrap()
}

/// Reads a body to its end or first error.
async fn read(response: Response<Incoming>) -> (Vec<u8>, Option<hyper::Error>) {
    let (mut bytes, mut body) = (Vec::new(), response.into_body());
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(&frame.into_data().unwrap_or_default()),
            Err(error) => return (bytes, Some(error)),
        }
    }
    (bytes, None)
}

async fn get(proxy: &FaultProxy, target: &str) -> (StatusCode, Vec<u8>) {
    let response = send(proxy, request(Method::GET, target, empty())).await;
    let status = response.status();
    let (body, error) = read(response).await;
    assert!(error.is_none(), "{error:?}");
    (status, body)
}

async fn setup() -> (Upstream, FaultProxy) {
    let up = upstream().await;
    let proxy = FaultProxy::start(up.addr).await.unwrap();
    (up, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_get_and_logs_it() {
    within(async {
        let (_up, proxy) = setup().await;
        assert_eq!(proxy.endpoint(), format!("http://{}", proxy.addr()));
        let (status, body) = get(&proxy, "/bucket/key?x-id=GetObject").await;
        assert_eq!((status, body.len()), (StatusCode::OK, MIB));
        assert!(body == pattern(MIB));
        let log = proxy.log();
        let entry = &log[0];
        assert_eq!(
            (entry.op, entry.path.as_str()),
            (S3Op::GetObject, "/bucket/key")
        );
        assert_eq!((entry.query.as_str(), entry.rule), ("x-id=GetObject", None));
        assert_eq!(
            (entry.status, entry.body_bytes),
            (Some(StatusCode::OK), MIB as u64)
        );
        assert_eq!(entry.outcome, Outcome::Complete);
        assert!(entry.responded_at.unwrap() >= entry.arrived_at);
        let head = send(&proxy, request(Method::HEAD, "/bucket/key", empty())).await;
        assert_eq!(head.headers()["content-length"], MIB.to_string().as_str());
        assert_eq!(read(head).await.0.len(), 0);
        let entry = &proxy.log()[1];
        assert_eq!(
            (entry.op, entry.outcome),
            (S3Op::HeadObject, Outcome::Complete)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_streaming_uploads_intact_with_host() {
    within(async {
        let (_up, proxy) = setup().await;
        for (size, sized) in [(32 * MIB, true), (4 * MIB + 7, false)] {
            let data = Bytes::from(pattern(size));
            let chunks: Vec<Result<Frame<Bytes>, Infallible>> = (0..size)
                .step_by(MIB)
                .map(|at| Ok(Frame::data(data.slice(at..size.min(at + MIB)))))
                .collect();
            let body = StreamBody::new(stream::iter(chunks)).boxed_unsync();
            let target = "/bucket/big?partNumber=1&uploadId=u1";
            let mut req = request(Method::PUT, target, body);
            if sized {
                req.headers_mut().insert("content-length", size.into());
            }
            let response = send(&proxy, req).await;
            let echo = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
            assert_eq!(echo("x-echo-length"), size.to_string());
            assert_eq!(echo("x-echo-hash"), fnv(FNV_START, &data).to_string());
            assert_eq!(
                (echo("x-echo-host"), echo("x-echo-target")),
                (HOST.into(), target.into())
            );
        }
        let ops: Vec<S3Op> = proxy.log().iter().map(|e| e.op).collect();
        assert_eq!(ops, [S3Op::UploadPart, S3Op::UploadPart]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_postpones_forwarding() {
    within(async {
        let (up, proxy) = setup().await;
        let rule = proxy.add_rule(Rule::new(Matcher::s3(S3Op::GetObject), Fault::Delay(PAUSE)));
        let (status, _) = get(&proxy, "/bucket/key").await;
        assert_eq!((status, proxy.hits(rule)), (StatusCode::OK, 1));
        let entry = &proxy.log()[0];
        assert_eq!(entry.rule, Some(rule));
        assert!(up.seen.lock().unwrap()[0] - entry.arrived_at >= PAUSE);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_response_waits_after_upstream_answered() {
    within(async {
        let (up, proxy) = setup().await;
        proxy.add_rule(Rule::new(Matcher::any(), Fault::HoldResponse(PAUSE)));
        let (status, body) = get(&proxy, "/bucket/key").await;
        assert_eq!((status, body.len()), (StatusCode::OK, MIB));
        let entry = &proxy.log()[0];
        // The hold came after the upstream answered: both are lower bounds,
        // so a slow machine cannot fail them.
        let answered = entry.upstream_answered_at.expect("the upstream answered");
        assert!(answered >= up.seen.lock().unwrap()[0]);
        assert!(entry.responded_at.unwrap() - answered >= PAUSE);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_body_after_fails_the_client_mid_body() {
    within(async {
        let (_up, proxy) = setup().await;
        proxy.add_rule(Rule::new(
            Matcher::any(),
            Fault::CutBodyAfter(3 * MIB as u64),
        ));
        let target = format!("/bucket/key?size={}", 8 * MIB);
        let response = send(&proxy, request(Method::GET, &target, empty())).await;
        assert_eq!(
            response.headers()["content-length"],
            (8 * MIB).to_string().as_str()
        );
        let (body, error) = read(response).await;
        assert!(
            error.is_some(),
            "client must see an error, got {} bytes",
            body.len()
        );
        assert!(body.len() <= 3 * MIB && body == pattern(body.len()));
        let entry = &proxy.log()[0];
        assert_eq!(
            (entry.outcome, entry.body_bytes),
            (Outcome::Aborted, 3 * MIB as u64)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flip_byte_changes_exactly_one_byte() {
    within(async {
        let (_up, proxy) = setup().await;
        proxy.add_rule(Rule::new(Matcher::any(), Fault::FlipByte(123_457)));
        let (_, body) = get(&proxy, "/bucket/key").await;
        let expected = pattern(MIB);
        let diffs: Vec<usize> = (0..MIB).filter(|&i| body[i] != expected[i]).collect();
        assert_eq!(diffs, [123_457]);
        assert_eq!(body[123_457], expected[123_457] ^ 0xFF);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_error_answers_without_forwarding() {
    within(async {
        let (up, proxy) = setup().await;
        let fault = Fault::s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Reduce rate");
        proxy.add_rule(Rule::new(Matcher::s3(S3Op::PutObject), fault));
        let body = Full::from(pattern(2 * MIB)).boxed_unsync();
        let response = send(&proxy, request(Method::PUT, "/bucket/key", body)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["content-type"], "application/xml");
        let xml = String::from_utf8(read(response).await.0).unwrap();
        assert!(xml.contains("<Error><Code>SlowDown</Code><Message>Reduce rate</Message>"));
        assert!(xml.contains("<RequestId>") && xml.ends_with("</Error>"));
        assert!(up.seen.lock().unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_region_redirects_with_region_header() {
    within(async {
        let (_up, proxy) = setup().await;
        proxy.add_rule(Rule::new(Matcher::any(), Fault::wrong_region("eu-west-1")));
        let response = send(&proxy, request(Method::HEAD, "/bucket", empty())).await;
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(response.headers()["x-amz-bucket-region"], "eu-west-1");
        let (status, body) = get(&proxy, "/bucket/key").await;
        let xml = String::from_utf8(body).unwrap();
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert!(xml.contains("<Code>PermanentRedirect</Code>"));
        assert!(xml.contains("<Endpoint>s3.eu-west-1.amazonaws.com</Endpoint>"));
        assert_eq!(proxy.log()[0].op, S3Op::HeadBucket);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nth_fires_on_every_second_request_over_keep_alive() {
    within(async {
        let (_up, proxy) = setup().await;
        let fault = Fault::s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "slow");
        let rule = proxy.add_rule(Rule::new(Matcher::any(), fault).times(Times::EveryNth(2)));
        let mut client = connect(proxy.addr()).await;
        let mut statuses = Vec::new();
        for _ in 0..5 {
            client.ready().await.unwrap();
            let response = client
                .send_request(request(Method::GET, "/b/k", empty()))
                .await;
            let response = response.unwrap();
            statuses.push(response.status().as_u16());
            assert!(read(response).await.1.is_none());
        }
        assert_eq!(statuses, [200, 503, 200, 503, 200]);
        assert_eq!(proxy.hits(rule), 2);
        let fired: Vec<bool> = proxy.log().iter().map(|e| e.rule.is_some()).collect();
        assert_eq!(fired, [false, true, false, true, false]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_200_replaces_a_successful_body() {
    within(async {
        let (up, proxy) = setup().await;
        let matcher = Matcher::s3(S3Op::CompleteMultipartUpload);
        proxy.add_rule(Rule::new(
            matcher,
            Fault::error_200("InternalError", "oops"),
        ));
        let target = "/bucket/key?uploadId=u1";
        let response = send(&proxy, request(Method::POST, target, empty())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let length = response.headers()["content-length"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = read(response).await.0;
        assert_eq!(length, body.len().to_string());
        let xml = String::from_utf8(body).unwrap();
        assert!(xml.contains("<Error><Code>InternalError</Code><Message>oops</Message>"));
        assert_eq!(
            up.seen.lock().unwrap().len(),
            1,
            "upstream performed the operation"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matcher_conditions_rule_order_and_disconnect() {
    within(async {
        let (_up, proxy) = setup().await;
        let ranged = Matcher::any().path_contains("key-a").header("Range");
        let cut = proxy.add_rule(Rule::new(ranged, Fault::Disconnect).times(Times::First(1)));
        let second = Rule::new(Matcher::any(), Fault::FlipByte(0)).times(Times::Nth(2));
        let flip = proxy.add_rule(second);
        let mut ranged_get = request(Method::GET, "/b/key-a", empty());
        ranged_get
            .headers_mut()
            .insert("range", "bytes=0-9".parse().unwrap());
        let failed = connect(proxy.addr()).await.send_request(ranged_get).await;
        assert!(failed.is_err(), "disconnect must fail the request");
        let (_, plain) = get(&proxy, "/b/key-a").await;
        let (_, flipped) = get(&proxy, "/b/key-b").await;
        assert_eq!((plain[0], flipped[0]), (0, 0xFF));
        assert_eq!((proxy.hits(cut), proxy.hits(flip)), (1, 1));
        assert_eq!(proxy.log()[0].status, None);
        assert!(proxy.remove_rule(flip) && !proxy.remove_rule(flip));
        proxy.clear_rules();
        proxy.clear_log();
        assert!(proxy.log().is_empty() && proxy.hits(cut) == 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_stops_listening() {
    within(async {
        let (_up, proxy) = setup().await;
        let addr = proxy.addr();
        drop(proxy);
        loop {
            if TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
