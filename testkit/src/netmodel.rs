//! A network model: two network namespaces joined by a veth pair, each direction capped with `tbf`, for copies that are bound by the link.
//!
//! The S3 side listens on an address that exists only inside its namespace;
//! the copy runs in the other one (`ip netns exec`), so every byte crosses
//! the veth pair and its token-bucket filters: one on each end's egress,
//! so downloads and uploads have independent caps, as on Lambda. There is no
//! added latency (`netem` is not available on these kernels). Needs root and
//! iproute2; [`NetModel::create`] says so when either is missing. Dropping
//! the model deletes both namespaces (and with them the veth pair).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::Command;

/// Bytes `tbf` lets through at line rate before the cap applies: four
/// 64 KiB GSO packets, small against a second of traffic at any modeled rate.
pub const TBF_BURST: u64 = 256 * 1024;

/// How long a packet may wait in `tbf`'s queue before it is dropped: enough
/// that TCP sees a queue, not loss, at the modeled rates.
pub const TBF_LATENCY_MS: u64 = 50;

/// Why the model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetModelError {
    /// Not running as root (network namespaces need `CAP_SYS_ADMIN`).
    #[error("the network model needs root (ip netns), and this process runs as uid {0}")]
    NotRoot(u32),
    /// `ip` (iproute2) is not installed.
    #[error("the network model needs iproute2's ip and tc: {0}")]
    NoIproute(#[source] std::io::Error),
    /// A setup command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        stderr: String,
    },
    /// Entering the S3 namespace to bind its listener failed.
    #[error("failed to bind {addr} inside network namespace {namespace}")]
    Bind {
        /// The namespace.
        namespace: String,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The two namespaces and their link; deleted when dropped.
#[derive(Debug)]
pub struct NetModel {
    s3_namespace: String,
    copy_namespace: String,
    s3_ip: Ipv4Addr,
}

/// Runs `ip`/`tc` with `args`, failing with what it printed.
fn run(program: &str, args: &[&str]) -> Result<(), NetModelError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(NetModelError::NoIproute)?;
    if output.status.success() {
        return Ok(());
    }
    Err(NetModelError::Command {
        command: format!("{program} {}", args.join(" ")),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

impl NetModel {
    /// Builds the model: namespaces `s3sl-s3-PID` and `s3sl-copy-PID`, a veth
    /// pair between them on `10.233.N.0/30` (N from the process id), and a
    /// `tbf` of `download_rate` bytes/s on the S3 end's egress and of
    /// `upload_rate` on the copy end's.
    pub fn create(download_rate: u64, upload_rate: u64) -> Result<NetModel, NetModelError> {
        let uid = effective_uid();
        if uid != 0 {
            return Err(NetModelError::NotRoot(uid));
        }
        let pid = std::process::id();
        let subnet = (pid % 250) as u8 + 1;
        let model = NetModel {
            s3_namespace: format!("s3sl-s3-{pid}"),
            copy_namespace: format!("s3sl-copy-{pid}"),
            s3_ip: Ipv4Addr::new(10, 233, subnet, 1),
        };
        let copy_ip = Ipv4Addr::new(10, 233, subnet, 2);
        // Interface names are at most 15 bytes.
        let s3_end = format!("s3v{pid}");
        let copy_end = format!("cpv{pid}");
        run("ip", &["netns", "add", &model.s3_namespace])?;
        // From here on, a failure drops `model`, which deletes what exists.
        run("ip", &["netns", "add", &model.copy_namespace])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &s3_end,
                "netns",
                &model.s3_namespace,
                "type",
                "veth",
                "peer",
                "name",
                &copy_end,
                "netns",
                &model.copy_namespace,
            ],
        )?;
        for (namespace, device, ip, rate) in [
            (&model.s3_namespace, &s3_end, model.s3_ip, download_rate),
            (&model.copy_namespace, &copy_end, copy_ip, upload_rate),
        ] {
            let exec = |args: &[&str]| {
                let mut all = vec!["netns", "exec", namespace.as_str()];
                all.extend_from_slice(args);
                run("ip", &all)
            };
            exec(&["ip", "addr", "add", &format!("{ip}/30"), "dev", device])?;
            exec(&["ip", "link", "set", device, "up"])?;
            exec(&["ip", "link", "set", "lo", "up"])?;
            exec(&[
                "tc",
                "qdisc",
                "add",
                "dev",
                device,
                "root",
                "tbf",
                "rate",
                &format!("{}bit", rate * 8),
                "burst",
                &TBF_BURST.to_string(),
                "latency",
                &format!("{TBF_LATENCY_MS}ms"),
            ])?;
        }
        Ok(model)
    }

    /// The S3 side's address (only reachable from the copy namespace).
    pub fn s3_ip(&self) -> Ipv4Addr {
        self.s3_ip
    }

    /// Binds a listener on the S3 address, port chosen by the system: a
    /// thread enters the S3 namespace, binds, and ends; the socket stays in
    /// that namespace, so a server in this process serves it there.
    pub fn bind_s3(&self) -> Result<TcpListener, NetModelError> {
        let namespace = self.s3_namespace.clone();
        let addr = SocketAddr::from((self.s3_ip, 0));
        let bind = move || -> std::io::Result<TcpListener> {
            let file = std::fs::File::open(format!("/var/run/netns/{namespace}"))?;
            // SAFETY: setns on a namespace file descriptor we hold open
            // changes only this thread's network namespace; the thread ends
            // right after binding.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            TcpListener::bind(addr)
        };
        std::thread::spawn(bind)
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the binding thread panicked")))
            .map_err(|source| NetModelError::Bind {
                namespace: self.s3_namespace.clone(),
                addr,
                source,
            })
    }

    /// `program` to be run inside the copy namespace (`ip netns exec`).
    pub fn copy_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.copy_namespace])
            .arg(program);
        command
    }
}

impl Drop for NetModel {
    fn drop(&mut self) {
        for namespace in [&self.copy_namespace, &self.s3_namespace] {
            if let Err(error) = run("ip", &["netns", "del", namespace]) {
                eprintln!("netmodel: {error}");
            }
        }
    }
}
