//! Bench support: release-built helper programs and their peak memory.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// True under `cargo bench -- --test` or `cargo test --benches` (each bench
/// once, as a smoke test: criterion runs in test mode without `--bench`).
pub fn smoke_test() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--test") || !args.iter().any(|arg| arg == "--bench")
}

/// The profile examples are built with: `profile` (`release` or `bench`,
/// both of which cargo writes to `target/release`) for optimised benches; the
/// benches' own unoptimised profile under `cargo test --benches`, so a smoke
/// test builds nothing optimised. Returns it and its output directory.
fn examples_profile(profile: &str) -> (&str, &'static str) {
    if cfg!(debug_assertions) {
        ("dev", "debug")
    } else {
        (profile, "release")
    }
}

/// Builds the examples `names` with `profile` (see [`examples_profile`]) and
/// returns their paths.
pub fn release_examples(profile: &str, names: &[&str]) -> Vec<PathBuf> {
    let targets: Vec<Target> = names.iter().map(|name| Target::Example(name)).collect();
    release_targets(profile, &targets)
}

/// Variables, besides `CARGO_PKG_*` and `CARGO_MANIFEST_*`, that cargo sets
/// for the bench it runs and that the builds a bench starts must not inherit.
const CARGO_BENCH_VARIABLES: &[&str] = &[
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// One executable of this package.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// `examples/NAME.rs`.
    Example(&'a str),
    /// A `[[bin]]`, e.g. `bootstrap`.
    Bin(&'a str),
}

/// Builds `targets` with `profile` in one cargo invocation and returns their
/// paths. A binary built beside an example gets the dev-dependencies' feature
/// set, which the bench itself was built with, so nothing is built twice.
pub fn release_targets(profile: &str, targets: &[Target]) -> Vec<PathBuf> {
    let (profile, directory) = examples_profile(profile);
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["build", "--quiet", "--profile", profile])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Cargo gives the bench its package's variables; a build script that
    // watches one of them (ring's does) would otherwise rebuild half the tree
    // here, and again in the next `cargo bench`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || CARGO_BENCH_VARIABLES.contains(&key.as_ref())
        {
            command.env_remove(key.as_ref());
        }
    }
    for target in targets {
        match target {
            Target::Example(name) => command.args(["--example", name]),
            Target::Bin(name) => command.args(["--bin", name]),
        };
    }
    let built = command.status().is_ok_and(|s| s.success());
    assert!(built, "{targets:?} build with profile {profile}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join(directory);
    targets
        .iter()
        .map(|target| match target {
            Target::Example(name) => dir.join("examples").join(name),
            Target::Bin(name) => dir.join(name),
        })
        .collect()
}

/// What one child process took.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Peak resident set size, in bytes (the kernel's `ru_maxrss`).
    pub peak_rss: u64,
    /// Standard output.
    pub stdout: String,
    /// CPU time the child used, user plus system (`ru_utime + ru_stime`).
    pub cpu: Duration,
}

/// User plus system time of an rusage.
pub fn cpu_of(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time this process has used so far (every thread: in the benches
/// that is the in-process S3 server's work).
pub fn own_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    cpu_of(&usage)
}

/// Runs `command` to completion and reports its wall time and peak RSS.
pub fn run_measured(command: &mut Command) -> ChildRun {
    let started = Instant::now();
    // Reaped by wait4 below, which also yields its rusage.
    #[allow(clippy::zombie_processes)]
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("child starts");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; the pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 reaps the child");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: status {status}"
    );
    ChildRun {
        elapsed,
        peak_rss: usage.ru_maxrss as u64 * 1024,
        stdout: reader.join().unwrap_or_default(),
        cpu: cpu_of(&usage),
    }
}

/// The median of `values`.
pub fn median<T: Ord + Copy + Default>(values: &mut [T]) -> T {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Bytes received on the loopback interface so far (`/proc/net/dev`), 0
/// where it cannot be read: every loopback byte is received once, so the
/// difference over a run is the traffic between local processes.
pub fn loopback_bytes() -> u64 {
    std::fs::read_to_string("/proc/net/dev")
        .ok()
        .and_then(|table| {
            table.lines().find_map(|line| {
                let (name, counters) = line.split_once(':')?;
                (name.trim() == "lo")
                    .then(|| counters.split_whitespace().next()?.parse().ok())
                    .flatten()
            })
        })
        .unwrap_or(0)
}
