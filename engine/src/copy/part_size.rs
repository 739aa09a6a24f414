//! S3's multipart limits and the part-size schedule that stays within them.

/// One mebibyte.
pub const MIB: u64 = 1024 * 1024;

/// S3's smallest part (all but the last part must be at least this).
pub const MIN_PART_SIZE: u64 = 5 * MIB;

/// Default part size: S3's own recommendation for throughput (8 MiB), small
/// enough that a few parts in flight fit a 512 MB function.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;

/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;

/// S3's largest part count.
pub const MAX_PARTS: u64 = 10_000;

/// S3's largest single `PutObject` (5 GB, decimal).
pub const MAX_SINGLE_PUT: u64 = 5_000_000_000;

/// S3's largest object: 10,000 parts of 5 GiB (48.8 TiB).
pub const MAX_OBJECT_SIZE: u64 = MAX_PARTS * MAX_PART_SIZE;

/// When the output size is unknown (a transform that changes length), the
/// part size doubles every this many parts: 10 steps from 8 MiB reach 4 GiB,
/// so 10,000 parts carry 7.8 TiB (more than Lambda's 15 minutes can move at any
/// bandwidth it offers) while the first 1,000 parts (8 GB) stay small.
pub const GROWTH_INTERVAL: u64 = 1_000;

/// Rounds `bytes` up to a whole MiB.
fn round_up_mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB) * MIB
}

/// Clamps a configured part size into S3's limits.
pub fn clamp_part_size(configured: u64) -> u64 {
    configured.clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// The part size of each part number of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartSchedule {
    base: u64,
    fixed: bool,
    max_part: u64,
}

impl PartSchedule {
    /// `configured` grown to `ceil(size / 10,000)` (rounded up to a MiB) when
    /// the size is known. With `output_size_known` the size is fixed for every
    /// part; otherwise it grows every [`GROWTH_INTERVAL`] parts.
    pub fn new(configured: u64, size_hint: Option<u64>, output_size_known: bool) -> PartSchedule {
        let needed = size_hint.map_or(0, |size| round_up_mib(size.div_ceil(MAX_PARTS)));
        PartSchedule {
            base: clamp_part_size(configured.max(needed)),
            fixed: output_size_known && size_hint.is_some(),
            max_part: MAX_PART_SIZE,
        }
    }

    /// The same schedule with parts that never grow past `max_part` (nor
    /// below the first part): what a memory budget allows.
    pub fn with_max_part(self, max_part: u64) -> PartSchedule {
        PartSchedule {
            max_part: clamp_part_size(max_part.max(self.base)),
            ..self
        }
    }

    /// The first part's size (and every part's, when fixed).
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The size of part `number` (1-based).
    pub fn part_size(&self, number: u64) -> u64 {
        if self.fixed {
            return self.base;
        }
        let doublings = (number.saturating_sub(1) / GROWTH_INTERVAL).min(32) as u32;
        self.base.saturating_mul(1 << doublings).min(self.max_part)
    }

    /// The most bytes 10,000 parts of this schedule carry.
    pub fn capacity(&self) -> u64 {
        (1..=MAX_PARTS / GROWTH_INTERVAL)
            .map(|step| self.part_size((step - 1) * GROWTH_INTERVAL + 1) * GROWTH_INTERVAL)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_below_the_minimum() {
        assert_eq!(PartSchedule::new(MIB, Some(10), true).base(), MIN_PART_SIZE);
    }

    #[test]
    fn grows_to_fit_ten_thousand_parts() {
        let size = 200 * 1024 * MIB; // 200 GiB
        let schedule = PartSchedule::new(DEFAULT_PART_SIZE, Some(size), true);
        assert_eq!(schedule.base(), 21 * MIB); // ceil(200 GiB / 10,000) = 20.48 MiB
        assert!(schedule.base() * MAX_PARTS >= size);
        let largest = PartSchedule::new(DEFAULT_PART_SIZE, Some(MAX_OBJECT_SIZE), true);
        assert!(largest.base() * MAX_PARTS >= MAX_OBJECT_SIZE);
        assert!(largest.base() <= MAX_PART_SIZE);
    }

    #[test]
    fn unknown_output_grows_on_schedule() {
        let schedule = PartSchedule::new(DEFAULT_PART_SIZE, None, false);
        assert_eq!(schedule.part_size(1), 8 * MIB);
        assert_eq!(schedule.part_size(1_000), 8 * MIB);
        assert_eq!(schedule.part_size(1_001), 16 * MIB);
        assert_eq!(schedule.part_size(10_000), 4096 * MIB);
        // 1,000 parts each of 8, 16, … 4096 MiB: 8 MiB × 1,000 × 1,023 ≈ 7.8 TiB.
        assert_eq!(schedule.capacity(), 8 * MIB * 1_000 * 1_023);
    }
}
