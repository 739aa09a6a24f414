//! Compression threads that outlive a push: gzip members go in as they fill and come back in input order.
//!
//! Compressing each push's members to their end before returning leaves
//! every worker idle while the copy reads the next block and dispatches
//! parts, and the fastest worker idle at the end of every push. A pool keeps
//! up to [`MEMBERS_IN_FLIGHT_PER_WORKER`] members per worker queued or
//! compressing across pushes, so the workers go on while the copy's loop
//! does its I/O; results are handed back in the order members went in.
//!
//! # Cancellation
//!
//! Dropping the pool closes its queue and its results: each worker finishes
//! the member it holds (one member's work), finds no one to hand it to and
//! exits, leaving queued members untouched; nothing is waited for, so a copy
//! dropped on an async thread never blocks on compression.

use super::TransformError;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Members queued or compressing per worker: two leave each worker its
/// current member and the next when a push returns (~17 ms of work at level
/// 6, ~4 ms at level 2: 2 MiB at the transform bench's 121.9 and ~500 MB/s
/// per core), more than
/// the copy's loop takes to hand on the output and push the next block when
/// that block has arrived, while the window stays ~4.3 MiB per worker (at
/// 512 MB every MiB of it comes out of a 64 MiB budget).
pub const MEMBERS_IN_FLIGHT_PER_WORKER: usize = 2;

/// A member's input: slices of the pushed chunks, in order.
pub type MemberInput = Vec<Bytes>;

/// A compressed member, or why it could not be made.
pub type MemberResult = Result<Vec<u8>, TransformError>;

/// What the workers run on each member.
type Compress = dyn Fn(&[Bytes]) -> MemberResult + Send + Sync;

/// A numbered member on its way to a worker.
type Job = (u64, MemberInput);

/// Workers compressing members; see the module docs.
pub struct MemberPool {
    workers: usize,
    compress: Arc<Compress>,
    /// The queue the workers take from; `None` until the first member.
    jobs: Option<Sender<Job>>,
    results: Option<Receiver<(u64, MemberResult)>>,
    /// Results that came back ahead of an earlier member.
    ready: BTreeMap<u64, MemberResult>,
    submitted: u64,
    emitted: u64,
}

impl MemberPool {
    /// A pool of `workers` threads (started with the first member) running
    /// `compress`.
    pub fn new(
        workers: usize,
        compress: impl Fn(&[Bytes]) -> MemberResult + Send + Sync + 'static,
    ) -> MemberPool {
        MemberPool {
            workers: workers.max(1),
            compress: Arc::new(compress),
            jobs: None,
            results: None,
            ready: BTreeMap::new(),
            submitted: 0,
            emitted: 0,
        }
    }

    /// Members that may be queued or compressing at once.
    pub fn limit(&self) -> usize {
        self.workers * MEMBERS_IN_FLIGHT_PER_WORKER
    }

    /// True before the first member: nothing was started.
    pub fn is_idle(&self) -> bool {
        self.jobs.is_none()
    }

    /// Queues `input`, first waiting for the oldest member while the pool
    /// is full, and appends every result that is next in order.
    pub fn submit(
        &mut self,
        input: MemberInput,
        output: &mut Vec<Bytes>,
    ) -> Result<(), TransformError> {
        while self.submitted - self.emitted >= self.limit() as u64 {
            self.wait_next(output)?;
        }
        let number = self.submitted;
        let jobs = match &self.jobs {
            Some(jobs) => jobs,
            None => self.start()?,
        };
        jobs.send((number, input))
            .map_err(|_| stopped("took no more members"))?;
        self.submitted += 1;
        self.collect_ready(output)
    }

    /// Waits for every queued member and appends the results in order.
    pub fn flush(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        while self.emitted < self.submitted {
            self.wait_next(output)?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<&Sender<Job>, TransformError> {
        let (jobs, queue) = unbounded::<Job>();
        let (done, results) = unbounded();
        for index in 0..self.workers {
            let queue = queue.clone();
            let done = done.clone();
            let compress = Arc::clone(&self.compress);
            std::thread::Builder::new()
                .name(format!("gzip-worker-{index}"))
                .spawn(move || {
                    // Ends when the pool is dropped (the queue closes) or
                    // stops listening.
                    while let Ok((number, input)) = queue.recv() {
                        if done.send((number, compress(&input))).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| TransformError {
                    name: "gzip",
                    message: format!("starting a compression thread failed: {e}"),
                })?;
        }
        self.results = Some(results);
        Ok(self.jobs.insert(jobs))
    }

    /// Blocks until the next member in order is back, then appends it and
    /// any that follow it.
    fn wait_next(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        while !self.ready.contains_key(&self.emitted) {
            let results = self
                .results
                .as_ref()
                .ok_or_else(|| stopped("was never started"))?;
            let (number, result) = results
                .recv()
                .map_err(|_| stopped("stopped before its last member"))?;
            self.ready.insert(number, result);
        }
        self.collect_ready(output)
    }

    /// Takes whatever has come back without waiting and appends the results
    /// that are next in order.
    fn collect_ready(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if let Some(results) = &self.results {
            while let Ok((number, result)) = results.try_recv() {
                self.ready.insert(number, result);
            }
        }
        while let Some(result) = self.ready.remove(&self.emitted) {
            self.emitted += 1;
            let member = result?;
            if !member.is_empty() {
                output.push(Bytes::from(member));
            }
        }
        Ok(())
    }
}

fn stopped(what: &str) -> TransformError {
    TransformError {
        name: "gzip",
        message: format!("the compression pool {what}: a compression thread panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Reverses each member, slower for earlier members, so results come
    /// back out of order.
    fn reversed(input: &[Bytes]) -> MemberResult {
        let mut bytes = input.concat();
        let delay = 20u64.saturating_sub(u64::from(bytes.first().copied().unwrap_or(0)));
        std::thread::sleep(std::time::Duration::from_millis(delay));
        bytes.reverse();
        Ok(bytes)
    }

    #[test]
    fn results_come_back_in_input_order() {
        let mut pool = MemberPool::new(3, reversed);
        let mut output = Vec::new();
        for n in 0..20u8 {
            pool.submit(vec![Bytes::from(vec![n, 100 + n])], &mut output)
                .unwrap();
            assert!(pool.submitted - pool.emitted <= pool.limit() as u64);
        }
        pool.flush(&mut output).unwrap();
        let expected: Vec<Bytes> = (0..20u8).map(|n| Bytes::from(vec![100 + n, n])).collect();
        assert_eq!(output, expected);
    }

    #[test]
    fn a_failed_member_fails_the_pool_in_its_turn() {
        let mut pool = MemberPool::new(2, |input: &[Bytes]| match input.first() {
            Some(first) if first[..] == [2] => Err(TransformError {
                name: "gzip",
                message: "member 2 failed".into(),
            }),
            _ => Ok(input.concat()),
        });
        let mut output = Vec::new();
        let mut failure = None;
        for n in 0..5u8 {
            if let Err(error) = pool.submit(vec![Bytes::from(vec![n])], &mut output) {
                failure = Some(error);
                break;
            }
        }
        let failure = match failure {
            Some(error) => error,
            None => pool.flush(&mut output).unwrap_err(),
        };
        assert_eq!(failure.message, "member 2 failed");
        assert_eq!(output, vec![Bytes::from(vec![0]), Bytes::from(vec![1])]);
    }

    #[test]
    fn a_dropped_pool_compresses_no_queued_member() {
        let (started_tx, started) = std::sync::mpsc::channel::<u8>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started_tx, released) = (Mutex::new(started_tx), Mutex::new(released));
        let mut pool = MemberPool::new(1, move |input: &[Bytes]| {
            let _ = started_tx.lock().unwrap().send(input[0][0]);
            let _ = released.lock().unwrap().recv();
            Ok(input.concat())
        });
        let mut output = Vec::new();
        for n in 0..2u8 {
            pool.submit(vec![Bytes::from(vec![n])], &mut output)
                .unwrap();
        }
        assert_eq!(started.recv(), Ok(0), "the worker holds member 0");
        drop(pool);
        release.send(()).unwrap();
        // Member 0's result has nowhere to go, so the worker exits (dropping
        // the closure and its sender) without starting member 1.
        assert_eq!(started.recv(), Err(std::sync::mpsc::RecvError));
    }

    #[test]
    fn nothing_starts_before_the_first_member() {
        let mut pool = MemberPool::new(4, reversed);
        assert!(pool.is_idle());
        let mut output = Vec::new();
        pool.flush(&mut output).unwrap();
        assert!(output.is_empty());
    }
}
