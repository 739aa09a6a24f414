//! The SDK's HTTPS client trusting a compiled-in root store: nothing read from the sandbox's disk.

use aws_sdk_s3::config::{
    ConfigBag, RuntimeComponents, RuntimeComponentsBuilder, SharedHttpClient,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Width of the base64 lines in the PEM bundle (RFC 7468's).
const PEM_LINE: usize = 64;

/// The SDK's own hyper + rustls (aws-lc) client whose TLS trusts Mozilla's
/// root certificates as compiled into `webpki-root-certs` instead of the
/// platform's certificate files (reading `/etc/ssl/certs` file by file was
/// most of the function's init time).
///
/// Nothing of it is built until the first request: the SDK's default client
/// makes a connector as soon as an S3 client is made, so that a native store
/// loads at init; this one encodes and parses its roots when the first
/// request needs a connector, which cannot fail (a unit test parses them all)
/// and on which no configuration depends.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Deferred(OnceLock::new()))
}

/// The SDK's client with the compiled-in trust store (connector built eagerly
/// when an S3 client is made, like the SDK's default).
fn smithy_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context())
        .build_https()
}

/// A TLS context that trusts exactly the compiled-in roots.
fn tls_context() -> TlsContext {
    let trust_store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(root_bundle());
    // The builder only moves its fields into the context (smithy 1.5); should
    // it ever refuse, the default context (native roots) still connects.
    TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!("compiled-in root store refused, using the system's: {error}");
            TlsContext::default()
        })
}

/// Every root of `webpki_root_certs::TLS_SERVER_ROOT_CERTS` as one PEM
/// bundle (the form the SDK's trust store takes).
pub fn root_bundle() -> Vec<u8> {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
    let mut pem = String::with_capacity(roots.iter().map(|der| der.len() * 14 / 10 + 64).sum());
    for der in roots {
        let base64 = aws_smithy_types::base64::encode(der.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let mut rest = base64.as_str();
        while !rest.is_empty() {
            // Base64 is ASCII: every index is a character boundary.
            let (line, tail) = rest.split_at(rest.len().min(PEM_LINE));
            pem.push_str(line);
            pem.push('\n');
            rest = tail;
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// An HTTP client built at its first request instead of when an S3 client
/// is made; from then on the SDK's client with the compiled-in roots.
#[derive(Debug)]
struct Deferred(OnceLock<SharedHttpClient>);

impl Deferred {
    fn inner(&self) -> &SharedHttpClient {
        self.0.get_or_init(smithy_client)
    }
}

impl HttpClient for Deferred {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner().http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        // The SDK's client would build (and drop) a connector here only to
        // load certificates early; ours are compiled in.
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        // What the SDK's client reports (for the user agent), without building it.
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_bundle_holds_every_compiled_in_root_and_parses_back() {
        let bundle = root_bundle();
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bundle)
            .collect::<Result<_, _>>()
            .expect("the bundle is valid pem");
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(roots.len() > 100, "mozilla's store has ~150 roots");
        assert_eq!(parsed.len(), roots.len());
        assert!(
            parsed
                .iter()
                .zip(roots)
                .all(|(a, b)| a.as_ref() == b.as_ref())
        );
    }

    #[test]
    fn the_sdk_accepts_every_root() {
        // The eager client builds its connector here, turning each PEM
        // certificate into a trust anchor; the SDK panics on one it cannot.
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .http_client(smithy_client())
            .build();
        let _client = aws_sdk_s3::Client::from_conf(config);
    }

    #[tokio::test]
    async fn the_deferred_client_connects_at_the_first_request() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("a connection");
            let mut request = vec![0; 4096];
            let read = socket.read(&mut request).await.expect("a request");
            let body = "<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket
                .write_all(response.as_bytes())
                .await
                .expect("a response");
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .http_client(client())
            .build();
        let listed = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            aws_sdk_s3::Client::from_conf(config).list_buckets().send(),
        )
        .await
        .expect("the request completes in time");
        let request = server.await.expect("the server task");
        assert!(request.starts_with("GET /"), "{request}");
        assert!(listed.is_ok(), "{listed:?}");
    }
}
