//! The part plan of a server-side copy: contiguous `UploadPartCopy` ranges within S3's limits.

use crate::copy::part_size::{MAX_PART_SIZE, MAX_PARTS, MIB, MIN_PART_SIZE};

/// Part copy size by default: a part copy holds no memory in the function,
/// so the size is chosen for S3's speed, not ours. 64 MiB puts a 1 GiB
/// object into 16 parts that all copy at once under the default concurrency,
/// while a 5 GiB object still needs only 80 requests.
pub const DEFAULT_PART_COPY_SIZE: u64 = 64 * MIB;

/// How an object is copied server-side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartCopyPlan {
    /// The object's size.
    pub size: u64,
    /// Every part's size but the last.
    pub part_size: u64,
}

impl PartCopyPlan {
    /// The plan for `size` bytes at `requested` part size: the part size
    /// grows (in whole MiB) until the object fits in 10,000 parts and stays
    /// within S3's 5 MiB–5 GiB part limits. `None` when the object exceeds
    /// 10,000 parts of 5 GiB (48.8 TiB).
    pub fn new(size: u64, requested: u64) -> Option<PartCopyPlan> {
        let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part_size = requested.max(needed).max(MIN_PART_SIZE);
        (part_size <= MAX_PART_SIZE).then_some(PartCopyPlan { size, part_size })
    }

    /// True when the object fits one `CopyObject` (at most one part).
    pub fn is_single(&self) -> bool {
        self.size <= self.part_size
    }

    /// Parts the copy takes.
    pub fn parts(&self) -> u64 {
        self.size.div_ceil(self.part_size).max(1)
    }

    /// The inclusive byte range of each part, numbered from 1.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        (0..self.parts()).map(|index| {
            let start = index * self.part_size;
            let end = (start + self.part_size).min(self.size) - 1;
            (index + 1, start, end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;
    const TIB: u64 = 1024 * GIB;

    /// Checks the plan's promises: ≤ 10,000 parts, each within 5 MiB–5 GiB
    /// (the last may be smaller), contiguous, covering the object.
    fn assert_covers(plan: &PartCopyPlan) {
        assert!(plan.parts() <= MAX_PARTS, "{} parts", plan.parts());
        assert!(plan.part_size <= MAX_PART_SIZE);
        assert!(plan.part_size >= MIN_PART_SIZE);
        let mut next = 0;
        let mut count = 0;
        for (number, start, end) in plan.ranges() {
            count += 1;
            assert_eq!(number, count);
            assert_eq!(start, next, "part {number} starts where the last ended");
            assert!(end - start < plan.part_size.max(1));
            next = end + 1;
        }
        assert_eq!(next, plan.size);
        assert_eq!(count, plan.parts());
    }

    #[test]
    fn plans_5_gib_1_tib_and_the_largest_object() {
        let five_gib = PartCopyPlan::new(5 * GIB, DEFAULT_PART_COPY_SIZE).unwrap();
        assert_eq!(five_gib.part_size, DEFAULT_PART_COPY_SIZE);
        assert_eq!(five_gib.parts(), 80);
        assert_covers(&five_gib);

        let one_tib = PartCopyPlan::new(TIB, DEFAULT_PART_COPY_SIZE).unwrap();
        assert_eq!(one_tib.part_size, 105 * MIB);
        assert_eq!(one_tib.parts(), 9_987);
        assert_covers(&one_tib);

        let largest = MAX_PARTS * MAX_PART_SIZE;
        assert_eq!(largest, 50_000 * GIB, "48.8 TiB");
        let plan = PartCopyPlan::new(largest, DEFAULT_PART_COPY_SIZE).unwrap();
        assert_eq!(plan.part_size, MAX_PART_SIZE);
        assert_eq!(plan.parts(), MAX_PARTS);
        assert_covers(&plan);

        assert_eq!(PartCopyPlan::new(largest + 1, DEFAULT_PART_COPY_SIZE), None);
    }

    #[test]
    fn small_objects_are_one_copy() {
        for size in [0, 1, DEFAULT_PART_COPY_SIZE] {
            let plan = PartCopyPlan::new(size, DEFAULT_PART_COPY_SIZE).unwrap();
            assert!(plan.is_single(), "{size} bytes");
            assert_eq!(plan.parts(), 1);
        }
        let above = PartCopyPlan::new(DEFAULT_PART_COPY_SIZE + 1, DEFAULT_PART_COPY_SIZE).unwrap();
        assert!(!above.is_single());
        assert_eq!(above.parts(), 2);
        assert_covers(&above);
    }

    #[test]
    fn never_below_s3s_minimum_part() {
        let plan = PartCopyPlan::new(12 * MIB, MIB).unwrap();
        assert_eq!(plan.part_size, MIN_PART_SIZE);
        assert_eq!(plan.parts(), 3);
    }
}
