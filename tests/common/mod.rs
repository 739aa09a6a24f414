//! Shared test support: a real moto_server on loopback, S3 helpers, the
//! function, and the [`Stack`] most tests start from (two buckets, a fault
//! proxy in front of them).
#![allow(dead_code)]

pub mod function;
pub mod queues;
pub mod stack;

// Unused where only the benches include this module.
#[allow(unused_imports)]
pub use stack::Stack;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use s3_stream_testkit::error_chain::error_chain;
use s3_stream_testkit::local_s3;
use s3_stream_testkit::moto::MotoServer;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

/// The S3 endpoint the tests use: `S3_TEST_ENDPOINT` (started by `.ci/run`),
/// or a moto_server this process starts and stops.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| match std::env::var("S3_TEST_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => start_moto(),
    })
}

/// Starts moto_server for the life of this test process. The start (which
/// may first create the test kit's Python environment) runs on a thread and
/// runtime of its own; the first caller waits for it once per process.
fn start_moto() -> String {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let started = std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(MotoServer::start())
                .map_err(|e| error_chain(&e))
        })
        .join();
        match started {
            Ok(Ok(server)) => server,
            Ok(Err(message)) => panic!("moto_server did not start: {message}"),
            Err(_) => panic!("moto_server's start panicked"),
        }
    });
    server.endpoint().to_owned()
}

/// Environment variables pointing a child `bootstrap` at the test server.
pub fn s3_env() -> Vec<(&'static str, String)> {
    local_s3::child_env(endpoint())
}

/// A client for the test server, built by the product's own configuration.
pub async fn client() -> Client {
    client_for(endpoint()).await
}

/// A client like [`client`] for another endpoint (e.g. a fault proxy in front).
pub async fn client_for(endpoint: &str) -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        // A request to a hung server fails the test instead of hanging it.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(TEST_REQUEST_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    s3_stream_lambda::s3::client_with(&shared, true)
}

/// Longest a test's own S3 request may take (a 100 MiB object on a loaded
/// machine's moto takes seconds, not minutes).
pub const TEST_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A bucket name unique to this test.
pub fn bucket_name(test: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{}-{n}", test.replace('_', "-"), std::process::id())
}

/// Creates a bucket.
pub async fn create_bucket(client: &Client, test: &str) -> String {
    let bucket = bucket_name(test);
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// Turns versioning on for `bucket`.
pub async fn enable_versioning(client: &Client, bucket: &str) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
}

/// Deterministic pseudo-random bytes, so failures reproduce.
pub fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    s3_stream_testkit::sample::sample_bytes(len, seed)
}

/// SHA-256 hex of `data`.
pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Uploads `data` with one PutObject; returns its ETag.
pub async fn put(client: &Client, bucket: &str, key: &str, data: Vec<u8>) -> String {
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put object");
    out.e_tag().unwrap_or_default().to_owned()
}

/// Sends a PutObject a test built (headers, body); returns its ETag, unquoted.
pub async fn send_put(
    request: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
) -> String {
    request
        .send()
        .await
        .expect("put object")
        .e_tag()
        .expect("an etag")
        .trim_matches('"')
        .to_owned()
}

/// Content headers and user metadata a test puts on a source and expects on
/// its copy.
pub struct Described<'a> {
    pub content_type: &'a str,
    pub content_disposition: &'a str,
    pub cache_control: &'a str,
    pub content_language: &'a str,
    /// The user metadata `owner`.
    pub owner: &'a str,
}

impl Described<'_> {
    /// `request` with these headers and this metadata.
    pub fn put(
        &self,
        request: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        request
            .content_type(self.content_type)
            .content_disposition(self.content_disposition)
            .cache_control(self.cache_control)
            .content_language(self.content_language)
            .metadata("owner", self.owner)
    }

    /// Asserts that `head` (of `key`) has these headers and this metadata.
    pub fn assert_on(
        &self,
        head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
        key: &str,
    ) {
        assert_eq!(head.content_type(), Some(self.content_type), "{key}");
        assert_eq!(
            head.content_disposition(),
            Some(self.content_disposition),
            "{key}"
        );
        assert_eq!(head.cache_control(), Some(self.cache_control), "{key}");
        assert_eq!(
            head.content_language(),
            Some(self.content_language),
            "{key}"
        );
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("owner"))
                .map(String::as_str),
            Some(self.owner),
            "{key}"
        );
    }
}

/// Reads an object whole.
pub async fn get(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object");
    out.body.collect().await.expect("read body").to_vec()
}

/// An existing object's `HeadObject`.
pub async fn head(
    client: &Client,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head object")
}

/// Incomplete multipart uploads in `bucket`.
pub async fn incomplete_uploads(client: &Client, bucket: &str) -> usize {
    let out = client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads");
    out.uploads().len()
}

/// Objects in `bucket`.
pub async fn object_count(client: &Client, bucket: &str) -> usize {
    client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects")
        .contents()
        .len()
}

/// The process's environment, as far as tests care: `runtime::run` exports
/// each invocation's trace id into it (`_X_AMZN_TRACE_ID`). A test running
/// the loop in this process holds it shared; a test that reads the exported
/// variable holds it exclusively, so no other test's loop writes it meanwhile.
pub static PROCESS_ENV: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Fails the test unless `strace` runs (tests trace `bootstrap` with it).
pub fn assert_strace_runs() {
    let strace = std::process::Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "strace is needed (apt-get install strace; .ci/run installs it)"
    );
}

/// Reads a child process's stderr lines in the background (for diagnostics).
pub fn drain_lines(
    reader: impl std::io::Read + Send + 'static,
    sink: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        }
    });
}
