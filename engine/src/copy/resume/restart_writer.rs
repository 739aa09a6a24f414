//! A transformed copy's restart point, written into its checkpoint as parts finish: coalesced, in the background.
//!
//! A transformed copy can resume only from a point its checkpoint names
//! ([`Restart`]): S3 keeps the parts, not which input made them. Each
//! advance of the finished prefix is sent here; a task writes the newest
//! one (`If-Match` on the checkpoint) at most every
//! [`RESTART_WRITE_INTERVAL`], so a crash loses at most that much work, and
//! a stop flushes the newest within [`RESTART_FLUSH_BUDGET`], beside the
//! upload's own cleanup.

use super::checkpoint::{self, Checkpoint, Expect, Restart, WriteFailed};
use aws_sdk_s3::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The most often the restart point is written: a `PutObject` every 5 s is
/// 180 in 15 minutes (under $0.001), and a crash redoes at most 5 s of parts.
pub const RESTART_WRITE_INTERVAL: Duration = Duration::from_secs(5);

/// How long a stop waits for the newest restart point to be written. It
/// runs beside the upload's cleanup, so it must fit the stop's budget
/// (asserted): one small conditional `PutObject`.
pub const RESTART_FLUSH_BUDGET: Duration = super::super::upload::abort::ABORT_BUDGET;

const _: () = assert!(
    RESTART_FLUSH_BUDGET.as_millis() <= super::STOP_BUDGET.as_millis(),
    "the restart flush runs beside the stop's cleanup and must fit its budget"
);

/// The writer of one attempt's restart points; dropping it stops the task
/// (a write in flight may still land: it is conditional, and names parts
/// that are in S3).
pub(crate) struct RestartWriter {
    wanted: watch::Sender<Restart>,
    written: watch::Receiver<Restart>,
    flush: Arc<Notify>,
    task: JoinHandle<()>,
}

impl RestartWriter {
    /// Starts writing `checkpoint` (written with `etag`) at `key` of `bucket`
    /// whenever a newer restart point is recorded.
    pub fn start(
        client: Client,
        bucket: String,
        key: String,
        mut checkpoint: Checkpoint,
        mut etag: String,
    ) -> RestartWriter {
        let start = checkpoint
            .transformed
            .as_ref()
            .map(|t| t.restart)
            .unwrap_or_default();
        let (wanted, mut requested) = watch::channel(start);
        let (confirm, written) = watch::channel(start);
        let flush = Arc::new(Notify::new());
        let flushed = Arc::clone(&flush);
        let task = tokio::spawn(async move {
            while requested.changed().await.is_ok() {
                let restart = *requested.borrow_and_update();
                if let Some(transformed) = checkpoint.transformed.as_mut() {
                    transformed.restart = restart;
                }
                let write =
                    checkpoint::write(&client, &bucket, &key, &checkpoint, Expect::Etag(&etag));
                match write.await {
                    Ok(next) => {
                        etag = next;
                        confirm.send_replace(restart);
                    }
                    Err(WriteFailed::Raced) => {
                        tracing::warn!(
                            "checkpoint s3://{bucket}/{key} changed under this attempt: its restart point is no longer written"
                        );
                        return;
                    }
                    Err(WriteFailed::Failed(error)) => {
                        tracing::warn!(
                            "could not write the restart point to s3://{bucket}/{key}: {error} (tried again with the next one)"
                        );
                        requested.mark_changed();
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(RESTART_WRITE_INTERVAL) => {}
                    () = flushed.notified() => {}
                }
            }
        });
        RestartWriter {
            wanted,
            written,
            flush,
            task,
        }
    }

    /// Records `restart` if it is further on than the one recorded.
    pub fn record(&self, restart: Restart) {
        self.wanted.send_if_modified(|wanted| {
            let further = restart.parts_done > wanted.parts_done;
            if further {
                *wanted = restart;
            }
            further
        });
    }

    /// The newest restart point S3 holds.
    pub fn written(&self) -> Restart {
        *self.written.borrow()
    }

    /// Writes the newest restart point now, waiting for it at most
    /// `budget`; the newest S3 holds then.
    pub async fn flush(&self, budget: Duration) -> Restart {
        let wanted = *self.wanted.borrow();
        self.flush.notify_one();
        let mut written = self.written.clone();
        let landed = written.wait_for(|written| written.parts_done >= wanted.parts_done);
        let _ = tokio::time::timeout(budget, landed).await;
        self.written()
    }
}

impl Drop for RestartWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
