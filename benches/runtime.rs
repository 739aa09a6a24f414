//! Runtime benches: invocations per second through the whole loop, and cold start of the hello-world and the real `bootstrap`.

use criterion::{Criterion, criterion_group, criterion_main};
use s3_stream_lambda::runtime::{
    self, Context, Diagnostic, Endpoint, InvocationHandler, RuntimeOptions,
};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind, RuntimeApiEmulator};
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod support;
use std::time::{Duration, Instant};

/// Longest wait for a batch of invocations or a process start.
const WAIT: Duration = Duration::from_secs(60);

/// Environment `lambda_runtime` insists on (it panics without it).
const LAMBDA_ENV: &[(&str, &str)] = &[
    ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
];

struct Noop;

impl InvocationHandler for Noop {
    type Event = serde_json::Value;
    type Output = serde_json::Value;

    async fn call(
        &self,
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<serde_json::Value, Diagnostic> {
        Ok(serde_json::json!({"ok": true}))
    }
}

/// Which runtime serves the emulator.
#[derive(Clone, Copy)]
enum Runtime {
    This,
    LambdaRuntime,
}

/// Runs `iters` invocations through `emulator` and returns the time they took.
async fn invoke_batch(emulator: &RuntimeApiEmulator, iters: u64) -> Duration {
    let before = emulator.post_count();
    let started = Instant::now();
    for _ in 0..iters {
        emulator.enqueue(InvocationSpec::new(r#"{"Records":[]}"#));
    }
    let done = emulator
        .wait_for_post_count(before + iters as usize, WAIT)
        .await;
    let elapsed = started.elapsed();
    assert!(done, "every invocation is answered");
    elapsed
}

/// Measures invocations per second of a no-op handler through the full loop
/// (emulator `/next` → handler → `/response`), for this runtime and for the
/// `lambda_runtime` crate, in the same run.
fn invoke(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut group = c.benchmark_group("runtime/invoke");
    group.throughput(criterion::Throughput::Elements(1));
    for (name, which) in [
        ("this", Runtime::This),
        ("lambda_runtime", Runtime::LambdaRuntime),
    ] {
        let emulator = rt.block_on(RuntimeApiEmulator::start()).expect("emulator");
        let endpoint = emulator.endpoint();
        match which {
            Runtime::This => {
                let endpoint = Endpoint::parse(&endpoint).expect("endpoint");
                rt.spawn(runtime::run(
                    endpoint,
                    Noop,
                    RuntimeOptions::default(),
                    std::future::pending(),
                ));
            }
            Runtime::LambdaRuntime => {
                // SAFETY: set before the lambda_runtime task starts; nothing
                // else in this process reads these variables concurrently.
                unsafe {
                    std::env::set_var("AWS_LAMBDA_RUNTIME_API", &endpoint);
                    for (key, value) in LAMBDA_ENV {
                        std::env::set_var(key, value);
                    }
                }
                rt.spawn(lambda_runtime::run(lambda_runtime::service_fn(
                    |_event: lambda_runtime::LambdaEvent<serde_json::Value>| async {
                        Ok::<_, lambda_runtime::Error>(serde_json::json!({"ok": true}))
                    },
                )));
            }
        }
        // Warm the connection, then check the answer is a real response.
        rt.block_on(invoke_batch(&emulator, 1));
        let first = emulator.posts().pop().expect("a post");
        assert_eq!(first.json(), serde_json::json!({"ok": true}));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| rt.block_on(invoke_batch(&emulator, iters)))
        });
    }
    group.finish();
}

/// The `s3:TestEvent` S3 sends when a notification is configured: the
/// function answers it without any S3 request, so its first response is
/// init plus one invocation.
const TEST_EVENT: &str = include_str!("../tests/fixtures/events/s3-test-event.json");

/// Spawns of each case, taken in turn, for the interleaved medians.
const PAIRED_ROUNDS: usize = 20;

/// Untimed pause after each spawn: the previous process's exit and its
/// emulator's connections finish before the next spawn starts.
const SETTLE: Duration = Duration::from_millis(5);

/// Where one cold start ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The process's first `/next` request (its init is over).
    FirstNext,
    /// The response to an `s3:TestEvent` queued before the process started.
    FirstResponse,
}

/// A function binary under the cold-start bench.
struct Program {
    path: PathBuf,
    /// Extensions it registers during init (`bootstrap`'s graceful shutdown).
    extensions: usize,
    /// Checks the response it posts for [`TEST_EVENT`].
    answers: fn(&serde_json::Value) -> bool,
}

/// Kills and reaps the child when the measurement ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `program` in a sandbox-like environment against a fresh emulator
/// and returns the time from spawn to `until`, after checking the process
/// did what it is timed for.
async fn time_cold_start(program: &Program, until: Until) -> Duration {
    let emulator = RuntimeApiEmulator::start().await.expect("emulator");
    let request_id =
        (until == Until::FirstResponse).then(|| emulator.enqueue(InvocationSpec::new(TEST_EVENT)));
    let started = Instant::now();
    let child = Reaped(
        Command::new(&program.path)
            .env_clear()
            .envs(s3_stream_testkit::sandbox::SANDBOX_ENV.iter().copied())
            .env("AWS_LAMBDA_RUNTIME_API", emulator.endpoint())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("function starts"),
    );
    let name = program.path.display();
    let elapsed = match request_id {
        None => {
            let asked = emulator.wait_for_next_requests(1, WAIT).await;
            assert!(asked, "{name} asked /next");
            let at = emulator.first_next_at().expect("the first /next was timed");
            at - started
        }
        Some(id) => {
            let post = emulator.wait_for_result(&id, WAIT).await;
            let post = post.unwrap_or_else(|| panic!("{name} answered the test event"));
            assert_eq!(post.kind, PostKind::Response, "{name}: {:?}", post.body);
            assert!((program.answers)(&post.json()), "{name}: {:?}", post.body);
            post.received_at - started
        }
    };
    assert!(
        emulator
            .posts()
            .iter()
            .all(|p| p.kind != PostKind::InitError),
        "{name} initialised without an init error"
    );
    assert_eq!(
        emulator.registered_extensions().len(),
        program.extensions,
        "{name} registered its extensions during init"
    );
    drop(child);
    drop(emulator);
    // Not timed: the killed process and the emulator's connections wind down
    // before the next spawn, instead of during it.
    tokio::time::sleep(SETTLE).await;
    elapsed
}

/// Copies `binary` into `dir`, as Lambda unpacks the function's zip into
/// its sandbox; returns the copy's path.
fn unpack(binary: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let name = binary.file_name().expect("a binary has a file name");
    let copy = dir.join(name);
    std::fs::copy(binary, &copy).expect("binary copied");
    copy
}

/// Measures, built in release, the time from process start to the first
/// `/next` request of a no-op function on this runtime (`hello`) and on
/// `lambda_runtime`, and of the real `bootstrap` with its real configuration;
/// then the time to the first response to an `s3:TestEvent` for `hello` and
/// `bootstrap`. Each binary runs from a fresh copy, as Lambda runs it from
/// the unpacked zip (a big binary straight from the linker starts slower: its
/// page cache is laid out as the linker wrote it). Prints the medians of
/// [`PAIRED_ROUNDS`] interleaved spawns of every case, then lets criterion
/// time each case.
fn cold_start(c: &mut Criterion) {
    use support::Target::{Bin, Example};
    let built = support::release_targets(
        "release",
        &[
            Example("hello_runtime"),
            Example("hello_lambda_runtime"),
            Bin("bootstrap"),
        ],
    );
    let [hello, lambda_runtime, bootstrap] = <[PathBuf; 3]>::try_from(built).expect("three built");
    let unpacked = tempfile::tempdir().expect("temporary directory");
    let program = |path: PathBuf, extensions, answers| Program {
        path: unpack(&path, unpacked.path()),
        extensions,
        answers,
    };
    let hello = program(hello, 0, |json| {
        json == &serde_json::json!({"hello": "world"})
    });
    // Timed to its first `/next` only.
    let lambda_runtime = program(lambda_runtime, 0, |_| false);
    let bootstrap = program(bootstrap, 1, |json| json["testEvent"] == true);
    let cases = [
        ("hello", &hello, Until::FirstNext),
        ("lambda_runtime", &lambda_runtime, Until::FirstNext),
        ("bootstrap", &bootstrap, Until::FirstNext),
        ("hello_first_response", &hello, Until::FirstResponse),
        ("bootstrap_first_response", &bootstrap, Until::FirstResponse),
    ];
    for (name, program) in [
        ("hello", &hello),
        ("lambda_runtime", &lambda_runtime),
        ("bootstrap", &bootstrap),
    ] {
        let size = std::fs::metadata(&program.path)
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 0, "{} exists", program.path.display());
        println!("runtime/cold_start/{name}: release binary is {size} bytes");
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    // Interleaved spawns first: on a shared machine the load drifts between
    // criterion's benches, but not between neighbouring spawns.
    let rounds = if support::smoke_test() {
        1
    } else {
        PAIRED_ROUNDS
    };
    let mut spawns: Vec<Vec<u64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        // Each round starts one case later, so no case always follows the same one.
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            let (_, program, until) = cases[index];
            let elapsed = rt.block_on(time_cold_start(program, until));
            spawns[index].push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        }
    }
    for ((name, ..), times) in cases.iter().zip(&mut spawns) {
        let median = support::median(times) as f64 / 1000.0;
        println!("runtime/cold_start/{name}: median of {rounds} interleaved spawns {median:.2} ms");
    }
    let mut group = c.benchmark_group("runtime/cold_start");
    group.sample_size(20);
    for (name, program, until) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(time_cold_start(program, until)))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, invoke, cold_start);
criterion_main!(benches);
