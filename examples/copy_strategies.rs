//! The copy strategies the `copy/*` benches compare, one per process so each
//! one's wall time and peak RSS are measured the same way.
//!
//! `copy_strategies STRATEGY SRC_BUCKET SRC_KEY DST_BUCKET DST_KEY PART_SIZE CONCURRENCY`
//! with the S3 endpoint in the usual AWS environment. Strategies:
//! `stream` (this crate, streaming), `server` (this crate, server-side at
//! its defaults: S3 copies the bytes), `limit` (GET-only and upload-only at once, the
//! upload completed after the download ends), `limit_overlapped` (the same,
//! completed as soon as its parts are in), `transfer_manager` (its download
//! piped into its upload) and `original` (GetObject to a file, then a
//! multipart upload of the file); and the two halves of `limit` alone, as
//! references for a network model: `get_only` (the ranged GETs, bodies
//! dropped) and `put_only` (the upload of as many bytes from memory).

use aws_sdk_s3::Client;
use aws_sdk_s3_transfer_manager::io::adapters::TokioIo;
use aws_sdk_s3_transfer_manager::io::{InputStream, SizeHint};
use aws_sdk_s3_transfer_manager::types::{ConcurrencyMode, PartSize};
use bytes::Bytes;
use futures_util::StreamExt;
use s3_stream_lambda::copy::upload::MultipartUpload;
use s3_stream_lambda::copy::upload::condition::WriteCondition;
use s3_stream_lambda::copy::{
    CopyMode, CopyProgress, CopySettings, Destination, ObjectMetadata, Part, SourceSpec,
    UploadOptions, copy_object,
};
use s3_stream_lambda::transform::Identity;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Job {
    client: Client,
    source_bucket: String,
    source_key: String,
    destination: Destination,
    part_size: u64,
    concurrency: usize,
}

async fn object_size(job: &Job) -> Result<u64, BoxError> {
    let head = job
        .client
        .head_object()
        .bucket(&job.source_bucket)
        .key(&job.source_key)
        .send()
        .await?;
    Ok(head.content_length().unwrap_or(0) as u64)
}

async fn engine(job: &Job, mode: CopyMode) -> Result<u64, BoxError> {
    let settings = CopySettings {
        part_size: job.part_size,
        upload_concurrency: job.concurrency,
        read_ahead: job.concurrency,
        mode,
        ..CopySettings::default()
    };
    let source = SourceSpec {
        bucket: job.source_bucket.clone(),
        key: job.source_key.clone(),
        ..SourceSpec::default()
    };
    let progress = CopyProgress::default();
    let cancel = CancellationToken::new();
    let report = copy_object(
        &job.client,
        source,
        &job.destination,
        Box::new(Identity),
        &settings,
        &cancel,
        &progress,
    )
    .await?;
    Ok(report.bytes_written)
}

/// Ranged GETs of the whole object, `concurrency` at a time, bodies dropped.
async fn download_to_nowhere(job: &Job, size: u64) -> Result<u64, BoxError> {
    let ranges: Vec<(u64, u64)> = (0..size.div_ceil(job.part_size))
        .map(|i| (i * job.part_size, ((i + 1) * job.part_size).min(size) - 1))
        .collect();
    let mut reads = futures_util::stream::iter(ranges)
        .map(|(start, end)| {
            let get = job
                .client
                .get_object()
                .bucket(&job.source_bucket)
                .key(&job.source_key)
                .range(format!("bytes={start}-{end}"));
            tokio::spawn(async move {
                let mut body = get.send().await?.body;
                let mut read = 0u64;
                while let Some(chunk) = body.try_next().await? {
                    read += chunk.len() as u64;
                }
                Ok::<u64, BoxError>(read)
            })
        })
        .buffer_unordered(job.concurrency);
    let mut total = 0;
    while let Some(read) = reads.next().await {
        total += read??;
    }
    Ok(total)
}

/// Uploads the parts of a multipart upload of `size` bytes from one
/// in-memory part, `concurrency` at a time, and waits for them all; the
/// caller completes it.
async fn upload_parts_from_memory(
    job: &Job,
    size: u64,
    uploaded: &Arc<AtomicU64>,
) -> Result<MultipartUpload, BoxError> {
    let mut upload = MultipartUpload::create(
        &job.client,
        &job.destination,
        &ObjectMetadata::default(),
        &UploadOptions::default(),
        Arc::clone(uploaded),
        &CancellationToken::new(),
    )
    .await?;
    let block = Bytes::from(vec![0x5a; job.part_size as usize]);
    let permits = Arc::new(Semaphore::new(job.concurrency));
    for number in 1..=size.div_ceil(job.part_size) {
        let len = job.part_size.min(size - (number - 1) * job.part_size) as usize;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        upload.spawn_part(
            Part {
                number,
                data: block.slice(..len),
            },
            permit,
        );
        upload.collect_finished()?;
    }
    // Every permit back means every part is in.
    let _all = permits.acquire_many(job.concurrency as u32).await?;
    upload.collect_finished()?;
    Ok(upload)
}

/// Completes `upload` unconditionally, unchecked (the references have no
/// source checksum to compare).
async fn complete(upload: MultipartUpload) -> Result<(), BoxError> {
    upload
        .complete(
            &CancellationToken::new(),
            |_| Ok(()),
            None,
            WriteCondition::Unconditional,
        )
        .await?;
    Ok(())
}

/// The GET-only download at the same time as the upload-only of as many
/// bytes from memory. With `complete_after_download` the upload is completed
/// once the download has ended, as a copy must (it cannot complete before
/// its last byte is read); otherwise as soon as its own parts are in.
async fn limit(job: &Job, complete_after_download: bool) -> Result<u64, BoxError> {
    let size = object_size(job).await?;
    let uploaded = Arc::new(AtomicU64::new(0));
    let upload_only = async {
        let upload = upload_parts_from_memory(job, size, &uploaded).await?;
        if complete_after_download {
            return Ok::<_, BoxError>(Some(upload));
        }
        complete(upload).await?;
        Ok(None)
    };
    let (read, upload) = tokio::join!(download_to_nowhere(job, size), upload_only);
    assert_eq!(read?, size);
    if let Some(upload) = upload? {
        complete(upload).await?;
    }
    Ok(uploaded.load(Ordering::Relaxed))
}

fn transfer_manager(job: &Job) -> aws_sdk_s3_transfer_manager::Client {
    let s3 = job.client.config().to_builder();
    let config = aws_sdk_s3_transfer_manager::Config::builder()
        .s3_config(aws_sdk_s3_transfer_manager::S3ClientConfig::new(s3))
        .concurrency(ConcurrencyMode::Explicit(job.concurrency))
        .part_size(PartSize::Target(job.part_size))
        .build();
    aws_sdk_s3_transfer_manager::Client::new(config)
}

async fn transfer_manager_pipe(job: &Job) -> Result<u64, BoxError> {
    let size = object_size(job).await?;
    let tm = transfer_manager(job);
    let mut download = tm
        .download()
        .bucket(&job.source_bucket)
        .key(&job.source_key)
        .initiate()?;
    let (reader, mut writer) = tokio::io::simplex(job.part_size as usize);
    let body = InputStream::from_part_stream(TokioIo::new(reader, SizeHint::exact(size)));
    let upload = tm
        .upload()
        .bucket(&job.destination.bucket)
        .key(&job.destination.key)
        .body(body)
        .initiate()?;
    let pump = async {
        while let Some(chunk) = download.body_mut().next().await {
            for segment in chunk?.data.into_segments() {
                writer.write_all(&segment).await?;
            }
        }
        writer.shutdown().await?;
        Ok::<(), BoxError>(())
    };
    pump.await?;
    download.join().await?;
    upload.join().await?;
    Ok(size)
}

async fn original(job: &Job) -> Result<u64, BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("object");
    let mut file = tokio::fs::File::create(&path).await?;
    let mut body = job
        .client
        .get_object()
        .bucket(&job.source_bucket)
        .key(&job.source_key)
        .send()
        .await?
        .body;
    let mut size = 0u64;
    while let Some(chunk) = body.try_next().await? {
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    drop(file);
    let tm = transfer_manager(job);
    let upload = tm
        .upload()
        .bucket(&job.destination.bucket)
        .key(&job.destination.key)
        .body(InputStream::from_path(&path)?)
        .initiate()?;
    upload.join().await?;
    Ok(size)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // As `bootstrap` does, so `stream` is measured as it ships.
    s3_stream_lambda::allocator::return_large_buffers_to_the_os();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        strategy,
        source_bucket,
        source_key,
        bucket,
        key,
        part_size,
        concurrency,
    ] = args.as_slice()
    else {
        return Err("usage: copy_strategies STRATEGY SRC_BUCKET SRC_KEY DST_BUCKET DST_KEY PART_SIZE CONCURRENCY".into());
    };
    let job = Job {
        client: s3_stream_lambda::s3::client_from_env().await,
        source_bucket: source_bucket.clone(),
        source_key: source_key.clone(),
        destination: Destination {
            bucket: bucket.clone(),
            key: key.clone(),
        },
        part_size: part_size.parse()?,
        concurrency: concurrency.parse()?,
    };
    let moved = match strategy.as_str() {
        "stream" => engine(&job, CopyMode::Stream).await?,
        "server" => engine(&job, CopyMode::Server).await?,
        "limit" => limit(&job, true).await?,
        "limit_overlapped" => limit(&job, false).await?,
        "transfer_manager" => transfer_manager_pipe(&job).await?,
        "original" => original(&job).await?,
        "get_only" => {
            let size = object_size(&job).await?;
            download_to_nowhere(&job, size).await?
        }
        "put_only" => {
            let size = object_size(&job).await?;
            let uploaded = Arc::new(AtomicU64::new(0));
            complete(upload_parts_from_memory(&job, size, &uploaded).await?).await?;
            uploaded.load(Ordering::Relaxed)
        }
        other => return Err(format!("unknown strategy {other}").into()),
    };
    println!("{moved}");
    Ok(())
}
