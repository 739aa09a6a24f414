//! The settings a run recommends for this memory size, each saying whether a row measured it or it is inferred from the sweeps.

use super::case::Operation;
use super::report::{Row, best};
use crate::copy::part_size::MIB;
use serde::{Deserialize, Serialize};

/// Rows within this fraction of the best count as the best: the one with
/// the fewest connections (then the smallest part) among them is
/// recommended, as it costs less memory and fewer requests in flight for
/// the same speed.
pub const CLOSE_TO_BEST: f64 = 0.02;

/// For inferred settings, a sweep point within this fraction of the
/// sweep's best is where it saturates.
pub const SATURATED: f64 = 0.05;

/// Whether a row measured a setting, or it follows from other rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// A copy ran with exactly this setting.
    Measured,
    /// Reasoned from GET-only, PUT-only or small-object rows.
    Inferred,
}

/// One configuration variable's recommended value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The variable (`docs/configuration.md`).
    pub variable: String,
    /// Its value.
    pub value: String,
    /// Measured or inferred.
    pub basis: Basis,
    /// Why, with the figures.
    pub reason: String,
}

fn recommendation(
    variable: &str,
    value: impl ToString,
    basis: Basis,
    reason: String,
) -> Recommendation {
    Recommendation {
        variable: variable.to_owned(),
        value: value.to_string(),
        basis,
        reason,
    }
}

/// The row of `operation` with the fewest connections (then the smallest
/// part) within `tolerance` of its best.
fn economical(rows: &[Row], operation: Operation, tolerance: f64) -> Option<&Row> {
    let top = best(rows, operation)?.mb_per_second;
    rows.iter()
        .filter(|row| row.operation == operation && row.mb_per_second >= top * (1.0 - tolerance))
        .min_by_key(|row| (row.concurrency, row.part_bytes))
}

/// The settings `rows` recommend.
pub fn recommend(rows: &[Row]) -> Vec<Recommendation> {
    let mut all = Vec::new();
    let link = match (best(rows, Operation::Get), best(rows, Operation::Put)) {
        (Some(get), Some(put)) => Some(get.mb_per_second.min(put.mb_per_second)),
        _ => None,
    };
    if let Some(stream) = economical(rows, Operation::Stream, CLOSE_TO_BEST) {
        let of_link = link.map_or(String::new(), |link| {
            format!(
                "; {:.0} % of the slower of GET-only and PUT-only ({link:.1} MB/s)",
                100.0 * stream.mb_per_second / link.max(1e-9)
            )
        });
        let reason = format!(
            "streamed copies ran at {:.1} MB/s with {} MiB parts, {} at once: the fewest connections within {:.0} % of the best streamed row{of_link}",
            stream.mb_per_second,
            stream.part_bytes / MIB,
            stream.concurrency,
            CLOSE_TO_BEST * 100.0
        );
        all.push(recommendation(
            "PART_SIZE_MIB",
            stream.part_bytes / MIB,
            Basis::Measured,
            reason.clone(),
        ));
        all.push(recommendation(
            "UPLOAD_CONCURRENCY",
            stream.concurrency,
            Basis::Measured,
            reason,
        ));
    }
    if let Some(server) = economical(rows, Operation::Server, CLOSE_TO_BEST) {
        let reason = format!(
            "server-side copies ran at {:.1} MB/s with {} MiB part copies, {} at once",
            server.mb_per_second,
            server.part_bytes / MIB,
            server.concurrency
        );
        all.push(recommendation(
            "PART_COPY_SIZE_MIB",
            server.part_bytes / MIB,
            Basis::Measured,
            reason.clone(),
        ));
        all.push(recommendation(
            "PART_COPY_CONCURRENCY",
            server.concurrency,
            Basis::Measured,
            reason,
        ));
        if let Some(stream) = best(rows, Operation::Stream) {
            let (mode, verdict) = if server.mb_per_second >= stream.mb_per_second {
                ("auto", "identity copies stay server-side")
            } else {
                ("stream", "streaming identity copies is faster here")
            };
            all.push(recommendation(
                "COPY_MODE",
                mode,
                Basis::Measured,
                format!(
                    "server-side {:.1} MB/s against streamed {:.1} MB/s: {verdict}",
                    server.mb_per_second, stream.mb_per_second
                ),
            ));
        }
    }
    if let Some(get) = economical(rows, Operation::Get, SATURATED) {
        all.push(recommendation(
            "READ_AHEAD",
            get.concurrency,
            Basis::Inferred,
            format!(
                "GET-only reached {:.1} MB/s with {} ranged GETs in flight, within {:.0} % of its best: a transformed copy reading further ahead only shares the link",
                get.mb_per_second,
                get.concurrency,
                SATURATED * 100.0
            ),
        ));
    }
    let small = rows
        .iter()
        .filter(|row| row.operation.is_small())
        .max_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
    if let Some(top) = small {
        let pick = rows
            .iter()
            .filter(|row| {
                row.operation == top.operation
                    && row.requests_per_second >= top.requests_per_second * (1.0 - SATURATED)
            })
            .min_by_key(|row| row.concurrency)
            .unwrap_or(top);
        all.push(recommendation(
            "MAX_RECORD_CONCURRENCY",
            pick.concurrency,
            Basis::Inferred,
            format!(
                "{} reached {:.0} requests/s with {} in flight (p50 time to first byte {:.1} ms): a batch of small objects copies one record per object",
                pick.operation.name(),
                pick.requests_per_second,
                pick.concurrency,
                pick.ttfb_ms.p50.unwrap_or_default()
            ),
        ));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Ttfb;

    fn row(operation: Operation, part_mib: u64, concurrency: usize, mb_per_second: f64) -> Row {
        Row {
            operation,
            object_bytes: 256 * MIB,
            part_bytes: part_mib * MIB,
            concurrency,
            rounds: 3,
            mb_per_second,
            requests_per_second: mb_per_second,
            ttfb_ms: Ttfb {
                samples: 10,
                p50: Some(20.0),
                p90: Some(30.0),
                p99: None,
            },
            cost_per_gb_usd: 0.0,
        }
    }

    #[test]
    fn recommends_the_fewest_connections_close_to_the_best_streamed_row() {
        let rows = vec![
            row(Operation::Get, 8, 1, 40.0),
            row(Operation::Get, 8, 4, 72.0),
            row(Operation::Get, 8, 8, 73.0),
            row(Operation::Put, 8, 8, 71.0),
            row(Operation::Stream, 8, 2, 60.0),
            row(Operation::Stream, 16, 2, 70.5),
            row(Operation::Stream, 8, 4, 71.0),
            row(Operation::Server, 16, 16, 900.0),
        ];
        let all = recommend(&rows);
        let value = |name: &str| {
            all.iter()
                .find(|r| r.variable == name)
                .map(|r| (r.value.as_str(), r.basis))
        };
        assert_eq!(value("PART_SIZE_MIB"), Some(("16", Basis::Measured)));
        assert_eq!(value("UPLOAD_CONCURRENCY"), Some(("2", Basis::Measured)));
        assert_eq!(value("COPY_MODE"), Some(("auto", Basis::Measured)));
        assert_eq!(value("READ_AHEAD"), Some(("4", Basis::Inferred)));
        assert_eq!(value("MAX_RECORD_CONCURRENCY"), None);
    }
}
