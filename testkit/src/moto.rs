//! A moto_server on loopback, from the test kit's Python environment, stopped when dropped.

use crate::python_env::{PythonEnv, PythonEnvError};
use std::process::Child;
use std::time::Duration;
use tokio::time::Instant;

/// How long moto_server may take to start listening on a loaded machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause between connection attempts while moto_server starts: short against
/// its ~1 s start-up, long enough not to spin.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Why moto_server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The Python environment could not be made.
    #[error("failed to prepare the python environment for moto_server")]
    Env(#[from] PythonEnvError),
    /// No loopback port.
    #[error("failed to find a free loopback port")]
    Port(#[source] std::io::Error),
    /// The guard process did not start.
    #[error("failed to start moto_server")]
    Spawn(#[source] std::io::Error),
    /// The environment task panicked or was cancelled.
    #[error("failed to wait for the python environment")]
    Join(#[from] tokio::task::JoinError),
    /// The server never listened.
    #[error("moto_server did not listen on {0} within {START_TIMEOUT:?}")]
    Timeout(String),
}

/// A running moto_server; stopped when dropped or when this process exits.
pub struct MotoServer {
    endpoint: String,
    guard: Child,
}

impl MotoServer {
    /// Starts moto_server on a free loopback port (creating the Python
    /// environment first if needed) and waits until it listens.
    ///
    /// # Cancellation
    ///
    /// Dropping the future after the process started drops the guard's
    /// stdin, which stops moto_server.
    pub async fn start() -> Result<MotoServer, MotoError> {
        let env = tokio::task::spawn_blocking(PythonEnv::ensure).await??;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(MotoError::Port)?
            .port();
        let guard = env
            .spawn_guarded(
                &env.bin("moto_server"),
                &["-H", "127.0.0.1", "-p", &port.to_string()],
                env.dir(),
            )
            .map_err(MotoError::Spawn)?;
        let server = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            guard,
        };
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Err(MotoError::Timeout(server.endpoint.clone()))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing stdin makes the guard kill moto_server and exit.
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}
