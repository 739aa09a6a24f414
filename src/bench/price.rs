//! What a measured transfer costs: S3's request prices and Lambda's GB-second, as dated constants a user can override.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The day the default prices were read from the AWS price pages
/// (us-east-1, S3 Standard, Lambda on x86_64).
pub const PRICES_AS_OF: &str = "2026-12-01";

/// USD per 1,000 PUT, COPY, POST and LIST requests (S3 Standard).
pub const PUT_PER_1000_USD: f64 = 0.005;

/// USD per 1,000 GET, HEAD and other requests (S3 Standard).
pub const GET_PER_1000_USD: f64 = 0.0004;

/// USD per GB-second of Lambda duration (x86_64; arm64 is 20 % less).
pub const LAMBDA_GB_SECOND_USD: f64 = 0.000_016_666_7;

/// The prices a bench costs its rows at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    /// When these prices were read (the defaults': [`PRICES_AS_OF`]; "custom" once overridden).
    pub as_of: String,
    /// USD per 1,000 PUT-class requests.
    pub put_per_1000: f64,
    /// USD per 1,000 GET-class requests.
    pub get_per_1000: f64,
    /// USD per GB-second of the function's duration.
    pub gb_second: f64,
}

impl Default for Prices {
    fn default() -> Prices {
        Prices {
            as_of: PRICES_AS_OF.to_owned(),
            put_per_1000: PUT_PER_1000_USD,
            get_per_1000: GET_PER_1000_USD,
            gb_second: LAMBDA_GB_SECOND_USD,
        }
    }
}

/// How S3 bills a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// PUT, COPY, POST, LIST.
    Put,
    /// GET, HEAD and the rest.
    Get,
    /// DELETE and abort: free.
    Free,
}

/// The class of operation `name`.
pub fn class(name: &str) -> RequestClass {
    match name {
        "PutObject"
        | "UploadPart"
        | "UploadPartCopy"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "CompleteMultipartUpload"
        | "ListObjectsV2"
        | "ListParts"
        | "ListMultipartUploads" => RequestClass::Put,
        "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => RequestClass::Free,
        _ => RequestClass::Get,
    }
}

impl Prices {
    /// USD per GB (10^9 bytes) moved: the `requests` (by operation) and
    /// `elapsed` of a function with `memory_mb`, over `bytes`.
    pub fn cost_per_gb(
        &self,
        requests: &BTreeMap<&'static str, u64>,
        elapsed: Duration,
        memory_mb: u64,
        bytes: u64,
    ) -> f64 {
        if bytes == 0 {
            return 0.0;
        }
        let requests: f64 = requests
            .iter()
            .map(|(name, count)| {
                *count as f64 / 1000.0
                    * match class(name) {
                        RequestClass::Put => self.put_per_1000,
                        RequestClass::Get => self.get_per_1000,
                        RequestClass::Free => 0.0,
                    }
            })
            .sum();
        let duration = elapsed.as_secs_f64() * memory_mb as f64 / 1024.0 * self.gb_second;
        (requests + duration) / (bytes as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gigabyte_of_ranged_gets_costs_its_requests_and_its_seconds() {
        let requests = BTreeMap::from([("GetObject", 120), ("DeleteObject", 5)]);
        // 120 GETs and 10 s at 1024 MB over 1 GB.
        let cost =
            Prices::default().cost_per_gb(&requests, Duration::from_secs(10), 1024, 1_000_000_000);
        let expected = 0.12 * GET_PER_1000_USD + 10.0 * LAMBDA_GB_SECOND_USD;
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    }
}
