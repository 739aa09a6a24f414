//! A synthetic S3 on loopback for scale tests: objects are generated from their offset
//! and uploads are checked, checksummed and discarded.
//!
//! A 200 GiB object costs no memory or disk: its bytes are a function of
//! `(seed, offset)` (see [`generated_bytes`]), served in frames from a reused buffer.
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
pub use generate::generated_bytes;
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
    /// `spec.crc64nvme` this makes one pass over its bytes on the calling thread.
    pub fn add_generated(&self, spec: GeneratedObject) -> StoredObject {
        let crc = spec
            .crc64nvme
            .then(|| generate::crc64nvme(spec.seed, spec.size));
        let object = StoredObject {
            etag: generate::etag(spec.seed, spec.size),
            bucket: spec.bucket,
            key: spec.key,
            len: spec.size,
            crc64nvme: crc,
            checksum_type: crc.map(|_| ChecksumType::FullObject),
            checksum: None,
            bytes: None,
            generated_seed: Some(spec.seed),
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
