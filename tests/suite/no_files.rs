//! A copy creates and writes no file: `bootstrap copy` runs under strace with
//! an unwritable `TMPDIR`, and no file-system write of any kind is traced.

use crate::common::{self, Stack};
use std::process::Command;

/// System calls that create, write, rename or remove files and directories.
const WRITE_CALLS: &str = "trace=open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,truncate,ftruncate";

/// `open` flags that mean the file may be written.
const WRITE_FLAGS: &[&str] = &["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"];

/// True when a strace line is a call that writes: an open with a write
/// flag, or any of the other traced calls (they all create, rename or remove).
fn is_write(line: &str) -> bool {
    // `strace -f` prefixes calls of other threads with `[pid N] `.
    let call = match line.strip_prefix("[pid") {
        Some(rest) => rest.split_once(']').map_or(rest, |(_, call)| call),
        None => line,
    }
    .trim_start();
    let Some((name, _)) = call.split_once('(') else {
        return false;
    };
    let traced = WRITE_CALLS
        .trim_start_matches("trace=")
        .split(',')
        .any(|c| c == name);
    match name {
        _ if !traced => false,
        "open" | "openat" | "openat2" => WRITE_FLAGS.iter().any(|flag| call.contains(flag)),
        _ => true,
    }
}

#[tokio::test]
async fn a_copy_creates_and_writes_no_file() {
    crate::common::assert_strace_runs();
    let s = Stack::new("nofiles").await;
    let data = common::bytes_of(12 * 1024 * 1024 + 5, 11);
    s.put("in.bin", data.clone()).await;

    let mut command = Command::new("strace");
    command
        .args([
            "-f",
            "-qq",
            "-e",
            WRITE_CALLS,
            "--",
            env!("CARGO_BIN_EXE_bootstrap"),
            "copy",
        ])
        .arg(format!("s3://{}/in.bin", s.source))
        .arg(format!("s3://{}/out.bin", s.destination))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", "/proc/nonexistent-unwritable")
        .env("PART_SIZE_MIB", "5")
        .env("COPY_MODE", "stream");
    for (key, value) in common::s3_env() {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("strace runs");
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "copy failed:\n{trace}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(report["bytesWritten"], data.len());

    assert!(
        trace.contains("openat("),
        "strace traced the process's (read-only) opens"
    );
    let writes: Vec<&str> = trace.lines().filter(|line| is_write(line)).collect();
    assert!(
        writes.is_empty(),
        "the copy wrote to the file system:\n{}",
        writes.join("\n")
    );
    assert_eq!(
        common::sha256(&s.get("out.bin").await),
        common::sha256(&data)
    );
}
