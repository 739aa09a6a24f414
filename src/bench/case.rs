//! What a bench measures: one list of operations, and the sweep of part sizes and concurrency each runs at, interleaved.

use crate::copy::memory::MAX_PIPED_PARTS;
use crate::copy::part_size::MIB;
use serde::{Deserialize, Serialize};

/// One kind of transfer a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Ranged GETs of the source, bodies dropped.
    Get,
    /// A multipart upload from memory.
    Put,
    /// `bootstrap`'s streamed copy (each part's GET piped into its `UploadPart`).
    Stream,
    /// `bootstrap`'s server-side copy (`UploadPartCopy`: no byte crosses the function).
    Server,
    /// GETs of small objects.
    SmallGet,
    /// PUTs of small objects.
    SmallPut,
}

impl Operation {
    /// Every operation, in the order tables and charts show them.
    pub const ALL: [Operation; 6] = [
        Operation::Get,
        Operation::Put,
        Operation::Stream,
        Operation::Server,
        Operation::SmallGet,
        Operation::SmallPut,
    ];

    /// Its name in tables, JSON and charts.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Put => "put",
            Operation::Stream => "stream",
            Operation::Server => "server",
            Operation::SmallGet => "small-get",
            Operation::SmallPut => "small-put",
        }
    }

    /// The requests whose time to first byte its row reports.
    pub fn timed_requests(self) -> &'static [&'static str] {
        match self {
            Operation::Get | Operation::Stream | Operation::SmallGet => &["GetObject"],
            Operation::Put => &["UploadPart"],
            // An object up to the part copy size is one `CopyObject`.
            Operation::Server => &["UploadPartCopy", "CopyObject"],
            Operation::SmallPut => &["PutObject"],
        }
    }

    /// True for the small-object operations, whose rows are about requests
    /// per second, not bytes.
    pub fn is_small(self) -> bool {
        matches!(self, Operation::SmallGet | Operation::SmallPut)
    }

    /// The part sizes and concurrencies it is measured at.
    pub fn sweep(self) -> Vec<(u64, usize)> {
        let grid = |parts: &[u64], concurrency: &[usize]| {
            parts
                .iter()
                .flat_map(|part| concurrency.iter().map(move |c| (part * MIB, *c)))
                .collect()
        };
        match self {
            Operation::Get => grid(&[GET_PART_MIB], &GET_CONCURRENCY),
            Operation::Put => grid(&PUT_PART_MIB, &PUT_CONCURRENCY),
            Operation::Stream => grid(&STREAM_PART_MIB, &STREAM_CONCURRENCY),
            Operation::Server => SERVER_SWEEP
                .iter()
                .map(|(part, c)| (part * MIB, *c))
                .collect(),
            Operation::SmallGet | Operation::SmallPut => grid(&[0], &SMALL_CONCURRENCY),
        }
    }
}

/// The part of the GET-only sweep: the product's default part size.
pub const GET_PART_MIB: u64 = 8;

/// Concurrency of the GET-only sweep: from one connection to more than a
/// large Lambda's link needs (S3 gives one connection ~85–90 MB/s).
pub const GET_CONCURRENCY: [usize; 5] = [1, 2, 4, 8, 16];

/// Part sizes of the PUT-only sweep.
pub const PUT_PART_MIB: [u64; 3] = [8, 16, 32];

/// Concurrency of the PUT-only sweep.
pub const PUT_CONCURRENCY: [usize; 3] = [2, 4, 8];

/// Part sizes of the streamed copies (`PART_SIZE_MIB`).
pub const STREAM_PART_MIB: [u64; 2] = [8, 16];

/// Concurrency of the streamed copies (`UPLOAD_CONCURRENCY`): a piped
/// identity copy runs at most `MAX_PIPED_PARTS` parts at once.
pub const STREAM_CONCURRENCY: [usize; 3] = [1, 2, 4];

const _: () = assert!(STREAM_CONCURRENCY[STREAM_CONCURRENCY.len() - 1] <= MAX_PIPED_PARTS);

/// Part copy sizes and concurrency of the server-side copies
/// (`PART_COPY_SIZE_MIB`, `PART_COPY_CONCURRENCY`).
pub const SERVER_SWEEP: [(u64, usize); 3] = [(16, 4), (16, 16), (64, 16)];

/// Concurrency of the small-object sweeps (`MAX_RECORD_CONCURRENCY` is the
/// knob for many small objects).
pub const SMALL_CONCURRENCY: [usize; 3] = [1, 8, 32];

/// Bytes of each small object: a typical small file, one request each way.
pub const SMALL_OBJECT_BYTES: usize = 4096;

/// Requests of each small-object row per round: enough for a p99.
pub const SMALL_REQUESTS: usize = 128;

/// Samples a percentile needs before a row shows it: a p99 of fewer than
/// 100 is the maximum under another name.
pub const MIN_P99_SAMPLES: usize = 100;

const _: () = assert!(SMALL_REQUESTS >= MIN_P99_SAMPLES);

/// One measured transfer: an operation at a part size and a concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Case {
    /// What it does.
    pub operation: Operation,
    /// Part size in bytes (0 for small objects).
    pub part_size: u64,
    /// Requests (or parts) in flight.
    pub concurrency: usize,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.operation.is_small() {
            write!(f, "{} × {}", self.operation.name(), self.concurrency)
        } else {
            write!(
                f,
                "{} {} MiB × {}",
                self.operation.name(),
                self.part_size / MIB,
                self.concurrency
            )
        }
    }
}

/// Every case of one round, `operations` interleaved (one of each in
/// turn), so that a change in the network during the run touches every
/// operation alike rather than the last one measured.
pub fn round(operations: &[Operation]) -> Vec<Case> {
    let sweeps: Vec<Vec<Case>> = operations
        .iter()
        .map(|&operation| {
            operation
                .sweep()
                .into_iter()
                .map(|(part_size, concurrency)| Case {
                    operation,
                    part_size,
                    concurrency,
                })
                .collect()
        })
        .collect();
    let longest = sweeps.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| sweeps.iter().filter_map(move |sweep| sweep.get(i).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_and_help_list_every_operation_and_no_other() {
        let listed: Vec<&str> = include_str!("../../docs/benchmarking.md")
            .lines()
            .filter(|line| line.starts_with("| `"))
            .filter_map(|line| line.split('|').nth(1))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .collect();
        let names: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(listed, names, "docs/benchmarking.md vs Operation::ALL");
        assert!(
            crate::cli::USAGE.contains(&format!("OPS: {}", names.join(","))),
            "--help lists the operations"
        );
    }

    #[test]
    fn a_round_interleaves_every_case_of_every_operation_once() {
        let round = round(&Operation::ALL);
        let total: usize = Operation::ALL.iter().map(|o| o.sweep().len()).sum();
        assert_eq!(round.len(), total);
        assert_eq!(
            round[..4].iter().map(|c| c.operation).collect::<Vec<_>>(),
            [
                Operation::Get,
                Operation::Put,
                Operation::Stream,
                Operation::Server
            ]
        );
        let mut unique = round.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), round.len());
    }
}
