//! Lambda's shutdown phase in the emulator: which signal the runtime gets, and the `SHUTDOWN` events.

use super::extension::{Extensions, lock, now_ms};
use std::time::{Duration, Instant};

/// Lambda caps the whole shutdown phase at 2 s: the `deadlineMs` of a
/// `SHUTDOWN` event is this long after the phase starts.
pub const SHUTDOWN_PHASE_LIMIT: Duration = Duration::from_secs(2);
/// The `shutdownReason` of a shutdown the test requests: the environment is
/// retired while healthy.
pub const SHUTDOWN_REASON: &str = "spindown";

/// The signal Lambda sends the runtime process when the shutdown phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    /// SIGTERM: at least one extension is registered, so the runtime gets a
    /// graceful-shutdown window.
    Term,
    /// SIGKILL: no extension registered, so no window.
    Kill,
}

/// A shutdown phase the emulator started.
#[derive(Debug, Clone)]
pub struct ShutdownPhase {
    /// When it started (just before the signal was sent).
    pub started_at: Instant,
    /// The `deadlineMs` of the `SHUTDOWN` events, Unix milliseconds.
    pub deadline_ms: u64,
    /// The signal the runtime process gets.
    pub signal: ShutdownSignal,
}

impl Extensions {
    /// Starts the shutdown phase once: closes registration, queues `SHUTDOWN`
    /// for its subscribers, and says which signal the runtime gets. Later
    /// calls return the first phase.
    pub(super) fn begin_shutdown(&self) -> ShutdownPhase {
        let mut shutdown = lock(&self.shutdown);
        if let Some(phase) = shutdown.as_ref() {
            return phase.clone();
        }
        self.close_registration();
        let deadline_ms = now_ms() + SHUTDOWN_PHASE_LIMIT.as_millis() as u64;
        let any = self.any_registered();
        self.deliver(
            "SHUTDOWN",
            &serde_json::json!({
                "eventType": "SHUTDOWN",
                "shutdownReason": SHUTDOWN_REASON,
                "deadlineMs": deadline_ms,
            }),
        );
        let phase = ShutdownPhase {
            started_at: Instant::now(),
            deadline_ms,
            signal: if any {
                ShutdownSignal::Term
            } else {
                ShutdownSignal::Kill
            },
        };
        *shutdown = Some(phase.clone());
        phase
    }

    pub(super) fn shutdown_phase(&self) -> Option<ShutdownPhase> {
        lock(&self.shutdown).clone()
    }
}

/// The process id `pid` as kill(2) takes it; 0 and ids that would be
/// negative (process groups) are refused.
pub(super) fn process(pid: u32) -> std::io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{pid} is not a process id"),
            )
        })
}

/// Sends `signal` to the process `target`.
pub(super) fn send(target: libc::pid_t, signal: ShutdownSignal) -> std::io::Result<()> {
    let number = match signal {
        ShutdownSignal::Term => libc::SIGTERM,
        ShutdownSignal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(target, number) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
