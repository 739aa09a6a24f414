//! The invocation's deadline, read from `Lambda-Runtime-Deadline-Ms` as Lambda and the emulators people develop with send it.
//!
//! Lambda sends the deadline as Unix milliseconds. Emulators have sent other
//! shapes: cargo-lambda sends the function's timeout as a duration (`600000`),
//! others no header at all, or a date decades ahead (the year 2072). A
//! runtime that enforces deadlines must read all of them, so:
//!
//! | header value | read as | deadline |
//! |---|---|---|
//! | at or after [`UNIX_MS_FLOOR`] (2000-01-01), at most [`MAX_AHEAD`] ahead | Unix ms (Lambda's form) | the value |
//! | further ahead than [`MAX_AHEAD`] | no real deadline | receipt + the assumed timeout |
//! | below [`UNIX_MS_FLOOR`] | a duration in ms from receipt | receipt + the value |
//! | absent, or not a whole number | no deadline | receipt + the assumed timeout |
//! | already past at receipt (a duration of 0 included) | — | [`DeadlinePassed`]: an error post |
//!
//! The assumed timeout is `ASSUMED_TIMEOUT_SECONDS` (Lambda exposes no
//! timeout variable), Lambda's 15-minute maximum by default.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Unix milliseconds of 2000-01-01T00:00:00Z. A header value below it is a
/// duration from receipt, not a Unix time: Lambda (launched 2014) never sends
/// a deadline before it, and no emulator's timeout is 30 years long.
pub const UNIX_MS_FLOOR: u64 = 946_684_800_000;

/// Lambda's longest function timeout, the default assumed timeout.
pub const MAX_LAMBDA_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Allowance for the sandbox's clock differing from Lambda's, beyond the
/// longest timeout.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(60);

/// Furthest ahead a Unix-ms deadline can be and still be Lambda's: the
/// longest timeout plus the clock allowance. Anything later (an emulator's
/// far-future date) is no real deadline.
pub const MAX_AHEAD: Duration = MAX_LAMBDA_TIMEOUT.saturating_add(CLOCK_SKEW_ALLOWANCE);

/// How the header was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineReading {
    /// Unix milliseconds, as Lambda sends it.
    UnixMs,
    /// A duration in milliseconds from receipt (cargo-lambda's form).
    Duration,
    /// Unix milliseconds further ahead than [`MAX_AHEAD`]: the assumed timeout.
    FarFuture,
    /// No header: the assumed timeout.
    Missing,
    /// Not a whole number: the assumed timeout.
    Unparsable,
}

impl DeadlineReading {
    /// True when the deadline came from the assumed timeout, not the header.
    pub fn is_assumed(self) -> bool {
        matches!(
            self,
            DeadlineReading::FarFuture | DeadlineReading::Missing | DeadlineReading::Unparsable
        )
    }
}

/// The deadline of one invocation, on both clocks, and how it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// On tokio's clock, for timers.
    pub instant: Instant,
    /// How the header was read.
    pub reading: DeadlineReading,
}

/// A deadline that had passed when the invocation arrived: it cannot be
/// honoured, so the runtime posts an error instead of running the handler.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "deadline {value:?} read as {} had passed {late_ms} ms before the invocation arrived",
    reading_text(*reading)
)]
pub struct DeadlinePassed {
    /// The header's value, as sent.
    pub value: String,
    /// How it was read.
    pub reading: DeadlineReading,
    /// How long before receipt the deadline was.
    pub late_ms: u64,
}

fn reading_text(reading: DeadlineReading) -> &'static str {
    match reading {
        DeadlineReading::UnixMs => "unix ms",
        DeadlineReading::Duration => "a duration from receipt",
        DeadlineReading::FarFuture => "a far-future unix time",
        DeadlineReading::Missing => "missing",
        DeadlineReading::Unparsable => "unparsable",
    }
}

/// The wall and monotonic clocks read together at receipt.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Tokio's clock.
    pub instant: Instant,
}

impl Receipt {
    /// Now, on both clocks.
    pub fn now() -> Receipt {
        Receipt {
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            instant: Instant::now(),
        }
    }

    fn after(&self, duration: Duration) -> (u64, Instant) {
        (
            self.unix_ms.saturating_add(duration.as_millis() as u64),
            self.instant + duration,
        )
    }
}

/// Reads the header's `value` (trimmed, `None` when absent) at `receipt`;
/// `assumed_timeout` stands in where the header gives no real deadline.
pub fn read(
    value: Option<&str>,
    receipt: Receipt,
    assumed_timeout: Duration,
) -> Result<Deadline, DeadlinePassed> {
    let assumed = |reading| {
        let (unix_ms, instant) = receipt.after(assumed_timeout);
        Ok(Deadline {
            unix_ms,
            instant,
            reading,
        })
    };
    let Some(text) = value else {
        return assumed(DeadlineReading::Missing);
    };
    let Ok(number) = text.parse::<u64>() else {
        return assumed(DeadlineReading::Unparsable);
    };
    let passed = |reading, late_ms| {
        Err(DeadlinePassed {
            value: text.to_owned(),
            reading,
            late_ms,
        })
    };
    if number < UNIX_MS_FLOOR {
        if number == 0 {
            return passed(DeadlineReading::Duration, 0);
        }
        let (unix_ms, instant) = receipt.after(Duration::from_millis(number));
        return Ok(Deadline {
            unix_ms,
            instant,
            reading: DeadlineReading::Duration,
        });
    }
    if number <= receipt.unix_ms {
        return passed(DeadlineReading::UnixMs, receipt.unix_ms - number);
    }
    let ahead = Duration::from_millis(number - receipt.unix_ms);
    if ahead > MAX_AHEAD {
        return assumed(DeadlineReading::FarFuture);
    }
    Ok(Deadline {
        unix_ms: number,
        instant: receipt.instant + ahead,
        reading: DeadlineReading::UnixMs,
    })
}

/// One line saying how a header of this shape was read and what deadline it
/// gave: the runtime logs it at the first invocation of each shape.
pub fn describe(
    value: Option<&str>,
    reading: DeadlineReading,
    assumed_timeout: Duration,
) -> String {
    let shown = value.map_or_else(|| "absent".to_owned(), |v| format!("{v:?}"));
    let header = super::header::DEADLINE_MS;
    let assumed = assumed_timeout.as_secs();
    match reading {
        DeadlineReading::UnixMs => {
            format!("{header} {shown} is unix ms, as lambda sends it")
        }
        DeadlineReading::Duration => format!(
            "{header} {shown} is below {UNIX_MS_FLOOR} (the year 2000), so it is read as a timeout in ms from receipt, as cargo-lambda sends it"
        ),
        DeadlineReading::FarFuture => format!(
            "{header} {shown} is more than {} s ahead, longer than any lambda timeout: assuming a {assumed} s timeout (ASSUMED_TIMEOUT_SECONDS)",
            MAX_AHEAD.as_secs()
        ),
        DeadlineReading::Missing => {
            format!("{header} is absent: assuming a {assumed} s timeout (ASSUMED_TIMEOUT_SECONDS)")
        }
        DeadlineReading::Unparsable => format!(
            "{header} {shown} is not a whole number: assuming a {assumed} s timeout (ASSUMED_TIMEOUT_SECONDS)"
        ),
    }
}

/// Remembers which readings were logged, so each is logged once per process.
#[derive(Debug, Default)]
pub struct ReadingsLogged(std::collections::HashSet<DeadlineReading>);

impl ReadingsLogged {
    /// True the first time `reading` is seen.
    pub fn first(&mut self, reading: DeadlineReading) -> bool {
        self.0.insert(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(900);

    fn receipt() -> Receipt {
        Receipt {
            unix_ms: 1_780_000_000_000,
            instant: Instant::now(),
        }
    }

    #[test]
    fn every_shape_reads_as_the_table_says() {
        let at = receipt();
        let unix = read(Some("1780000060000"), at, TIMEOUT).unwrap();
        assert_eq!(unix.reading, DeadlineReading::UnixMs);
        assert_eq!(unix.unix_ms, 1_780_000_060_000);
        assert_eq!(unix.instant - at.instant, Duration::from_secs(60));

        let duration = read(Some("600000"), at, TIMEOUT).unwrap();
        assert_eq!(duration.reading, DeadlineReading::Duration);
        assert_eq!(duration.instant - at.instant, Duration::from_secs(600));
        assert_eq!(duration.unix_ms, at.unix_ms + 600_000);

        for (value, reading) in [
            (Some("3228130696703"), DeadlineReading::FarFuture),
            (None, DeadlineReading::Missing),
            (Some("soon"), DeadlineReading::Unparsable),
            (Some("-5"), DeadlineReading::Unparsable),
        ] {
            let deadline = read(value, at, TIMEOUT).unwrap();
            assert_eq!(deadline.reading, reading, "{value:?}");
            assert!(reading.is_assumed());
            assert_eq!(deadline.instant - at.instant, TIMEOUT, "{value:?}");
            assert_eq!(deadline.unix_ms, at.unix_ms + 900_000);
        }
    }

    #[test]
    fn the_edges_of_each_shape() {
        let at = receipt();
        // Just below the floor: a (very long) duration.
        let long = read(Some(&(UNIX_MS_FLOOR - 1).to_string()), at, TIMEOUT).unwrap();
        assert_eq!(long.reading, DeadlineReading::Duration);
        // Exactly MAX_AHEAD ahead is still Lambda's; one ms more is not.
        let edge = (at.unix_ms + MAX_AHEAD.as_millis() as u64).to_string();
        assert_eq!(
            read(Some(&edge), at, TIMEOUT).unwrap().reading,
            DeadlineReading::UnixMs
        );
        let beyond = (at.unix_ms + MAX_AHEAD.as_millis() as u64 + 1).to_string();
        assert_eq!(
            read(Some(&beyond), at, TIMEOUT).unwrap().reading,
            DeadlineReading::FarFuture
        );
    }

    #[test]
    fn a_deadline_past_at_receipt_is_an_error_naming_the_value() {
        let at = receipt();
        let past = read(Some("1779999999000"), at, TIMEOUT).unwrap_err();
        assert_eq!(
            past,
            DeadlinePassed {
                value: "1779999999000".into(),
                reading: DeadlineReading::UnixMs,
                late_ms: 1_000,
            }
        );
        assert_eq!(
            past.to_string(),
            "deadline \"1779999999000\" read as unix ms had passed 1000 ms before the invocation arrived"
        );
        let now = read(Some(&at.unix_ms.to_string()), at, TIMEOUT).unwrap_err();
        assert_eq!(now.late_ms, 0);
        let zero = read(Some("0"), at, TIMEOUT).unwrap_err();
        assert_eq!(zero.reading, DeadlineReading::Duration);
    }

    #[test]
    fn each_reading_is_described_with_the_value() {
        let at = receipt();
        for (value, needle) in [
            (Some("1780000060000"), "unix ms"),
            (Some("600000"), "timeout in ms from receipt"),
            (Some("3228130696703"), "assuming a 900 s timeout"),
            (None, "is absent"),
            (Some("soon"), "not a whole number"),
        ] {
            let deadline = read(value, at, TIMEOUT).unwrap();
            let line = describe(value, deadline.reading, TIMEOUT);
            assert!(line.contains(needle), "{line}");
            if let Some(value) = value {
                assert!(line.contains(value), "{line}");
            }
        }
        let mut logged = ReadingsLogged::default();
        assert!(logged.first(DeadlineReading::Duration));
        assert!(!logged.first(DeadlineReading::Duration));
        assert!(logged.first(DeadlineReading::UnixMs));
    }
}
