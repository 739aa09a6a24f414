//! Why a bench was refused or failed, each with the `errorType` it is reported as.

use crate::error_type::FunctionErrorType;

/// A bench that did not run, or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A bench event reached a function without `BENCH_PREFIX`.
    #[error(
        "bench events are off: set BENCH_PREFIX to the s3://BUCKET/PREFIX/ they may measure in"
    )]
    Disabled,
    /// A bench event names a bucket or prefix outside `BENCH_PREFIX`.
    #[error("{asked} is not under BENCH_PREFIX ({allowed})")]
    NotAllowed {
        /// What the event named.
        asked: String,
        /// What the configuration allows.
        allowed: String,
    },
    /// An option or an event field is invalid.
    #[error("invalid bench request: {0}")]
    InvalidRequest(String),
    /// The prefix holds objects or uploads the bench did not write.
    #[error(
        "{target} holds {count} object(s) or upload(s) a bench did not write (the first is {first:?}): a bench measures only in a prefix of its own, and removes what it writes there"
    )]
    PrefixNotEmpty {
        /// The bench's prefix.
        target: String,
        /// How many foreign objects and uploads.
        count: usize,
        /// The first foreign key.
        first: String,
    },
    /// The prefix holds the objects of a run that may still be going.
    #[error(
        "{target} holds objects of bench run {run}, which may still be running there: its leftovers are removed by a run started {seconds_left} s from now or later"
    )]
    Busy {
        /// The bench's prefix.
        target: String,
        /// The other run's id.
        run: String,
        /// Until it is past its end (and the slack for clocks).
        seconds_left: u64,
    },
    /// An S3 request of the bench's own (setup, listing, cleanup) failed.
    #[error("{what} failed: {cause}")]
    S3 {
        /// What was being done.
        what: String,
        /// S3's answer, with its causes.
        cause: String,
    },
    /// A measured transfer failed.
    #[error("measuring {case} failed: {cause}")]
    Case {
        /// The case, as its row names it.
        case: String,
        /// The copy engine's error, with its causes.
        cause: String,
    },
    /// The cleanup did not end before the bench's hard stop.
    #[error(
        "cleanup of {prefix} did not end in time: what is left there is removed by the next run on the prefix"
    )]
    CleanupTimedOut {
        /// The run's key prefix.
        prefix: String,
    },
    /// The cleanup could not remove everything the bench wrote.
    #[error(
        "cleanup left {objects} object(s) and {uploads} upload(s) under {prefix}: remove them, or run the bench there again (it removes a run's leftovers)"
    )]
    CleanupIncomplete {
        /// The run's key prefix.
        prefix: String,
        /// Objects left.
        objects: usize,
        /// Uploads left open.
        uploads: usize,
    },
}

impl BenchError {
    /// The `errorType` this error is reported as.
    pub fn error_type(&self) -> FunctionErrorType {
        match self {
            BenchError::Disabled | BenchError::NotAllowed { .. } => {
                FunctionErrorType::BenchNotAllowed
            }
            BenchError::InvalidRequest(_) => FunctionErrorType::BenchInvalidRequest,
            BenchError::PrefixNotEmpty { .. } | BenchError::Busy { .. } => {
                FunctionErrorType::BenchPrefixNotEmpty
            }
            BenchError::S3 { .. } | BenchError::Case { .. } => FunctionErrorType::BenchFailed,
            BenchError::CleanupIncomplete { .. } | BenchError::CleanupTimedOut { .. } => {
                FunctionErrorType::BenchCleanupIncomplete
            }
        }
    }

    /// An S3 error of the bench's own requests, its causes chained.
    pub(crate) fn s3(
        what: impl Into<String>,
        error: &(dyn std::error::Error + 'static),
    ) -> BenchError {
        BenchError::S3 {
            what: what.into(),
            cause: crate::runtime::error_chain(error),
        }
    }
}
