//! What a bench is asked to do, from `bootstrap bench`'s options or a bench event's fields, validated in one place.

use super::case::Operation;
use super::error::BenchError;
use super::price::Prices;
use super::target::BenchTarget;
use crate::copy::part_size::MIB;
use serde::Deserialize;
use std::time::Duration;

/// Bytes each large transfer moves by default: long enough for the
/// connections to reach their pace (a second or more at 100–300 MB/s),
/// short enough that a sweep of 20-odd cases fits a few minutes.
pub const DEFAULT_OBJECT_MIB: u64 = 256;

/// The smallest object: two parts of the largest part size swept.
pub const MIN_OBJECT_MIB: u64 = 2 * super::case::PUT_PART_MIB[2];

/// The largest object (copies move all of it, in every round).
pub const MAX_OBJECT_MIB: u64 = 16 * 1024;

/// Rounds of every case by default: medians of three.
pub const DEFAULT_ROUNDS: usize = 3;

/// The most rounds one run may ask for.
pub const MAX_ROUNDS: usize = 25;

/// The command line's time budget by default (in the sandbox it is the
/// invocation's deadline).
pub const DEFAULT_SECONDS: u64 = 300;

/// The longest time budget that may be asked for: a day, on the command line.
pub const MAX_SECONDS: u64 = 86_400;

/// A bench event's `"bench"` object; also what the command line's options
/// fill in. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BenchOptions {
    /// `s3://BUCKET/PREFIX/` (in an event: `BENCH_PREFIX` or under it; the
    /// default is `BENCH_PREFIX`).
    pub target: Option<String>,
    /// MiB of each large transfer ([`DEFAULT_OBJECT_MIB`]).
    pub size_mib: Option<u64>,
    /// Rounds of every case at most ([`DEFAULT_ROUNDS`]).
    pub rounds: Option<usize>,
    /// The time budget in seconds (in the sandbox, never past the deadline).
    pub seconds: Option<u64>,
    /// Operations to measure (default: all).
    pub operations: Option<Vec<String>>,
    /// An existing object to read instead of writing one (command line only).
    #[serde(skip)]
    pub source: Option<String>,
    /// The run's name in charts (default: the memory size).
    pub label: Option<String>,
    /// Return the chart inline in the response (events only).
    #[serde(default)]
    pub svg: bool,
    /// USD per 1,000 PUT-class requests.
    pub price_put_per_1000: Option<f64>,
    /// USD per 1,000 GET-class requests.
    pub price_get_per_1000: Option<f64>,
    /// USD per GB-second of Lambda.
    pub price_gb_second: Option<f64>,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRequest {
    /// Where it writes.
    pub target: BenchTarget,
    /// Bytes of each large transfer (the source's size with `source`).
    pub object_size: u64,
    /// An existing object to read (`bucket`, `key`), never written.
    pub source: Option<(String, String)>,
    /// What it measures.
    pub operations: Vec<Operation>,
    /// Rounds at most.
    pub max_rounds: usize,
    /// The time budget (capped by the caller's deadline).
    pub budget: Duration,
    /// The run's name in charts.
    pub label: String,
    /// Prices rows are costed at.
    pub prices: Prices,
    /// The chart inline in the report.
    pub inline_svg: bool,
}

fn invalid(message: impl Into<String>) -> BenchError {
    BenchError::InvalidRequest(message.into())
}

fn price(value: Option<f64>, default: f64, name: &str) -> Result<(f64, bool), BenchError> {
    match value {
        None => Ok((default, false)),
        Some(v) if v.is_finite() && v >= 0.0 => Ok((v, true)),
        Some(v) => Err(invalid(format!("{name} must be a price in USD, not {v}"))),
    }
}

impl BenchOptions {
    /// Validates the options of a run with `memory_mb` of memory, writing
    /// under `default_target` unless `target` names another.
    pub fn into_request(
        self,
        default_target: Option<&BenchTarget>,
        memory_mb: u64,
    ) -> Result<BenchRequest, BenchError> {
        let target = match (&self.target, default_target) {
            (Some(url), _) => {
                BenchTarget::parse(url).map_err(|e| invalid(format!("target {e}")))?
            }
            (None, Some(target)) => target.clone(),
            (None, None) => return Err(invalid("name the s3://BUCKET/PREFIX/ to measure in")),
        };
        let size_mib = self.size_mib.unwrap_or(DEFAULT_OBJECT_MIB);
        if !(MIN_OBJECT_MIB..=MAX_OBJECT_MIB).contains(&size_mib) {
            return Err(invalid(format!(
                "size must be {MIN_OBJECT_MIB} to {MAX_OBJECT_MIB} MiB, not {size_mib}"
            )));
        }
        let max_rounds = self.rounds.unwrap_or(DEFAULT_ROUNDS);
        if !(1..=MAX_ROUNDS).contains(&max_rounds) {
            return Err(invalid(format!(
                "rounds must be 1 to {MAX_ROUNDS}, not {max_rounds}"
            )));
        }
        let seconds = self.seconds.unwrap_or(DEFAULT_SECONDS);
        if !(1..=MAX_SECONDS).contains(&seconds) {
            return Err(invalid(format!(
                "seconds must be 1 to {MAX_SECONDS}, not {seconds}"
            )));
        }
        let operations = match &self.operations {
            None => Operation::ALL.to_vec(),
            Some(names) => {
                let mut operations = Vec::new();
                for name in names {
                    let operation = Operation::ALL
                        .into_iter()
                        .find(|o| o.name() == name.trim())
                        .ok_or_else(|| {
                            let known: Vec<&str> =
                                Operation::ALL.iter().map(|o| o.name()).collect();
                            invalid(format!(
                                "no operation {name:?} (there are {})",
                                known.join(", ")
                            ))
                        })?;
                    if !operations.contains(&operation) {
                        operations.push(operation);
                    }
                }
                if operations.is_empty() {
                    return Err(invalid("operations must name at least one"));
                }
                operations
            }
        };
        let source = match &self.source {
            None => None,
            Some(url) => Some(crate::s3::object_url(url).ok_or_else(|| {
                invalid(format!(
                    "source must look like s3://BUCKET/KEY, not {url:?}"
                ))
            })?),
        };
        let defaults = Prices::default();
        let (put_per_1000, put_set) = price(
            self.price_put_per_1000,
            defaults.put_per_1000,
            "the PUT price",
        )?;
        let (get_per_1000, get_set) = price(
            self.price_get_per_1000,
            defaults.get_per_1000,
            "the GET price",
        )?;
        let (gb_second, gb_set) = price(
            self.price_gb_second,
            defaults.gb_second,
            "the GB-second price",
        )?;
        let prices = Prices {
            as_of: if put_set || get_set || gb_set {
                "custom".to_owned()
            } else {
                defaults.as_of
            },
            put_per_1000,
            get_per_1000,
            gb_second,
        };
        Ok(BenchRequest {
            target,
            object_size: size_mib * MIB,
            source,
            operations,
            max_rounds,
            budget: Duration::from_secs(seconds),
            label: self.label.unwrap_or_else(|| format!("{memory_mb} MB")),
            prices,
            inline_svg: self.svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let target = BenchTarget::parse("s3://bucket/bench/").unwrap();
        let request = BenchOptions::default()
            .into_request(Some(&target), 1769)
            .unwrap();
        assert_eq!(request.object_size, DEFAULT_OBJECT_MIB * MIB);
        assert_eq!(request.operations, Operation::ALL);
        assert_eq!(request.label, "1769 MB");
        assert_eq!(request.prices, Prices::default());
        for bad in [
            BenchOptions {
                size_mib: Some(1),
                ..BenchOptions::default()
            },
            BenchOptions {
                rounds: Some(0),
                ..BenchOptions::default()
            },
            BenchOptions {
                operations: Some(vec!["list".into()]),
                ..BenchOptions::default()
            },
            BenchOptions {
                price_gb_second: Some(-1.0),
                ..BenchOptions::default()
            },
            BenchOptions {
                target: Some("s3://bucket/".into()),
                ..BenchOptions::default()
            },
        ] {
            let error = bad.into_request(Some(&target), 1769).unwrap_err();
            assert!(matches!(error, BenchError::InvalidRequest(_)), "{error}");
        }
        assert!(BenchOptions::default().into_request(None, 1769).is_err());
    }

    #[test]
    fn an_event_with_an_unknown_field_is_refused() {
        let error = serde_json::from_value::<BenchOptions>(
            serde_json::json!({"sizeMib": 64, "bucket": "x"}),
        );
        assert!(error.is_err());
        let options: BenchOptions = serde_json::from_value(serde_json::json!({
            "target": "s3://bucket/bench/512/", "sizeMib": 64, "operations": ["get", "put"], "svg": true
        }))
        .unwrap();
        assert_eq!(options.size_mib, Some(64));
        assert!(options.svg);
    }
}
