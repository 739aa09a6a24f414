//! The function's init reads no file a Lambda sandbox lacks: `bootstrap` runs under strace until its first `/next`.

use s3_stream_testkit::emulator::RuntimeApiEmulator;
use std::process::{Command, Stdio};
use std::time::Duration;

/// System calls that open or look up a path.
const PATH_CALLS: &str = "trace=open,openat,openat2,stat,lstat,newfstatat,statx,access,faccessat,faccessat2,readlink,readlinkat";

/// Longest wait for the first `/next` (strace slows start-up down).
const FIRST_NEXT_TIMEOUT: Duration = Duration::from_secs(60);

/// The path a traced call names (its first quoted argument), if any.
fn traced_path(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once('"')?;
    rest.split_once('"').map(|(path, _)| path)
}

/// True for a path the dynamic loader, the Rust runtime or tokio reads in
/// any process (shared libraries, `/proc/self`, cgroup CPU quotas).
fn is_process_start_up(path: &str) -> bool {
    path.is_empty()
        || path.starts_with("/etc/ld.so.")
        || path.starts_with("/lib")
        || path.starts_with("/usr/lib")
        || path.starts_with("/proc/")
        || path.starts_with("/sys/fs/cgroup")
}

/// Kills and reaps the traced process however the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn init_reads_no_certificate_store_and_no_profile_file() {
    crate::common::assert_strace_runs();
    let emulator = RuntimeApiEmulator::start().await.expect("emulator starts");
    let dir = tempfile::tempdir().expect("temporary directory");
    let trace = dir.path().join("trace");
    let child = Command::new("strace")
        .args(["-f", "-qq", "-e", PATH_CALLS, "-o"])
        .arg(&trace)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .envs(s3_stream_testkit::sandbox::SANDBOX_ENV.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", emulator.endpoint())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace starts");
    let child = Reaped(child);
    let asked = emulator.wait_for_next_requests(1, FIRST_NEXT_TIMEOUT).await;
    drop(child);
    assert!(asked, "bootstrap finished init and asked /next");

    let trace = std::fs::read_to_string(&trace).expect("strace wrote its trace");
    let paths: Vec<&str> = trace.lines().filter_map(traced_path).collect();
    assert!(
        paths.iter().any(|path| path.contains("libc")),
        "the trace holds the process's start-up: {trace}"
    );
    let read: Vec<&&str> = paths
        .iter()
        .filter(|path| !is_process_start_up(path))
        .filter(|path| **path != env!("CARGO_BIN_EXE_bootstrap"))
        .collect();
    assert!(
        read.is_empty(),
        "init looked up files a sandbox lacks: {read:?}"
    );
}
