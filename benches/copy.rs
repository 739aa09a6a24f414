//! Copy benches against a local S3-compatible server (`S3_TEST_ENDPOINT`, or
//! a moto_server started here): this engine against the pipelining limit, the
//! transfer manager and the original download-then-upload, plus peak memory.
//!
//! Each strategy runs in a process of its own (`examples/copy_strategies.rs`),
//! so wall time and peak RSS are measured the same way for all of them.

use aws_sdk_s3::Client;
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

const MIB: u64 = 1024 * 1024;

/// Part size of every strategy: the product's default.
const PART_SIZE: u64 = 8 * MIB;

/// Parts (and ranged reads) in flight for every strategy: the transfer
/// manager comparison in the issue was measured at 4 × 8 MiB.
const CONCURRENCY: usize = 4;

/// The compared object: 1 GiB (16 MiB in a smoke test).
fn compared_size() -> u64 {
    if support::smoke_test() {
        16 * MIB
    } else {
        1024 * MIB
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    client: Client,
    source: String,
    destination: String,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        let (client, source, destination) = rt.block_on(async {
            let client = common::client().await;
            let source = common::create_bucket(&client, "bench-src").await;
            let destination = common::create_bucket(&client, "bench-dst").await;
            (client, source, destination)
        });
        Fixture {
            rt,
            client,
            source,
            destination,
        }
    }

    fn object(&self, key: &str, size: u64) {
        self.rt.block_on(async {
            s3_stream_testkit::sample::upload_sample(&self.client, &self.source, key, size)
                .await
                .expect("sample upload");
        });
    }

    fn destination_size(&self, key: &str) -> u64 {
        let head = self
            .rt
            .block_on(common::head(&self.client, &self.destination, key));
        head.content_length().unwrap_or(0) as u64
    }
}

fn s3_command(program: &PathBuf) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in common::s3_env() {
        command.env(key, value);
    }
    command
}

/// Measures the wall time of copying a 1 GiB object (8 MiB parts, 4 in
/// flight) with each strategy, and reports each one's peak RSS and its median
/// time as a ratio to `stream`: `stream` is this engine; `limit` is a
/// GET-only download running at the same time as an upload-only of as many
/// bytes from memory, completed once the download has ended as a copy's must
/// be (the best any pipelined copy can do here); `limit_overlapped` is the
/// same but completes as soon as its own parts are in, overlapping the
/// server's completion work with the download, which no copy can do;
/// `transfer_manager` is aws-sdk-s3-transfer-manager's download piped into
/// its upload; `original` is GetObject to a file, then the multipart upload
/// of the file; `server` is this engine's server-side copy at its defaults
/// (S3 copies the bytes; its loopback traffic is reported, and in a full run
/// asserted below 64 MiB, the function moving no object bytes). Asserts
/// every destination has every byte.
fn strategies(c: &mut Criterion) {
    let fixture = Fixture::new();
    let size = compared_size();
    fixture.object("compared.bin", size);
    let worker = support::release_examples("bench", &["copy_strategies"]).remove(0);
    let mut group = c.benchmark_group(if support::smoke_test() {
        "copy/16MiB"
    } else {
        "copy/1GiB"
    });
    group
        .sample_size(10)
        .throughput(criterion::Throughput::Bytes(size));
    group.measurement_time(Duration::from_secs(1));
    let mut measured = Vec::new();
    for strategy in [
        "stream",
        "server",
        "limit",
        "limit_overlapped",
        "transfer_manager",
        "original",
    ] {
        let key = format!("compared-{strategy}.bin");
        let mut rss = Vec::new();
        let mut times = Vec::new();
        let mut loopback = Vec::new();
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let before = support::loopback_bytes();
                        let run = support::run_measured(s3_command(&worker).args([
                            strategy,
                            &fixture.source,
                            "compared.bin",
                            &fixture.destination,
                            &key,
                            &PART_SIZE.to_string(),
                            &CONCURRENCY.to_string(),
                        ]));
                        assert_eq!(
                            run.stdout.trim(),
                            size.to_string(),
                            "{strategy} moved every byte"
                        );
                        loopback.push(support::loopback_bytes().saturating_sub(before));
                        rss.push(run.peak_rss);
                        times.push(run.elapsed.as_millis() as u64);
                        run.elapsed
                    })
                    .sum()
            })
        });
        if times.is_empty() {
            // Filtered out on the command line.
            continue;
        }
        assert_eq!(
            fixture.destination_size(&key),
            size,
            "{strategy} wrote every byte"
        );
        measured.push((
            strategy,
            support::median(&mut times),
            support::median(&mut rss),
            support::median(&mut loopback),
        ));
    }
    group.finish();
    let stream_ms = measured
        .iter()
        .find(|(strategy, ..)| *strategy == "stream")
        .map_or(1, |m| m.1.max(1)) as f64;
    for (strategy, ms, rss, loopback) in measured {
        println!(
            "copy/{}MiB/{strategy}: median {:.2} s ({:.2}× stream's time), peak RSS {:.1} MiB, loopback traffic {:.1} MiB",
            size / MIB,
            ms as f64 / 1000.0,
            ms as f64 / stream_ms,
            rss as f64 / MIB as f64,
            loopback as f64 / MIB as f64
        );
        if strategy == "server" && !support::smoke_test() {
            assert!(
                loopback < 64 * MIB,
                "a server-side copy moved {loopback} bytes over loopback"
            );
        }
    }
}

/// Measures the peak RSS (and time) of `bootstrap copy` of a 256 MiB and a
/// 2 GiB object at the defaults of a 512 MB function; asserts the copy is
/// complete and, in a full run, that both stay within 64 MiB and within 10 %
/// of each other.
fn memory(c: &mut Criterion) {
    let fixture = Fixture::new();
    let sizes: [(&str, u64); 2] = if support::smoke_test() {
        [("8MiB", 8 * MIB), ("24MiB", 24 * MIB)]
    } else {
        [("256MiB", 256 * MIB), ("2GiB", 2048 * MIB)]
    };
    let bootstrap = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
    let mut group = c.benchmark_group("copy/rss");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1));
    let mut peaks = Vec::new();
    for (name, size) in sizes {
        let key = format!("rss-{name}.bin");
        fixture.object(&key, size);
        let mut rss = Vec::new();
        group.throughput(criterion::Throughput::Bytes(size));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let source = format!("s3://{}/{key}", fixture.source);
                        let destination = format!("s3://{}/{key}", fixture.destination);
                        let run = support::run_measured(
                            s3_command(&bootstrap)
                                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
                                // The streaming path's memory is what this measures.
                                .env("COPY_MODE", "stream")
                                .args(["copy", &source, &destination]),
                        );
                        let report: serde_json::Value =
                            serde_json::from_str(&run.stdout).expect("report json");
                        assert_eq!(report["bytesWritten"], size, "every byte copied");
                        rss.push(run.peak_rss);
                        run.elapsed
                    })
                    .sum()
            })
        });
        if rss.is_empty() {
            // Filtered out on the command line.
            continue;
        }
        let peak = support::median(&mut rss);
        println!(
            "copy/rss/{name}: median peak RSS {:.1} MiB",
            peak as f64 / MIB as f64
        );
        peaks.push(peak);
    }
    group.finish();
    if !support::smoke_test() && peaks.len() == 2 {
        let (small, large) = (peaks[0] as f64, peaks[1] as f64);
        assert!(
            large <= 64.0 * MIB as f64,
            "2 GiB copy peaked at {:.1} MiB",
            large / MIB as f64
        );
        assert!(
            (large - small).abs() / small <= 0.10,
            "peaks differ by more than 10 %"
        );
    }
}

criterion_group!(benches, strategies, memory);
criterion_main!(benches);
