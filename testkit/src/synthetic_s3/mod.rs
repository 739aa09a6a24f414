//! A synthetic S3 on loopback for scale tests: objects are generated from their offset
//! and uploads are checked, checksummed and discarded.
//!
//! A 200 GiB object costs no memory or disk: its bytes are a function of
//! `(seed, offset)` (see [`generated_bytes`]), served in frames from a reused buffer.
//! A periodic one (see [`GeneratedObject::with_period`]) repeats its first period, so
//! even a 2 TiB object's CRC64NVME, and each UploadPartCopy range's, costs one period.
//! Uploads (`PutObject`, multipart) are checked against S3's rules (sizes, part order,
//! ETags, checksums, conditional writes), their CRC64NVME computed as they stream, and
//! then only length, checksums, ETag, headers and — up to [`KEEP_BYTES_LIMIT`] — the
//! bytes are kept. A GET of a larger uploaded object answers 501 NotImplemented, since
//! its bytes are gone; HEAD and [`SyntheticS3::object`] still describe it.
//!
//! Requests are path-style (`/{bucket}/{key}`); authentication and signatures are
//! ignored; SHA checksums are stored unverified; `Content-MD5`, `If-Modified-Since` and
//! `If-Unmodified-Since` are ignored. Unknown operations answer 501 NotImplemented.

mod body;
mod checksum;
mod chunked;
mod config;
mod error;
mod generate;
mod object;
mod ops;
mod pacing;
mod request;
mod response;
mod stats;
mod store;
mod time;
mod upload;
mod xml;

pub use checksum::{ChecksumAlgorithm, ChecksumType, crc64nvme, crc64nvme_base64};
pub use chunked::{ChunkedDecoder, ChunkedError};
pub use config::{
    KEEP_BYTES_LIMIT, MAX_OBJECT_BYTES, MAX_PART_NUMBER, MAX_UPLOAD_BYTES, MIN_PART_BYTES,
    SERVE_CHUNK_BYTES, SyntheticS3Config,
};
pub use error::{S3Error, StartError};
pub use generate::{generated_bytes, generated_bytes_periodic, generated_crc64nvme};
pub use object::{GeneratedObject, ObjectHeaders, StoredObject};
pub use stats::{Operation, Stats};

use hyper_util::rt::TokioIo;
use ops::Shared;
use pacing::Pacer;
use stats::Counters;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};
use store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop retries
/// without spinning a core.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(10);

/// A running synthetic S3; stops serving when dropped.
#[derive(Debug)]
pub struct SyntheticS3 {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl SyntheticS3 {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(config: SyntheticS3Config) -> Result<SyntheticS3, StartError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(StartError::Bind)?;
        Ok(SyntheticS3::start_on(listener, config))
    }

    /// Serves on `listener`, whose address the caller chose (e.g. inside a network
    /// namespace). Must be called within a tokio runtime.
    pub fn start_on(listener: TcpListener, config: SyntheticS3Config) -> SyntheticS3 {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let shared = Arc::new(Shared {
            store: Store::new(config.versioning),
            config,
            counters: Arc::new(Counters::default()),
            request_ids: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop.clone()));
        SyntheticS3 { addr, shared, stop }
    }

    /// Serves on a standard-library listener. Must be called within a tokio runtime.
    pub fn start_on_std(
        listener: std::net::TcpListener,
        config: SyntheticS3Config,
    ) -> Result<SyntheticS3, StartError> {
        listener.set_nonblocking(true).map_err(StartError::Adopt)?;
        let listener = TcpListener::from_std(listener).map_err(StartError::Adopt)?;
        Ok(SyntheticS3::start_on(listener, config))
    }

    /// `http://host:port`, the SDK's endpoint URL (use path-style addressing).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force.
    pub fn config(&self) -> &SyntheticS3Config {
        &self.shared.config
    }

    /// Creates `bucket`; false if it existed.
    pub fn create_bucket(&self, bucket: &str) -> bool {
        self.shared.store.create_bucket(bucket)
    }

    /// Adds (or replaces) a generated `size`-byte object, creating the bucket if
    /// needed; its CRC64NVME is not computed (see [`SyntheticS3::add_generated`]).
    pub fn add_generated_object(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        seed: u64,
    ) -> StoredObject {
        self.add_generated(GeneratedObject::new(bucket, key, size, seed))
    }

    /// Adds (or replaces) a generated object as `spec` describes; with
    /// `spec.crc64nvme` this hashes its bytes on the calling thread (all of them, or
    /// one period of a periodic object).
    pub fn add_generated(&self, spec: GeneratedObject) -> StoredObject {
        let period = spec.period.filter(|period| *period > 0);
        let crc = spec
            .crc64nvme
            .then(|| generate::generated_crc64nvme(spec.seed, period, 0, spec.size));
        let etag = match period {
            None => generate::etag(spec.seed, spec.size),
            // Differs from the non-periodic object's, whose bytes differ.
            Some(period) => generate::hash_etag([spec.seed, spec.size, period], None),
        };
        let object = StoredObject {
            etag,
            bucket: spec.bucket,
            key: spec.key,
            len: spec.size,
            crc64nvme: crc,
            checksum_type: crc.map(|_| ChecksumType::FullObject),
            checksum: None,
            bytes: None,
            generated_seed: Some(spec.seed),
            generated_period: period,
            headers: spec.headers,
            version_id: None,
            last_modified: SystemTime::now(),
            part_lengths: Vec::new(),
        };
        StoredObject::clone(&self.shared.store.insert(object))
    }

    /// What is kept of `bucket`/`key`, if it exists.
    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        let object = self.shared.store.object(bucket, key).ok()?;
        Some(StoredObject::clone(&object))
    }

    /// Deletes `bucket`/`key`; false if the bucket does not exist.
    pub fn delete_object(&self, bucket: &str, key: &str) -> bool {
        self.shared.store.delete(bucket, key).is_ok()
    }

    /// The keys of `bucket` under `prefix`, in key order (none for a missing bucket).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.shared
            .store
            .objects(bucket, prefix, "", usize::MAX)
            .map(|page| page.objects.iter().map(|o| o.key.clone()).collect())
            .unwrap_or_default()
    }

    /// How many multipart uploads are open in `bucket`.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        self.shared.store.open_uploads(bucket)
    }

    /// Requests per operation and bytes moved so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Stops serving: the listener closes and open connections are dropped.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

impl Drop for SyntheticS3 {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "synthetic s3 failed to accept a connection");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "synthetic s3 could not set tcp_nodelay");
        }
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        tokio::spawn(async move {
            let pacer = Arc::new(Pacer::new(shared.config.per_connection_rate));
            let service = hyper::service::service_fn(move |request| {
                ops::handle(Arc::clone(&shared), Arc::clone(&pacer), request)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = stop.cancelled() => {}
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "synthetic s3 connection ended with an error");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A period that is not a multiple of the generator's 8-byte word.
    const PERIOD: u64 = 1000;

    /// Sends one bodiless HTTP/1.1 request on a fresh connection; answers the status
    /// line and headers as text, and the body.
    async fn send(
        s3: &SyntheticS3,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(s3.local_addr()).await.expect("connects");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: 0\r\n",
            s3.local_addr()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("sends the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("reads the response");
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("the head ends");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        (head, response[split + 4..].to_vec())
    }

    /// The text of the first `<name>` element of `xml`.
    fn element<'a>(xml: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}>");
        let start = xml.find(&open).expect("element present") + open.len();
        let len = xml[start..].find('<').expect("element closes");
        &xml[start..start + len]
    }

    #[tokio::test]
    async fn get_range_wraps_across_period_boundaries() {
        let s3 = SyntheticS3::start(SyntheticS3Config::default())
            .await
            .expect("server starts");
        let stored = s3.add_generated(
            GeneratedObject::new("b", "p", 10_000, 42)
                .with_period(PERIOD)
                .with_crc64nvme(true),
        );
        let one = generated_bytes(42, 0, PERIOD as usize);
        let whole: Vec<u8> = (0..10_000).map(|o| one[o % PERIOD as usize]).collect();
        assert_eq!(stored.crc64nvme, Some(crc64nvme(&whole)));
        assert_ne!(stored.etag, generate::etag(42, 10_000));

        let (head, body) = send(&s3, "GET", "/b/p", &[("range", "bytes=990-3014")]).await;
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert_eq!(body, whole[990..=3014]);
        let (head, body) = send(&s3, "GET", "/b/p", &[]).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, whole);
    }

    #[tokio::test]
    async fn part_copy_of_a_periodic_object_waits_and_checksums_its_range() {
        let delay = Duration::from_millis(300);
        let s3 = SyntheticS3::start(SyntheticS3Config::default().with_part_copy_delay(delay))
            .await
            .expect("server starts");
        let size = 2 << 40;
        let period = 1024 * 1024 + 3;
        let stored = s3.add_generated(
            GeneratedObject::new("b", "big", size, 7)
                .with_period(period)
                .with_crc64nvme(true),
        );
        assert_eq!(
            stored.crc64nvme,
            Some(generated_crc64nvme(7, Some(period), 0, size))
        );
        let (_, body) = send(
            &s3,
            "POST",
            "/b/copy?uploads",
            &[("x-amz-checksum-algorithm", "CRC64NVME")],
        )
        .await;
        let xml = String::from_utf8_lossy(&body).into_owned();
        let upload_id = element(&xml, "UploadId").to_owned();

        // A small range spanning several periods, checked against hashing its bytes.
        let start = (1 << 40) + 12_345;
        let len = 3 * period + 77;
        let range = format!("bytes={start}-{}", start + len - 1);
        let began = std::time::Instant::now();
        let (head, body) = send(
            &s3,
            "PUT",
            &format!("/b/copy?partNumber=1&uploadId={upload_id}"),
            &[
                ("x-amz-copy-source", "b/big"),
                ("x-amz-copy-source-range", &range),
            ],
        )
        .await;
        assert!(began.elapsed() >= delay, "answered before the delay");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let bytes = generated_bytes_periodic(7, Some(period), start, len as usize);
        let xml = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            element(&xml, "ChecksumCRC64NVME"),
            crc64nvme_base64(crc64nvme(&bytes))
        );

        // A 5 GiB part answers about as fast as the small one.
        let range = format!("bytes={start}-{}", start + (5 << 30) - 1);
        let (head, _) = send(
            &s3,
            "PUT",
            &format!("/b/copy?partNumber=2&uploadId={upload_id}"),
            &[
                ("x-amz-copy-source", "b/big"),
                ("x-amz-copy-source-range", &range),
            ],
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(s3.stats().requests_of(Operation::UploadPartCopy), 2);
    }
}
