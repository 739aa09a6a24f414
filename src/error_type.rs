//! Every `errorType` the function reports, as one enum: the runtime's, the handler's and the copy engine's.

use crate::copy::CopyErrorType;
use crate::runtime::error_type as runtime;

s3_stream_engine::error_types! {
    /// The error types of the runtime and the handler (the copy engine's are
    /// [`CopyErrorType`]; [`ErrorType`] joins both).
    pub enum FunctionErrorType {
        /// A configuration variable is missing or invalid (init error).
        InvalidConfiguration => "Runtime.InvalidConfiguration",
        /// The event, a message body or a record cannot be used.
        MalformedEvent => "Runtime.MalformedEvent",
        /// The handler panicked; the process keeps serving.
        HandlerPanic => "Runtime.HandlerPanic",
        /// The response could not be encoded.
        SerializationError => "Runtime.SerializationError",
        /// `/next` sent no usable deadline.
        InvalidInvocation => "Runtime.InvalidInvocation",
        /// The handler had not answered in time; the runtime posted this itself.
        HandlerTimeout => "Runtime.HandlerTimeout",
        /// The copy would overwrite its own source and trigger itself forever.
        Recursion => "Copy.Recursion",
        /// `DST_PREFIX` + key is over S3's 1,024 bytes.
        KeyTooLong => "Copy.KeyTooLong",
        /// The source bucket is off `SOURCE_BUCKETS`, or not a bucket name.
        SourceNotAllowed => "Copy.SourceNotAllowed",
        /// A Batch Operations `userArguments` entry the operator did not allow.
        ArgumentNotAllowed => "Batch.ArgumentNotAllowed",
        /// Records failed for different reasons.
        Failed => "Copy.Failed",
        /// A fanned-out copy's segments could not all be sent to the work queue.
        WorkQueueFailed => "WorkQueue.SendFailed",
        /// A bench event without `BENCH_PREFIX`, or outside it.
        BenchNotAllowed => "Bench.NotAllowed",
        /// A bench option or event field is invalid.
        BenchInvalidRequest => "Bench.InvalidRequest",
        /// The bench prefix holds objects the bench did not write.
        BenchPrefixNotEmpty => "Bench.PrefixNotEmpty",
        /// A bench request to S3 failed; what it wrote was removed.
        BenchFailed => "Bench.Failed",
        /// The bench could not remove everything it wrote.
        BenchCleanupIncomplete => "Bench.CleanupIncomplete",
    }
}

/// Any `errorType` the function reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The runtime's or the handler's.
    Function(FunctionErrorType),
    /// The copy engine's.
    Copy(CopyErrorType),
}

impl ErrorType {
    /// Every error type, the function's first.
    pub fn all() -> impl Iterator<Item = ErrorType> {
        FunctionErrorType::ALL
            .iter()
            .copied()
            .map(ErrorType::Function)
            .chain(CopyErrorType::ALL.iter().copied().map(ErrorType::Copy))
    }

    /// The stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Function(kind) => kind.as_str(),
            ErrorType::Copy(kind) => kind.as_str(),
        }
    }

    /// The error type named `text`, if any.
    pub fn parse(text: &str) -> Option<ErrorType> {
        ErrorType::all().find(|kind| kind.as_str() == text)
    }
}

/// The runtime module names its own types (it serves any handler): each
/// with the taxonomy's value it must equal.
const RUNTIME_TYPES: [(&str, FunctionErrorType); 6] = [
    (runtime::MALFORMED_EVENT, FunctionErrorType::MalformedEvent),
    (runtime::HANDLER_PANIC, FunctionErrorType::HandlerPanic),
    (runtime::HANDLER_TIMEOUT, FunctionErrorType::HandlerTimeout),
    (
        runtime::SERIALIZATION,
        FunctionErrorType::SerializationError,
    ),
    (
        runtime::INVALID_INVOCATION,
        FunctionErrorType::InvalidInvocation,
    ),
    (
        runtime::INVALID_CONFIG,
        FunctionErrorType::InvalidConfiguration,
    ),
];

/// True when `a` and `b` are the same string (in a constant).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// Checked when the crate compiles: a runtime type that drifts from the
// taxonomy is a build error.
const _: () = {
    let mut i = 0;
    while i < RUNTIME_TYPES.len() {
        assert!(same(RUNTIME_TYPES[i].0, RUNTIME_TYPES[i].1.as_str()));
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `errorType` column of `docs/error-types.md`.
    fn documented_error_types() -> BTreeSet<String> {
        include_str!("../docs/error-types.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_documented_table_lists_every_error_type_and_no_other() {
        let documented = documented_error_types();
        let defined: BTreeSet<String> = ErrorType::all().map(|t| t.as_str().to_owned()).collect();
        assert_eq!(
            documented, defined,
            "docs/error-types.md vs the ErrorType enum"
        );
    }

    #[test]
    fn names_are_unique_and_parse_back() {
        let all: Vec<ErrorType> = ErrorType::all().collect();
        let names: BTreeSet<&str> = all.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for kind in all {
            assert_eq!(ErrorType::parse(kind.as_str()), Some(kind));
        }
    }
}
