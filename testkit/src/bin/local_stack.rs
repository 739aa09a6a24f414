//! The local stack: moto_server + the Runtime API emulator + the real `bootstrap`,
//! copying one object the way Lambda would, with no AWS account and no Docker.

use aws_sdk_s3::types::ChecksumMode;
use s3_stream_testkit::emulator::{InvocationSpec, PostKind, RuntimeApiEmulator};
use s3_stream_testkit::error_chain::error_chain;
use s3_stream_testkit::local_s3;
use s3_stream_testkit::moto::MotoServer;
use s3_stream_testkit::notification_key::encode_key;
use s3_stream_testkit::sample::{crc64_base64, upload_sample};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Default sample size: 64 MiB is eight 8 MiB parts, a real multipart copy.
const DEFAULT_SIZE_MIB: u64 = 64;

/// Default function memory: Lambda's common 512 MB setting.
const DEFAULT_MEMORY_MIB: u64 = 512;

/// How long the function may take; Lambda's longest timeout.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(900);

const USAGE: &str = "usage: local-stack [--size-mib N] [--memory-mib N]";

fn flag(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(at) => args
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number\n{USAGE}")),
    }
}

/// Peak resident memory of `pid` so far (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let size = flag(&args, "--size-mib", DEFAULT_SIZE_MIB)? * MIB;
    let memory = flag(&args, "--memory-mib", DEFAULT_MEMORY_MIB)?;
    let bootstrap = std::env::current_exe()
        .map_err(|e| format!("failed to find this program: {e}"))?
        .with_file_name("bootstrap");
    if !bootstrap.exists() {
        return Err(format!(
            "{} is missing: run ./local-stack.sh, which builds it",
            bootstrap.display()
        ));
    }

    println!("== starting moto_server and the Runtime API emulator on loopback");
    let moto = MotoServer::start().await.map_err(|e| error_chain(&e))?;
    let emulator = RuntimeApiEmulator::start()
        .await
        .map_err(|e| format!("failed to start the emulator: {e}"))?;
    println!(
        "   s3: {}   runtime api: {}",
        moto.endpoint(),
        emulator.endpoint()
    );
    let s3_env = local_s3::child_env(moto.endpoint());
    let client = local_s3::client(moto.endpoint());
    for bucket in ["producer", "consumer"] {
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| format!("failed to create bucket {bucket}: {e:?}"))?;
    }

    let key = "samples/big object (1).bin";
    println!("== uploading s3://producer/{key} ({} MiB)", size / MIB);
    let sample = upload_sample(&client, "producer", key, size).await?;
    let (etag, crc) = (sample.etag, sample.crc64nvme);

    println!("== starting {} ({memory} MB function)", bootstrap.display());
    let mut child = Command::new(&bootstrap)
        .envs(s3_env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", emulator.endpoint())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
        .env("DST_BUCKET", "consumer")
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("failed to start bootstrap: {e}"))?;
    let event = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-26T20:00:00.000Z", "eventName": "ObjectCreated:CompleteMultipartUpload",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "producer", "arn": "arn:aws:s3:::producer"},
               "object": {"key": encode_key(key), "size": size,
                          "eTag": etag.trim_matches('"'), "sequencer": "0067A1B2C3D4E5F601"}}
    }]});
    println!("== delivering the ObjectCreated event through the runtime loop");
    let id =
        emulator.enqueue(InvocationSpec::new(event.to_string()).with_timeout(INVOCATION_TIMEOUT));
    let post = emulator.wait_for_result(&id, INVOCATION_TIMEOUT).await;
    let peak = peak_rss(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let post = post.ok_or("the function posted no result")?;
    println!(
        "{}",
        serde_json::to_string_pretty(&post.json()).unwrap_or_default()
    );
    if post.kind != PostKind::Response {
        return Err("the invocation failed (error posted above)".into());
    }

    let head = client
        .head_object()
        .bucket("consumer")
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| format!("failed to read the copy: {e:?}"))?;
    let expected = crc64_base64(crc);
    let actual = head.checksum_crc64_nvme().unwrap_or("none");
    let record = &post.json()["records"][0];
    println!("== result");
    println!("   copied:       s3://producer/{key} -> s3://consumer/{key}");
    println!(
        "   size:         {} bytes in {} parts of {} MiB",
        record["bytesOut"],
        record["parts"],
        record["partSize"].as_u64().unwrap_or(0) / MIB
    );
    println!(
        "   checksum:     CRC64NVME {actual} (source {expected}) {}",
        if actual == expected {
            "verified"
        } else {
            "MISMATCH"
        }
    );
    println!(
        "   throughput:   {} MB/s ({} ms)",
        record["mbPerS"], record["ms"]
    );
    if let Some(peak) = peak {
        println!(
            "   peak memory:  {:.1} MiB RSS of bootstrap",
            peak as f64 / MIB as f64
        );
    }
    if actual != expected {
        return Err("the copy's checksum does not match the source".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("failed to start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-stack: {message}");
            ExitCode::FAILURE
        }
    }
}
