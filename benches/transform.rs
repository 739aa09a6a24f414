//! Transform benches: each built-in's throughput over 64 MiB of JSON lines
//! against the standard command-line tool for the same job, in the same run.
//!
//! `transform/<name>/<variant>`: `builtin-1` (one worker), `builtin-N` (N =
//! the cores here), and the peers `gzip -1` / `gzip -6` / `gzip -d`, `pigz -p
//! N`, `zstd -3 -T1` / `zstd -T N` / `zstd -d`. Goals (printed with each
//! ratio): a built-in at least as fast as its single-threaded peer (≥ 1.0),
//! within 0.8× of its parallel peer; identity costs nothing measurable over
//! passing the chunks on.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use s3_stream_lambda::transform::{GzipMembers, TransformOptions, by_name_with};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

const MIB: usize = 1 << 20;

/// Chunks the pipeline hands a transform: one 8 MiB part-sized block.
const CHUNK: usize = 8 * MIB;

/// Input size: 64 MiB (1 MiB in a smoke test).
fn input_size() -> usize {
    if support::smoke_test() { MIB } else { 64 * MIB }
}

/// Timed runs per case (one in a smoke test); the median is reported.
fn rounds() -> usize {
    if support::smoke_test() { 1 } else { 5 }
}

/// JSON lines as an API logs them: compressible like real logs.
fn json_lines(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 256);
    let mut i: u64 = 0;
    while out.len() < len {
        let line = format!(
            "{{\"requestId\":\"{:016x}\",\"httpMethod\":\"{}\",\"resourcePath\":\"/v1/items/{}\",\"status\":{},\"responseLatency\":{},\"ip\":\"10.{}.{}.{}\"}}\n",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ["GET", "PUT", "POST", "DELETE"][(i % 4) as usize],
            i * 7_919 % 100_003,
            if i.is_multiple_of(17) { 500 } else { 200 },
            i * 31 % 997,
            i % 256,
            i / 256 % 256,
            i * 13 % 256
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Runs the built-in `name` over `input` in pipeline-sized chunks; returns
/// its output chunks as the pipeline hands them on (joined after the timing,
/// as the peers' output is a pipe read into one buffer).
fn builtin(name: &str, options: &TransformOptions, input: &Bytes) -> Vec<Bytes> {
    let mut transform = by_name_with(name, options).expect("a built-in");
    let mut output = Vec::new();
    let piece = transform.max_push().unwrap_or(CHUNK).min(CHUNK);
    let mut rest = input.clone();
    while !rest.is_empty() {
        let chunk = rest.split_to(piece.min(rest.len()));
        transform.push(chunk, &mut output).expect("push");
        while transform.has_pending() {
            transform.drain(&mut output).expect("drain");
        }
    }
    transform.finish(&mut output).expect("finish");
    while transform.has_pending() {
        transform.drain(&mut output).expect("drain");
    }
    output
}

/// Runs `program args` with `input` on stdin; returns its stdout.
fn tool(program: &str, args: &[&str], input: &Bytes) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed (apt-get install {program}): {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let owned = input.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    writer.join().expect("writer").expect("stdin written");
    assert!(child.wait().expect("exit").success(), "{program} {args:?}");
    out
}

/// Median wall time of `rounds()` runs of `run`, and its last output.
fn timed<T: Default>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = T::default();
    for _ in 0..rounds() {
        let started = Instant::now();
        last = run();
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last)
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64().max(1e-9)
}

/// One measured case: `transform/<name>/<variant>` and its median MB/s of input.
struct Case {
    name: String,
    mb_per_s: f64,
}

fn report(name: &str, variant: &str, bytes: usize, time: Duration) -> Case {
    let case = Case {
        name: format!("transform/{name}/{variant}"),
        mb_per_s: mb_per_s(bytes, time),
    };
    println!(
        "{}: median {:.1} MB/s ({time:.2?} for {} MiB)",
        case.name,
        case.mb_per_s,
        bytes / MIB
    );
    case
}

fn ratio(ours: &Case, peer: &Case, goal: f64) {
    println!(
        "{} / {}: {:.2}× (goal >= {goal:.1})",
        ours.name,
        peer.name,
        ours.mb_per_s / peer.mb_per_s
    );
}

fn options(workers: usize, level_gzip: u32) -> TransformOptions {
    TransformOptions {
        gzip_level: level_gzip,
        gzip_members: GzipMembers::Parallel,
        zstd_level: 3,
        workers,
    }
}

/// Measures gzip at levels 1 and 6 with one and N workers against `gzip`
/// and `pigz -p N`, and gunzip against `gzip -d`; asserts each output
/// decompresses to the input.
fn gzip(_: &mut Criterion) {
    if !wanted("gzip") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let input = Bytes::from(json_lines(input_size()));
    let len = input.len();
    let n = cores.to_string();
    for level in [1u32, 6] {
        let name = format!("gzip-{level}");
        let flag = format!("-{level}");
        let (time, one) = timed(|| builtin("gzip", &options(1, level), &input));
        let one = one.concat();
        let single = report(&name, "builtin-1", len, time);
        let (time, many) = timed(|| builtin("gzip", &options(cores, level), &input));
        let many = many.concat();
        let parallel = report(&name, &format!("builtin-{cores}"), len, time);
        let (time, cli_output) = timed(|| tool("gzip", &["-c", &flag], &input));
        let cli = report(&name, &format!("gzip{flag}"), len, time);
        let (time, _) = timed(|| tool("pigz", &["-c", &flag, "-p", &n], &input));
        let pigz = report(&name, &format!("pigz{flag}-p{cores}"), len, time);
        for output in [&one, &many] {
            let mut plain = Vec::new();
            flate2::read::MultiGzDecoder::new(&output[..])
                .read_to_end(&mut plain)
                .expect("gzip output");
            assert_eq!(plain.len(), len, "{name}");
            assert!(plain == input[..], "{name}: round trip");
        }
        println!(
            "transform/{name}: output {:.2}% of the input (ours), {:.2}% (gzip{flag})",
            100.0 * many.len() as f64 / len as f64,
            100.0 * cli_output.len() as f64 / len as f64
        );
        ratio(&single, &cli, 1.0);
        ratio(&parallel, &cli, 1.0);
        ratio(&parallel, &pigz, 0.8);
    }
    let compressed = Bytes::from(tool("gzip", &["-c", "-6"], &input));
    let (time, plain) = timed(|| builtin("gunzip", &options(1, 6), &compressed));
    let plain = plain.concat();
    assert!(plain == input[..], "gunzip round trip");
    let ours = report("gunzip", "builtin", len, time);
    let (time, _) = timed(|| tool("gzip", &["-d", "-c"], &compressed));
    let cli = report("gunzip", "gzip-d", len, time);
    ratio(&ours, &cli, 1.0);
}

/// Measures zstd at level 3 with one and N workers against `zstd -3 -T1`
/// and `zstd -3 -T N`, and unzstd against `zstd -d`; asserts the round trips.
fn zstd(_: &mut Criterion) {
    if !wanted("zstd") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let input = Bytes::from(json_lines(input_size()));
    let len = input.len();
    let threads = format!("-T{cores}");
    let (time, one) = timed(|| builtin("zstd", &options(1, 1), &input));
    let one = one.concat();
    let single = report("zstd-3", "builtin-1", len, time);
    let (time, many) = timed(|| builtin("zstd", &options(cores, 1), &input));
    let many = many.concat();
    let parallel = report("zstd-3", &format!("builtin-{cores}"), len, time);
    let (time, _) = timed(|| tool("zstd", &["-c", "-q", "-3", "-T1"], &input));
    let cli = report("zstd-3", "zstd-3-T1", len, time);
    let (time, _) = timed(|| tool("zstd", &["-c", "-q", "-3", &threads], &input));
    let cli_parallel = report("zstd-3", &format!("zstd-3{threads}"), len, time);
    for output in [&one, &many] {
        assert!(
            ::zstd::decode_all(&output[..]).expect("zstd output") == input[..],
            "zstd round trip"
        );
    }
    ratio(&single, &cli, 1.0);
    ratio(&parallel, &cli_parallel, 0.8);
    let compressed = Bytes::from(tool("zstd", &["-c", "-q", "-3"], &input));
    let (time, plain) = timed(|| builtin("unzstd", &options(1, 1), &compressed));
    let plain = plain.concat();
    assert!(plain == input[..], "unzstd round trip");
    let ours = report("unzstd", "builtin", len, time);
    let (time, _) = timed(|| tool("zstd", &["-d", "-c", "-q"], &compressed));
    let cli = report("unzstd", "zstd-d", len, time);
    ratio(&ours, &cli, 1.0);
}

/// A JSON array of records, pretty-printed as exports write them.
fn json_array(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 512);
    out.extend_from_slice(b"[\n");
    let mut i: u64 = 0;
    while out.len() < len {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(
            format!(
                "  {{\n    \"id\": {i},\n    \"path\": \"/v1/items/{}\",\n    \"ok\": {},\n    \"tags\": [\"a\", \"b\"],\n    \"latency\": {}.5\n  }}",
                i * 7_919 % 100_003,
                i.is_multiple_of(3),
                i % 997
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.extend_from_slice(b"\n]\n");
    out
}

/// A multi-document YAML stream of small records.
fn yaml_documents(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 512);
    let mut i: u64 = 0;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "---\nkind: request\nid: {i}\npath: /v1/items/{}\nok: {}\nlabels: [a, b]\nmeta:\n  owner: team-{}\n  ratio: {}.25\n",
                i * 7_919 % 100_003,
                i.is_multiple_of(3),
                i % 4,
                i % 10
            )
            .as_bytes(),
        );
        i += 1;
    }
    out
}

/// Measures ndjson against `jq -c '.[]'` on a JSON array, asserting the
/// same lines, and yaml-json's throughput on a multi-document stream.
fn lines(_: &mut Criterion) {
    if !wanted("lines") {
        return;
    }
    let input = Bytes::from(json_array(input_size()));
    let len = input.len();
    let (time, ours) = timed(|| builtin("ndjson", &options(1, 1), &input));
    let ours = ours.concat();
    let ndjson = report("ndjson", "builtin", len, time);
    let (time, jq) = timed(|| tool("jq", &["-c", ".[]"], &input));
    let peer = report("ndjson", "jq-c", len, time);
    assert!(ours == jq, "ndjson's lines are jq's");
    ratio(&ndjson, &peer, 1.0);
    let yaml = Bytes::from(yaml_documents(input_size()));
    let (time, out) = timed(|| builtin("yaml-json", &options(1, 1), &yaml));
    let out = out.concat();
    let documents = yaml.windows(4).filter(|w| w == b"---\n").count();
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), documents);
    report("yaml-json", "builtin", yaml.len(), time);
}

/// Measures identity against handing the same chunks on without a transform.
fn identity(_: &mut Criterion) {
    if !wanted("identity") {
        return;
    }
    let input = Bytes::from(json_lines(input_size()));
    let len = input.len();
    // Both sides copy each chunk on, as the part assembler does, so the
    // comparison is of whole passes over the bytes, not of nanoseconds.
    let (time, out) = timed(|| builtin("identity", &options(1, 1), &input).concat());
    assert_eq!(out, input);
    let ours = report("identity", "builtin", len, time);
    let (time, out) = timed(|| {
        let mut chunks = Vec::new();
        let mut rest = input.clone();
        while !rest.is_empty() {
            chunks.push(rest.split_to(CHUNK.min(rest.len())));
        }
        chunks.concat()
    });
    assert_eq!(out, input);
    let none = report("identity", "no-transform", len, time);
    ratio(&ours, &none, 0.9);
}

/// The object `copy/gzip-6/*` compresses: 1 GiB of JSON lines (16 MiB in a smoke test).
fn copy_size() -> usize {
    if support::smoke_test() {
        16 * MIB
    } else {
        1024 * MIB
    }
}

/// Uploads `data` as a multipart object of 8 MiB parts.
async fn upload(client: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &Bytes) {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-ndjson")
        .send()
        .await
        .expect("create upload");
    let id = created.upload_id().unwrap_or_default().to_owned();
    let mut parts = Vec::new();
    for (index, chunk) in data.chunks(CHUNK).enumerate() {
        let number = index as i32 + 1;
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .body(data.slice_ref(chunk).into())
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete upload");
}

/// Measures a `gzip` (level 6) copy of 1 GiB of JSON lines through the real
/// `bootstrap copy` with 1 and 2 compression workers at 3,538 MB (two
/// vCPUs' worth), alternating, and checks the output with `gzip -t` and
/// `zcat | sha256sum`. Goal: 2 workers ≥ 1.4× faster.
fn copy_gzip(_: &mut Criterion) {
    if !wanted("copy_gzip") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let data = Bytes::from(json_lines(copy_size()));
    let (source, destination) = rt.block_on(async {
        let client = common::client().await;
        let source = common::create_bucket(&client, "bench-gzip-src").await;
        let destination = common::create_bucket(&client, "bench-gzip-dst").await;
        upload(&client, &source, "logs.jsonl", &data).await;
        (source, destination)
    });
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds().min(3) {
        for (slot, workers) in [1, 2].into_iter().enumerate() {
            let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
            command
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538")
                .env("GZIP_LEVEL", "6")
                .env("COMPRESSION_WORKERS", workers.to_string())
                .args([
                    "copy",
                    &format!("s3://{source}/logs.jsonl"),
                    &format!("s3://{destination}/logs.jsonl.gz"),
                    "--transform",
                    "gzip",
                ]);
            for (key, value) in common::s3_env() {
                command.env(key, value);
            }
            let run = support::run_measured(&mut command);
            times[slot].push(run.elapsed);
        }
    }
    let one = support::median(&mut times[0]);
    let two = support::median(&mut times[1]);
    let gz = rt.block_on(async {
        let client = common::client().await;
        common::get(&client, &destination, "logs.jsonl.gz").await
    });
    let gz = Bytes::from(gz);
    tool("gzip", &["-t"], &gz);
    let plain_sha =
        String::from_utf8(tool("sh", &["-c", "zcat | sha256sum"], &gz)).unwrap_or_default();
    assert!(
        plain_sha.starts_with(&common::sha256(&data)),
        "zcat | sha256sum: {plain_sha}"
    );
    let mib = copy_size() / MIB;
    println!(
        "copy/gzip-6/workers-1: median {one:.2?} for {mib} MiB ({:.1} MB/s)",
        mb_per_s(copy_size(), one)
    );
    println!(
        "copy/gzip-6/workers-2: median {two:.2?} for {mib} MiB ({:.1} MB/s); output {:.1}% of the input, gzip -t ok, zcat | sha256sum matches",
        mb_per_s(copy_size(), two),
        100.0 * gz.len() as f64 / copy_size() as f64
    );
    println!(
        "copy/gzip-6: workers-2 is {:.2}× faster than workers-1 (goal >= 1.4)",
        one.as_secs_f64() / two.as_secs_f64().max(1e-9)
    );
}

/// Peak RSS of `bootstrap copy` at 512 MB (a 64 MiB budget) for `transform`
/// over `key`: the child's `VmHWM`, read every 5 ms while it runs (a child
/// spawned from this large process would report the parent's size in its
/// `ru_maxrss`; `VmHWM` belongs to the program it became).
fn peak_rss(source: &str, destination: &str, key: &str, transform: &str) -> u64 {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .stdout(Stdio::null())
        .args([
            "copy",
            &format!("s3://{source}/{key}"),
            &format!("s3://{destination}/{transform}/{key}"),
            "--transform",
            transform,
        ]);
    for (key, value) in common::s3_env() {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("bootstrap starts");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        let hwm = std::fs::read_to_string(&status)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("VmHWM:"))
                    .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        peak = peak.max(hwm * 1024);
        if let Ok(Some(exit)) = child.try_wait() {
            assert!(
                exit.success(),
                "bootstrap copy --transform {transform} failed"
            );
            return peak;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True unless `TRANSFORM_BENCH` (comma-separated: gzip, zstd, lines,
/// identity, copy_gzip, memory) leaves `name` out.
fn wanted(name: &str) -> bool {
    std::env::var("TRANSFORM_BENCH").map_or(true, |list| list.split(',').any(|n| n.trim() == name))
}

/// Measures the peak RSS of `ndjson` over a 1 GiB JSON array and of
/// `gunzip` over a gzip file of 1 GiB of JSON lines (16 MiB each in a smoke
/// test), against the idle process plus the 64 MiB budget (the window is
/// reserved inside it); asserts they stay within it.
fn memory(_: &mut Criterion) {
    if !wanted("memory") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let size = copy_size();
    let array_len = json_array(size).len();
    // The inputs are made, uploaded and dropped before any copy runs: a child
    // spawned from a large process starts with its parent's resident size.
    let (source, destination) = rt.block_on(async {
        let client = common::client().await;
        let source = common::create_bucket(&client, "bench-lines-src").await;
        let destination = common::create_bucket(&client, "bench-lines-dst").await;
        let array = Bytes::from(json_array(size));
        upload(&client, &source, "array.json", &array).await;
        drop(array);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(&json_lines(size)).expect("compress");
        let gz = Bytes::from(encoder.finish().expect("compress"));
        upload(&client, &source, "lines.jsonl.gz", &gz).await;
        upload(
            &client,
            &source,
            "tiny.json",
            &Bytes::from_static(b"[1, 2, 3]"),
        )
        .await;
        (source, destination)
    });
    let idle = peak_rss(&source, &destination, "tiny.json", "ndjson");
    let budget = 64 * MIB as u64;
    for (transform, key, bytes) in [
        ("ndjson", "array.json", array_len),
        ("gunzip", "lines.jsonl.gz", size),
    ] {
        let peak = peak_rss(&source, &destination, key, transform);
        let growth = peak.saturating_sub(idle);
        println!(
            "copy/rss/{transform}-{}MiB: peak RSS {:.1} MiB, idle {:.1} MiB, growth {:.1} MiB (budget with the window inside it: {} MiB)",
            bytes / MIB,
            peak as f64 / MIB as f64,
            idle as f64 / MIB as f64,
            growth as f64 / MIB as f64,
            budget / MIB as u64
        );
        assert!(
            growth <= budget,
            "{transform}: growth {growth} over the budget"
        );
    }
}

criterion_group!(benches, gzip, zstd, lines, identity, copy_gzip, memory);
criterion_main!(benches);
