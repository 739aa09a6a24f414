//! A moto_server on loopback for tests, benches and the local stack (never used in Lambda).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto_server may take to start on a loaded machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The moto version that first parses the Rust SDK's CompleteMultipartUpload
/// (5.2.1 answers with an XML root the SDK cannot read).
pub const MOTO_REQUIREMENT: &str = "moto[server]>=5.2.5";

/// Why moto_server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// No loopback port.
    #[error("failed to find a free loopback port")]
    Port(#[source] std::io::Error),
    /// python3 did not start.
    #[error("failed to start python3 for moto_server (install {MOTO_REQUIREMENT} awscrt)")]
    Spawn(#[source] std::io::Error),
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
    /// Starts moto_server on a free loopback port, under a small Python guard
    /// that kills it when our end of its stdin closes (so it never outlives us).
    pub fn start() -> Result<MotoServer, MotoError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(MotoError::Port)?
            .port();
        let guard_script = "import subprocess,sys\n\
p=subprocess.Popen(['moto_server','-H','127.0.0.1','-p',sys.argv[1]],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n\
sys.stdin.read()\n\
p.kill()\n";
        let guard = Command::new("python3")
            .args(["-c", guard_script, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(MotoServer { endpoint, guard });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(MotoError::Timeout(endpoint))
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
