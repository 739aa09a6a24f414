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

/// Installed without its dependencies: cargo-lambda's emulator, which the
/// runtime is tested under as Rust developers run it. Its one dependency,
/// ziglang (400 MB), only cross-compiles, which the tests never do.
pub const NO_DEPS_REQUIREMENTS: &[&str] = &["cargo-lambda>=1.9,<1.10"];

/// Starts the command in `sys.argv[1:]` and kills it when our end of its
/// stdin closes, so a server never outlives the test process (even one that
/// is killed, with no `Drop` run).
const GUARD_SCRIPT: &str = "import subprocess,sys\n\
p=subprocess.Popen(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n\
sys.stdin.read()\n\
p.kill()\n";

/// Overrides where the environment lives (any directory).
pub const VENV_DIR_ENV: &str = "S3SL_PYTHON_VENV";

/// The environment's directory name inside the target directory.
const VENV_DIR_NAME: &str = "py-venv";

/// Proves the environment is complete: the packages import, moto is new
/// enough and cargo-lambda is a 1.9 release.
const CHECK_SCRIPT: &str = "import moto, awscrt, yaml\n\
from importlib.metadata import version\n\
v = tuple(int(x) for x in version('moto').split('.')[:3])\n\
c = tuple(int(x) for x in version('cargo-lambda').split('.')[:2])\n\
raise SystemExit(0 if v >= (5, 2, 5) and c == (1, 9) else 1)\n";

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
    #[error(
        "failed to install {} {} into {dir}: {stderr}",
        REQUIREMENTS.join(" "),
        NO_DEPS_REQUIREMENTS.join(" ")
    )]
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

    /// An executable of the environment (`python`, `moto_server`, `cargo-lambda`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// Starts `program args` in `dir` under a guard process of this
    /// environment's Python that kills it when the returned child's stdin
    /// closes (drop it, or exit): servers the tests start never outlive them.
    pub fn spawn_guarded(
        &self,
        program: &Path,
        args: &[&str],
        dir: &Path,
    ) -> std::io::Result<std::process::Child> {
        Command::new(self.bin("python"))
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
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
        self.pip_install(&[], REQUIREMENTS)?;
        self.pip_install(&["--no-deps"], NO_DEPS_REQUIREMENTS)
    }

    fn pip_install(&self, flags: &[&str], requirements: &[&str]) -> Result<(), PythonEnvError> {
        let install = Command::new(self.bin("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(flags)
            .args(requirements)
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
