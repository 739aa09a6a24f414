//! The test kit's one Python virtual environment: moto lives there, never in the system interpreter.
//!
//! It sits under the cargo target directory (`TARGET/py-venv`), is created on
//! first use and reused after, so `cargo test` and `./local-stack.sh` need no
//! manual step and work where the system Python refuses installs (PEP 668).
//! Creation takes a file lock, so parallel test processes create it once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The moto version that first parses the Rust SDK's CompleteMultipartUpload
/// (5.2.1 answers with an XML root the SDK cannot read); awscrt gives moto
/// real CRC64NVME checksums (it falls back to CRC32 without it).
/// PyYAML checks the `yaml-json` transform against an independent parser.
pub const REQUIREMENTS: &[&str] = &["moto[server]>=5.2.5", "awscrt>=0.20", "PyYAML>=6"];

/// Overrides where the environment lives (any directory).
pub const VENV_DIR_ENV: &str = "S3SL_PYTHON_VENV";

/// The environment's directory name inside the target directory.
const VENV_DIR_NAME: &str = "py-venv";

/// Proves the environment is complete: the packages import and moto is new enough.
const CHECK_SCRIPT: &str = "import moto, awscrt, yaml\n\
from importlib.metadata import version\n\
v = tuple(int(x) for x in version('moto').split('.')[:3])\n\
raise SystemExit(0 if v >= (5, 2, 5) else 1)\n";

/// Why the environment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PythonEnvError {
    /// No python3 on `PATH`.
    #[error("failed to run python3 (install Python 3, e.g. `apt-get install python3`)")]
    NoPython(#[source] std::io::Error),
    /// `python3 -m venv` failed, usually for a missing `venv` module.
    #[error(
        "failed to create a virtual environment in {dir}: {stderr} (on Debian/Ubuntu: `apt-get install python3-venv`)"
    )]
    Venv {
        /// Where.
        dir: PathBuf,
        /// What python3 said.
        stderr: String,
    },
    /// pip could not install the requirements.
    #[error("failed to install {} into {dir}: {stderr}", REQUIREMENTS.join(" "))]
    Install {
        /// Where.
        dir: PathBuf,
        /// What pip said.
        stderr: String,
    },
    /// The lock file or directory could not be made.
    #[error("failed to prepare {0}")]
    Io(PathBuf, #[source] std::io::Error),
}

/// A ready virtual environment holding moto.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    dir: PathBuf,
}

impl PythonEnv {
    /// The environment, created (and its requirements installed) when missing
    /// or incomplete. Blocking: it may run pip for a minute on first use.
    pub fn ensure() -> Result<PythonEnv, PythonEnvError> {
        let dir = default_dir();
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| PythonEnvError::Io(parent.into(), e))?;
        let lock_path = dir.with_extension("lock");
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| PythonEnvError::Io(lock_path.clone(), e))?;
        lock.lock().map_err(|e| PythonEnvError::Io(lock_path, e))?;
        let env = PythonEnv { dir };
        if !env.is_complete() {
            env.create()?;
        }
        Ok(env)
    }

    /// The environment's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An executable of the environment (`python`, `moto_server`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    fn is_complete(&self) -> bool {
        Command::new(self.bin("python"))
            .args(["-c", CHECK_SCRIPT])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn create(&self) -> Result<(), PythonEnvError> {
        let venv = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&self.dir)
            .output()
            .map_err(PythonEnvError::NoPython)?;
        if !venv.status.success() {
            return Err(PythonEnvError::Venv {
                dir: self.dir.clone(),
                stderr: String::from_utf8_lossy(&venv.stderr).trim().to_owned(),
            });
        }
        let install = Command::new(self.bin("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(REQUIREMENTS)
            .output()
            .map_err(|e| PythonEnvError::Io(self.bin("python"), e))?;
        if !install.status.success() {
            return Err(PythonEnvError::Install {
                dir: self.dir.clone(),
                stderr: String::from_utf8_lossy(&install.stderr).trim().to_owned(),
            });
        }
        Ok(())
    }
}

/// `S3SL_PYTHON_VENV`, else `py-venv` in the cargo target directory this
/// program was built into (found from the running executable, since cargo
/// marks its target directory with `CACHEDIR.TAG`), else in the workspace's
/// `target/`.
fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(VENV_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    from_exe
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join(VENV_DIR_NAME)
}
