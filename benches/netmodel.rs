//! Network-modeled copy benches: the copy in one network namespace, a paced synthetic S3 in another, each direction of the link capped with `tbf`.
//!
//! On loopback every copy is CPU-bound; on Lambda the network is the limit
//! and its two directions are independent. This bench builds that model
//! (`s3_stream_testkit::netmodel`): a veth pair whose download and upload
//! directions are each capped at [`DEFAULT_LINK_MB_S`], and the test kit's
//! synthetic S3 (cheap on CPU: objects generated, uploads checked and
//! discarded) pacing each connection at [`DEFAULT_CONNECTION_MB_S`], so no
//! single connection fills the link (S3 gives one connection ~85–90 MB/s,
//! less than a large Lambda's share). Strategies run one after another in
//! interleaved rounds, each as its own process inside the copy namespace:
//! GET-only and PUT-only of the same bytes (their goodput is the practical
//! limit, TCP framing included), `bootstrap copy` streaming at the defaults
//! of several memory sizes, and the original download-then-upload.
//! Server-side copy is not modeled (the synthetic S3 has no `UploadPartCopy`).
//!
//! Rates are parameters: `NETMODEL_LINK_MB_S`, `NETMODEL_CONNECTION_MB_S`,
//! `NETMODEL_SIZE_MIB` (`./netmodel.sh` sets them). Needs root and iproute2;
//! without them the bench says so and skips.

use criterion::{Criterion, criterion_group, criterion_main};
use s3_stream_testkit::local_s3;
use s3_stream_testkit::netmodel::NetModel;
use s3_stream_testkit::synthetic_s3::{SyntheticS3, SyntheticS3Config};
use std::path::Path;
use std::process::Command;

mod support;

const MIB: u64 = 1024 * 1024;

/// MB/s (10^6 bytes) each direction of the link carries by default: the
/// rate of the model, near what a 1769 MB Lambda gets from S3.
const DEFAULT_LINK_MB_S: u64 = 75;

/// MB/s one connection may move by default: about half the link, so a
/// pipeline must keep at least two connections busy each way to fill it,
/// as S3's ~85–90 MB/s per connection requires of a large Lambda.
const DEFAULT_CONNECTION_MB_S: u64 = 40;

/// The copied object by default: 1 GiB (32 MiB in a smoke test).
const DEFAULT_SIZE_MIB: u64 = 1024;

/// Rounds of every strategy in a full run (one in a smoke test); medians
/// are quoted. Each 1 GiB round takes about a minute and a half.
const ROUNDS: usize = 3;

/// Part size and parts in flight of the GET-only and PUT-only references:
/// the product's default part, and enough connections to fill the link.
const REFERENCE_PART: u64 = 8 * MIB;
const REFERENCE_CONCURRENCY: usize = 8;

/// Function memory sizes whose streaming defaults are compared.
const MEMORY_SIZES_MB: [u64; 3] = [512, 1769, 3008];

fn parameter(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// One strategy: its bench name and how to run it inside the model.
struct Strategy {
    name: String,
    command: Command,
    /// The destination key it writes (none for GET-only).
    key: Option<String>,
    /// False for a transform's output, whose size is not the source's.
    exact: bool,
}

fn strategies(model: &NetModel, endpoint: &str, bootstrap: &Path, worker: &Path) -> Vec<Strategy> {
    let with_env = |mut command: Command| {
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in local_s3::child_env(endpoint) {
            command.env(name, value);
        }
        command
    };
    let worker_run = |strategy: &str| {
        let mut command = with_env(model.copy_command(worker));
        command.args([
            strategy,
            "source",
            "object.bin",
            "destination",
            &format!("{}.bin", strategy.replace('_', "-")),
            &REFERENCE_PART.to_string(),
            &REFERENCE_CONCURRENCY.to_string(),
        ]);
        let name = strategy.replace('_', "-");
        Strategy {
            key: (strategy != "get_only").then(|| format!("{name}.bin")),
            name,
            command,
            exact: true,
        }
    };
    let mut all = vec![worker_run("get_only"), worker_run("put_only")];
    for memory in MEMORY_SIZES_MB {
        let mut command = with_env(model.copy_command(bootstrap));
        command
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
            .env("COPY_MODE", "stream")
            .args([
                "copy",
                "s3://source/object.bin",
                &format!("s3://destination/stream-{memory}.bin"),
            ]);
        all.push(Strategy {
            name: format!("stream-{memory}MB"),
            command,
            key: Some(format!("stream-{memory}.bin")),
            exact: true,
        });
    }
    // Server-side: S3 copies the bytes (UploadPartCopy), none cross the link.
    let mut command = with_env(model.copy_command(bootstrap));
    command
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("COPY_MODE", "server")
        // Part copies even for the smoke test's 32 MiB (the synthetic S3 has
        // UploadPartCopy but no CopyObject).
        .env("PART_COPY_SIZE_MIB", "16")
        .args([
            "copy",
            "s3://source/object.bin",
            "s3://destination/server-512.bin",
        ]);
    all.push(Strategy {
        name: "server-512MB".into(),
        command,
        key: Some("server-512.bin".into()),
        exact: true,
    });
    // A transform in the same model: gzip's output is the upload's input
    // (the generated bytes barely compress, so both directions carry ~1 GiB).
    let mut command = with_env(model.copy_command(bootstrap));
    command
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
        .args([
            "copy",
            "s3://source/object.bin",
            "s3://destination/gzip-1769.bin",
            "--transform",
            "gzip",
        ]);
    all.push(Strategy {
        name: "gzip-1769MB".into(),
        command,
        key: Some("gzip-1769.bin".into()),
        exact: false,
    });
    all.push(worker_run("original"));
    all
}

/// Measures the wall time of each strategy moving the same object across
/// the modeled link (medians of interleaved rounds), and prints each
/// streamed copy's time against the slower of GET-only and PUT-only and the
/// original's against the 512 MB stream. Asserts every copy wrote the whole
/// object to the synthetic S3.
fn netmodel(_c: &mut Criterion) {
    let link = parameter("NETMODEL_LINK_MB_S", DEFAULT_LINK_MB_S) * 1_000_000;
    let connection = parameter("NETMODEL_CONNECTION_MB_S", DEFAULT_CONNECTION_MB_S) * 1_000_000;
    let size = if support::smoke_test() {
        32 * MIB
    } else {
        parameter("NETMODEL_SIZE_MIB", DEFAULT_SIZE_MIB) * MIB
    };
    let model = match NetModel::create(link, link) {
        Ok(model) => model,
        Err(error) => {
            println!("copy/netmodel: skipped: {error}");
            return;
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let listener = model.bind_s3().expect("bind inside the s3 namespace");
    let s3 = rt.block_on(async {
        SyntheticS3::start_on_std(
            listener,
            SyntheticS3Config::default().with_per_connection_rate(connection),
        )
        .expect("synthetic s3 serves")
    });
    s3.create_bucket("destination");
    s3.add_generated_object("source", "object.bin", size, 5);
    let built = support::release_targets(
        "bench",
        &[
            support::Target::Bin("bootstrap"),
            support::Target::Example("copy_strategies"),
        ],
    );
    let mut strategies = strategies(&model, &s3.endpoint(), &built[0], &built[1]);
    let rounds = if support::smoke_test() { 1 } else { ROUNDS };
    let mut times: Vec<Vec<u64>> = vec![Vec::new(); strategies.len()];
    for _ in 0..rounds {
        for (strategy, times) in strategies.iter_mut().zip(&mut times) {
            let run = support::run_measured(&mut strategy.command);
            if let Some(key) = &strategy.key {
                let written = s3.object("destination", key).map(|object| object.len);
                if strategy.exact {
                    assert_eq!(written, Some(size), "{}: destination {key}", strategy.name);
                } else {
                    let any = written.is_some_and(|len| len > 0);
                    assert!(any, "{}: destination {key}", strategy.name);
                }
                s3.delete_object("destination", key);
            }
            times.push(run.elapsed.as_millis() as u64);
        }
    }
    let medians: Vec<(String, u64)> = strategies
        .iter()
        .zip(&mut times)
        .map(|(strategy, times)| (strategy.name.clone(), support::median(times)))
        .collect();
    let time_of = |name: &str| {
        medians
            .iter()
            .find(|(strategy, _)| strategy == name)
            .map_or(0, |(_, ms)| *ms)
    };
    let limit = time_of("get-only").max(time_of("put-only"));
    println!(
        "copy/netmodel: {} MiB, link {} MB/s each way, {} MB/s per connection, median of {rounds}",
        size / MIB,
        link / 1_000_000,
        connection / 1_000_000
    );
    for (name, ms) in &medians {
        let versus = match name.as_str() {
            name if name.starts_with("stream-")
                || name.starts_with("gzip-")
                || name.starts_with("server-") =>
            {
                format!(", {:.3}× the slower reference", *ms as f64 / limit as f64)
            }
            "original" => format!(
                ", stream-512MB {:.2}× faster",
                *ms as f64 / time_of("stream-512MB").max(1) as f64
            ),
            _ => String::new(),
        };
        println!(
            "copy/netmodel/{name}: {:.2} s, {:.1} MB/s{versus}",
            *ms as f64 / 1000.0,
            size as f64 / 1e6 / (*ms as f64 / 1000.0).max(0.001)
        );
    }
    // The server stops before its namespace goes.
    drop(s3);
    drop(model);
}

criterion_group!(benches, netmodel);
criterion_main!(benches);
