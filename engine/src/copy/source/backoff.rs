//! The pause before a read is re-sent: exponential, capped, with jitter.

use super::range_reader::ReadRetryPolicy;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The pause before the `retry`th re-sent GET (1 for the first): the base
/// doubled per retry, capped at the maximum, then "equal jitter" — half of it
/// fixed, the other half scaled by `jitter` in `[0, 1]` — so readers that
/// failed together do not come back together.
pub(crate) fn backoff(policy: &ReadRetryPolicy, retry: u32, jitter: f64) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    let capped = policy
        .base_backoff
        .saturating_mul(1u32 << doublings)
        .min(policy.max_backoff);
    capped / 2 + capped.mul_f64(jitter.clamp(0.0, 1.0)) / 2
}

/// A fresh value in `[0, 1]` from the standard library's per-instance random
/// hash keys (enough to spread retries; no cryptographic use).
pub(crate) fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish() as f64 / u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReadRetryPolicy {
        ReadRetryPolicy {
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            ..ReadRetryPolicy::default()
        }
    }

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let full: Vec<u64> = (1..=7)
            .map(|retry| backoff(&policy(), retry, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(full, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff(&policy(), 1000, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_spans_the_upper_half() {
        assert_eq!(backoff(&policy(), 2, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(&policy(), 2, 0.5), Duration::from_millis(300));
        assert_eq!(backoff(&policy(), 2, 7.0), Duration::from_millis(400));
    }

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let values: Vec<f64> = (0..16).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(values.iter().any(|v| *v != values[0]));
    }
}
