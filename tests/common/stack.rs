//! The setup most tests share: a source and a destination bucket on the test
//! server, and a fault proxy in front of it with a client through it.

use super::function::{self, Function};
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use s3_stream_lambda::copy::{Destination, SourceSpec};
use s3_stream_testkit::fault_proxy::{FaultProxy, S3Op};
use std::time::Duration;

/// Two buckets of one test, and a fault proxy in front of their server.
pub struct Stack {
    /// A client straight to the test server (for setting up and checking).
    pub client: Client,
    /// The source bucket: `TEST-src-…`.
    pub source: String,
    /// The destination bucket: `TEST-dst-…`.
    pub destination: String,
    /// A fault proxy in front of the test server; it logs every request.
    pub proxy: FaultProxy,
    /// A client through [`Stack::proxy`] (what the code under test uses).
    pub proxied: Client,
}

impl Stack {
    /// Creates `test`'s buckets and starts its fault proxy.
    pub async fn new(test: &str) -> Stack {
        let client = super::client().await;
        let source = super::create_bucket(&client, &format!("{test}-src")).await;
        let destination = super::create_bucket(&client, &format!("{test}-dst")).await;
        let proxy = FaultProxy::start_url(super::endpoint())
            .await
            .expect("start the fault proxy");
        let proxied = super::client_for(&proxy.endpoint()).await;
        Stack {
            client,
            source,
            destination,
            proxy,
            proxied,
        }
    }

    /// Puts `data` at `key` in the source bucket; returns its ETag, unquoted.
    pub async fn put(&self, key: &str, data: Vec<u8>) -> String {
        super::put(&self.client, &self.source, key, data)
            .await
            .trim_matches('"')
            .to_owned()
    }

    /// A PutObject of `key` in the source bucket, for a test to add headers
    /// and a body to; send it with [`super::send_put`].
    pub fn put_request(&self, key: &str) -> PutObjectFluentBuilder {
        self.client.put_object().bucket(&self.source).key(key)
    }

    /// The destination object `key`, whole.
    pub async fn get(&self, key: &str) -> Vec<u8> {
        super::get(&self.client, &self.destination, key).await
    }

    /// The destination object `key`'s `HeadObject`.
    pub async fn head(&self, key: &str) -> HeadObjectOutput {
        super::head(&self.client, &self.destination, key).await
    }

    /// Incomplete multipart uploads in the destination bucket.
    pub async fn open_uploads(&self) -> usize {
        super::incomplete_uploads(&self.client, &self.destination).await
    }

    /// Objects in the destination bucket.
    pub async fn objects(&self) -> usize {
        super::object_count(&self.client, &self.destination).await
    }

    /// Requests of `op` the proxy has seen.
    pub fn ops(&self, op: S3Op) -> usize {
        self.proxy.log().iter().filter(|e| e.op == op).count()
    }

    /// Waits until the proxy has seen `count` requests of `op`; fails the
    /// test after `patience`.
    pub async fn wait_for(&self, op: S3Op, count: usize, patience: Duration) {
        let seen = tokio::time::timeout(patience, async {
            while self.ops(op) < count {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            seen.is_ok(),
            "{count} {op:?} did not reach the proxy within {patience:?}"
        );
    }

    /// Waits until the destination bucket has no incomplete upload; fails
    /// the test after `patience`.
    pub async fn wait_for_no_open_uploads(&self, patience: Duration) {
        let closed = tokio::time::timeout(patience, async {
            while self.open_uploads().await > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "multipart uploads still open after {patience:?}: {:#?}",
            self.proxy.log()
        );
    }

    /// The source object `key` at `etag` (quoted or not).
    pub fn source_spec(&self, key: &str, etag: &str) -> SourceSpec {
        SourceSpec {
            bucket: self.source.clone(),
            key: key.to_owned(),
            etag: Some(etag.trim_matches('"').to_owned()),
            ..SourceSpec::default()
        }
    }

    /// The destination object `key`.
    pub fn destination_object(&self, key: &str) -> Destination {
        Destination {
            bucket: self.destination.clone(),
            key: key.to_owned(),
        }
    }

    /// `bootstrap` with `env`, sending every S3 request through the proxy.
    pub async fn start_function_through_proxy(&self, env: &[(&str, &str)]) -> Function {
        let endpoint = self.proxy.endpoint();
        let mut all = env.to_vec();
        all.push(("AWS_ENDPOINT_URL_S3", &endpoint));
        function::start(&all).await
    }
}
