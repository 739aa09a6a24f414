//! Runtime benches: invocations per second through the whole loop, and cold start.

use criterion::{Criterion, criterion_group, criterion_main};
use s3_stream_lambda::runtime::{
    self, Context, Diagnostic, Endpoint, InvocationHandler, RuntimeOptions,
};
use s3_stream_testkit::emulator::{InvocationSpec, RuntimeApiEmulator};
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

/// Spawns `program` against a fresh emulator and returns the time from spawn
/// to its first `/next` request.
async fn time_to_first_next(program: &PathBuf) -> Duration {
    let emulator = RuntimeApiEmulator::start().await.expect("emulator");
    let started = Instant::now();
    let mut child = Command::new(program)
        .env("AWS_LAMBDA_RUNTIME_API", emulator.endpoint())
        .envs(LAMBDA_ENV.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("example starts");
    let asked = emulator.wait_for_next_requests(1, WAIT).await;
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert!(asked, "{} asked /next", program.display());
    elapsed
}

/// Measures the time from process start to the first `/next` request of a
/// no-op function, built in release, on this runtime and on `lambda_runtime`.
fn cold_start(c: &mut Criterion) {
    let programs = support::release_examples("release", &["hello_runtime", "hello_lambda_runtime"]);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut group = c.benchmark_group("runtime/cold_start");
    group.sample_size(20);
    for (name, program) in ["this", "lambda_runtime"].into_iter().zip(programs) {
        let size = std::fs::metadata(&program).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "{} exists", program.display());
        println!("runtime/cold_start/{name}: stripped release binary is {size} bytes");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(time_to_first_next(&program)))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, invoke, cold_start);
criterion_main!(benches);
