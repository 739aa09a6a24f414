//! Scale benches: `bootstrap copy` of 200 GiB and 48.8 TiB objects that the test kit's synthetic S3 generates, at 512 MB, identity and gzip.
//!
//! The synthetic S3 runs in this process (objects generated from their
//! offset, uploads checked against S3's rules, checksummed and discarded), so
//! the copy runs at loopback speed without disk. The bench runs the copy for a
//! bounded time, samples the child's RSS continuously, then stops it.

use criterion::{Criterion, criterion_group, criterion_main};
use s3_stream_testkit::local_s3;
use s3_stream_testkit::synthetic_s3::{Operation, SyntheticS3, SyntheticS3Config};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

const MIB: u64 = 1024 * 1024;

/// The virtual object: 200 GiB, so parts grow to 21 MiB (10,000 parts).
const VIRTUAL_SIZE: u64 = 200 * 1024 * MIB;

/// The largest object S3 stores: 48.8 TiB, 10,000 parts of 5 GiB. A piped
/// identity copy holds none of its parts, so its memory is the 200 GiB copy's.
const LARGEST_SIZE: u64 = 10_000 * 5 * 1024 * MIB;

/// Function memory: 512 MB, a 64 MiB buffer budget (one eighth).
const MEMORY_MIB: u64 = 512;

/// The budget the peak RSS may grow by over the idle process.
const BUDGET: u64 = MEMORY_MIB * MIB / 8;

/// How often the child's RSS is read.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(20);

/// How long each copy runs: 20 s moves about a thousand 21 MiB parts at
/// loopback speed (ten runs make a criterion sample); a smoke test only
/// proves the pipeline reaches steady state.
fn run_time() -> Duration {
    if support::smoke_test() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(20)
    }
}

/// The child's current resident set size, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn copy_command(endpoint: &str, key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MIB.to_string())
        // The streaming path's memory law is what this measures.
        .env("COPY_MODE", "stream")
        .args([
            "copy",
            &format!("s3://source/{key}"),
            &format!("s3://destination/{key}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in local_s3::child_env(endpoint) {
        command.env(name, value);
    }
    command
}

/// Peak RSS of `child` sampled until it exits or `limit` passes (then it is killed).
fn sample_peak(child: Child, limit: Duration) -> (u64, Duration) {
    sample_peak_until(child, limit, || false)
}

/// Peak RSS of `child` sampled until it exits, `limit` passes or `done`
/// says so (then it is killed).
fn sample_peak_until(
    mut child: Child,
    limit: Duration,
    done: impl Fn() -> bool,
) -> (u64, Duration) {
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < limit && !done() {
        if let Ok(Some(_)) = child.try_wait() {
            return (peak, started.elapsed());
        }
        peak = peak.max(rss(child.id()).unwrap_or(0));
        std::thread::sleep(SAMPLE_INTERVAL);
    }
    let _ = child.kill();
    let _ = child.wait();
    (peak, started.elapsed())
}

/// A synthetic S3 with `source/virtual.bin` (200 GiB, generated),
/// `source/gzip-input.bin` and `source/tiny.bin` (1 KiB, the idle process's copy).
async fn virtual_source() -> SyntheticS3 {
    let s3 = SyntheticS3::start(SyntheticS3Config::default())
        .await
        .expect("synthetic s3 starts");
    s3.create_bucket("source");
    s3.create_bucket("destination");
    s3.add_generated_object("source", "virtual.bin", VIRTUAL_SIZE, 7);
    s3.add_generated_object("source", "gzip-input.bin", GZIP_INPUT_SIZE, 9);
    s3.add_generated_object("source", "largest.bin", LARGEST_SIZE, 10);
    s3.add_generated_object("source", "tiny.bin", 1024, 8);
    s3
}

/// Measures the peak RSS of `bootstrap copy` of a virtual 200 GiB object at
/// 512 MB defaults (21 MiB parts), sampled every 20 ms for a bounded run,
/// against the peak of the same command copying a 1 KiB object (the idle
/// process); asserts the copy made progress and its peak stays within idle +
/// the 64 MiB budget.
fn virtual_200gib(c: &mut Criterion) {
    virtual_identity(c, "virtual-200GiB", "virtual.bin");
}

/// Measures the same for the largest object S3 stores (48.8 TiB, 5 GiB
/// parts, each streamed from its GET into its upload): the peak must not
/// grow with the part size, so it stays within idle + the 64 MiB budget too.
fn virtual_largest(c: &mut Criterion) {
    virtual_identity(c, "virtual-48.8TiB", "largest.bin");
}

/// The bounded, RSS-sampled identity copy of `key` as `copy/rss/<name>`.
fn virtual_identity(c: &mut Criterion, name: &str, key: &str) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let s3 = rt.block_on(virtual_source());
    let endpoint = s3.endpoint();
    let idle = support::run_measured(&mut copy_command(&endpoint, "tiny.bin")).peak_rss;
    let mut group = c.benchmark_group("copy/rss");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1));
    let mut peaks = Vec::new();
    let mut rates = Vec::new();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let received = s3.stats().bytes_received;
                    let child = copy_command(&endpoint, key)
                        .spawn()
                        .expect("bootstrap starts");
                    let (peak, elapsed) = sample_peak(child, run_time());
                    let moved = s3.stats().bytes_received - received;
                    assert!(moved >= 100 * MIB, "the copy uploaded only {moved} bytes");
                    peaks.push(peak);
                    rates.push(moved / elapsed.as_secs().max(1));
                    elapsed
                })
                .sum()
        })
    });
    group.finish();
    if peaks.is_empty() {
        // Filtered out on the command line.
        return;
    }
    let peak = support::median(&mut peaks);
    let rate = support::median(&mut rates);
    println!(
        "copy/rss/{name}: median peak RSS {:.1} MiB over {:?} runs ({:.0} MiB/s uploaded), idle {:.1} MiB, growth {:.1} MiB, budget {} MiB",
        peak as f64 / MIB as f64,
        run_time(),
        rate as f64 / MIB as f64,
        idle as f64 / MIB as f64,
        peak.saturating_sub(idle) as f64 / MIB as f64,
        BUDGET / MIB
    );
    assert!(
        peak <= idle + BUDGET,
        "peak RSS {peak} exceeds idle {idle} + budget {BUDGET}"
    );
}

/// The gzip bench's input: 8 GiB read in 5 MiB ranges (a 200 GiB input
/// would be read in 21 MiB ranges, which the read-ahead of a gzip copy at
/// 512 MB cannot hold beside its growing parts), so its incompressible
/// output passes the 1,000th part at ~5 GiB.
const GZIP_INPUT_SIZE: u64 = 8 * 1024 * MIB;

/// Parts of S3's schedule for output of unknown length before the first
/// growth step (the part size doubles after the 1,000th part).
const GROWTH_PART: u64 = 1_000;

/// How long the gzip run may take to pass its 1,000th part: at 5 MiB parts
/// that is ~5 GiB of incompressible output, ~40 s at this machine's gzip rate.
const GZIP_LIMIT: Duration = Duration::from_secs(180);

/// Measures the peak RSS of `bootstrap copy --transform gzip` of an 8 GiB
/// virtual object (incompressible, so the output is as large as the input) at 512 MB
/// with 5 MiB parts, sampled every 20 ms until 1,100 parts are uploaded —
/// past the 1,000th, where the part schedule of unknown-length output grows —
/// or the copy stops with `Copy.OutputTooLargeForMemory`. Asserts the peak
/// stays within idle + the 64 MiB budget and, in a full run, that the copy
/// went past its 1,000th part. One run, not a criterion sample of ten: one
/// takes most of a minute. In a smoke test it runs 5 s.
fn gzip_past_growth(_c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let s3 = rt.block_on(virtual_source());
    let endpoint = s3.endpoint();
    let gzip = |key: &str| {
        let mut command = copy_command(&endpoint, key);
        command
            .env("PART_SIZE_MIB", "5")
            .args(["--transform", "gzip"]);
        command
    };
    let idle = support::run_measured(&mut gzip("tiny.bin")).peak_rss;
    let parts = || s3.stats().requests_of(Operation::UploadPart);
    let limit = if support::smoke_test() {
        Duration::from_secs(5)
    } else {
        GZIP_LIMIT
    };
    let child = gzip("gzip-input.bin").spawn().expect("bootstrap starts");
    let (peak, elapsed) = sample_peak_until(child, limit, || parts() > GROWTH_PART + 100);
    let uploaded = parts();
    println!(
        "copy/rss/virtual-gzip-past-1000-parts: peak RSS {:.1} MiB after {uploaded} parts in {:.0} s, idle {:.1} MiB, growth {:.1} MiB, budget {} MiB",
        peak as f64 / MIB as f64,
        elapsed.as_secs_f64(),
        idle as f64 / MIB as f64,
        peak.saturating_sub(idle) as f64 / MIB as f64,
        BUDGET / MIB
    );
    assert!(uploaded > 0, "the gzip copy uploaded no part");
    assert!(
        peak <= idle + BUDGET,
        "peak RSS {peak} exceeds idle {idle} + budget {BUDGET}"
    );
    if !support::smoke_test() {
        assert!(
            uploaded > GROWTH_PART,
            "only {uploaded} parts within {limit:?}: the growth point was not reached"
        );
    }
}

criterion_group!(benches, virtual_200gib, virtual_largest, gzip_past_growth);
criterion_main!(benches);
