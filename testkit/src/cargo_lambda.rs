//! cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`) on loopback, and `cargo lambda invoke`, from the test kit's Python environment.
//!
//! The emulator most Rust Lambda developers run locally; the runtime is
//! tested against it as they run it: `watch` serves the Runtime API without
//! building anything, the test starts the `bootstrap` it already built, and
//! `invoke` sends each event.

use crate::python_env::{PythonEnv, PythonEnvError};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;
use tokio::time::Instant;

/// How long `cargo lambda watch` may take to listen on a loaded machine (it
/// runs `cargo metadata` first).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause between connection attempts while it starts.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The function name `watch --only-lambda-apis` serves and `invoke` names
/// by default.
pub const FUNCTION_NAME: &str = "_";

/// `watch` reads the package it would build with `cargo metadata`, so it
/// runs in a one-binary package of its own (never built), a workspace of its
/// own too: under a target directory inside this repository, `cargo` would
/// otherwise take it for a stray member of ours and refuse.
const MANIFEST: &str = "[package]\nname = \"cargo-lambda-emulator\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"bootstrap\"\npath = \"main.rs\"\n\n[workspace]\n";

/// Why the emulator could not be started or an invoke not sent.
#[derive(Debug, thiserror::Error)]
pub enum CargoLambdaError {
    /// The Python environment could not be made.
    #[error("failed to prepare the python environment for cargo-lambda")]
    Env(#[from] PythonEnvError),
    /// The package directory could not be written.
    #[error("failed to prepare {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// No loopback port.
    #[error("failed to find a free loopback port")]
    Port(#[source] std::io::Error),
    /// A process did not start.
    #[error("failed to start cargo-lambda")]
    Spawn(#[source] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("failed to wait for cargo-lambda")]
    Join(#[from] tokio::task::JoinError),
    /// The emulator never listened.
    #[error("cargo lambda watch did not listen on port {0} within {START_TIMEOUT:?}")]
    Timeout(u16),
}

/// A running `cargo lambda watch --only-lambda-apis`; stopped when dropped
/// or when this process exits.
pub struct CargoLambdaWatch {
    env: PythonEnv,
    port: u16,
    guard: Child,
}

/// What `cargo lambda invoke` printed and how it exited.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// True when it exited 0 (the function answered a response, not an error).
    pub success: bool,
    /// Its standard output: the response JSON on success.
    pub stdout: String,
    /// Its standard error: `Error: <errorType>` and the message on failure.
    pub stderr: String,
}

impl Invoked {
    /// The response as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The `errorType` of a failed invoke, as cargo-lambda prints it
    /// (`Error: Runtime.MalformedEvent`).
    pub fn error_type(&self) -> Option<&str> {
        self.stderr
            .lines()
            .find_map(|line| line.trim().strip_prefix("Error: "))
            .map(str::trim)
    }
}

impl CargoLambdaWatch {
    /// Starts `cargo lambda watch --only-lambda-apis` on a free loopback
    /// port (creating the Python environment first if needed) and waits
    /// until it listens.
    ///
    /// # Cancellation
    ///
    /// Dropping the future after the process started drops the guard,
    /// which stops cargo-lambda.
    pub async fn start() -> Result<CargoLambdaWatch, CargoLambdaError> {
        let env = tokio::task::spawn_blocking(PythonEnv::ensure).await??;
        let package = env.dir().join("cargo-lambda-package");
        std::fs::create_dir_all(&package).map_err(|e| CargoLambdaError::Io(package.clone(), e))?;
        for (name, text) in [("Cargo.toml", MANIFEST), ("main.rs", "fn main() {}\n")] {
            let path = package.join(name);
            std::fs::write(&path, text).map_err(|e| CargoLambdaError::Io(path, e))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(CargoLambdaError::Port)?
            .port();
        let port_text = port.to_string();
        let guard = env
            .spawn_guarded(
                &env.bin("cargo-lambda"),
                &[
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "--invoke-address",
                    "127.0.0.1",
                    "--invoke-port",
                    &port_text,
                ],
                &package,
            )
            .map_err(CargoLambdaError::Spawn)?;
        let watch = CargoLambdaWatch { env, port, guard };
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(watch);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Err(CargoLambdaError::Timeout(port))
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`, as `watch` prints it.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// `cargo lambda invoke --data-ascii PAYLOAD` against this emulator.
    pub async fn invoke(&self, payload: &str) -> Result<Invoked, CargoLambdaError> {
        let mut command = Command::new(self.env.bin("cargo-lambda"));
        command.args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &self.port.to_string(),
            "--output-format",
            "json",
            "--data-ascii",
            payload,
            FUNCTION_NAME,
        ]);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await?
            .map_err(CargoLambdaError::Spawn)?;
        Ok(Invoked {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

impl Drop for CargoLambdaWatch {
    fn drop(&mut self) {
        // Closing stdin makes the guard kill cargo-lambda and exit.
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}
