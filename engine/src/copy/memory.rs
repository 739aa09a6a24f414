//! The memory law: what one copy may hold, derived in one place from its budget, part size and output kind.
//!
//! An identity copy of more than one part holds no part at all: each part's
//! ranged GET streams into its `UploadPart` through a pipe of
//! [`PIPE_BUFFER`] bytes ([`plan_piped`]), so its memory is parts in flight ×
//! [`PIPE_RESERVATION`], whatever the part size, up to S3's 48.8 TiB.
//!
//! Every other copy holds three kinds of buffers, each one block (the first part's
//! size) or one part long: ranged reads in flight, the block inside the
//! transform, and parts filling or uploading (each holds an upload permit of
//! its own size until S3 has it). For identity a part *is* a slice of the
//! block read, so there is no separate transform block; any other transform,
//! length-preserving or not, holds the block it is transforming beside the
//! parts its output fills ([`Output`]). The plan fits the configured
//! read-ahead and upload concurrency into the budget at the actual part size,
//! and caps a growing part schedule where two parts still fit the upload
//! permits: so a copy never holds more than [`MemoryPlan::reservation`],
//! whatever the object size, and a transform's output stops with
//! [`CopyError::OutputTooLargeForMemory`] before it would need more.

use super::CopySettings;
use super::error::CopyError;
use super::part_size::{MIB, PartSchedule};
use crate::transform::Transform;

/// Permits count KiB, so reservations of small objects stay small.
pub const KIB: u64 = 1024;

/// Fewest blocks an identity copy can run in: one read in flight, one part
/// uploading and the next one filling (the block just read is that part).
/// Any other output needs one more: the block inside the transform.
pub const MIN_BLOCKS: u64 = 3;

/// What a copy writes, as the memory law sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The bytes read, as read (identity): each part is a slice of a block.
    Input,
    /// New bytes of the input's length (a length-preserving transform): the
    /// block being transformed is held beside the parts.
    SameLength,
    /// New bytes of a length known only at the end (gzip): the block is held
    /// likewise, and the part schedule grows.
    Unknown,
}

impl Output {
    /// What `transform` writes.
    pub fn of(transform: &dyn Transform) -> Output {
        match (transform.preserves_length(), transform.is_identity()) {
            (true, true) => Output::Input,
            (true, false) => Output::SameLength,
            (false, _) => Output::Unknown,
        }
    }

    /// True when the output's length is the input's.
    pub fn known_length(self) -> bool {
        self != Output::Unknown
    }

    /// Blocks held beside reads and parts: the transform's input block.
    fn held_blocks(self) -> u64 {
        u64::from(self != Output::Input)
    }
}

/// Bytes one piped part buffers between its GET and its upload: sixteen of
/// the SDK's 64 KiB aws-chunked chunks, so a GET and an upload whose speeds
/// differ from moment to moment both keep moving; more adds nothing to one
/// connection's throughput.
pub const PIPE_BUFFER: u64 = MIB;

/// What one piped part's two connections hold beside its pipe: hyper's
/// read buffer of the GET (at most 408 KiB), the aws-chunked encoder's
/// 64 KiB chunk and the upload's write buffer, rounded up.
pub const PIPE_OVERHEAD: u64 = MIB;

/// What one piped part in flight reserves.
pub const PIPE_RESERVATION: u64 = PIPE_BUFFER + PIPE_OVERHEAD;

/// Most piped parts in flight per copy, whatever `upload_concurrency` asks:
/// four connections each way carry ~350 MB/s at S3's 85–90 MB/s per
/// connection, more than a Lambda's network share, and beyond what fills the
/// link more connections only share it and lose goodput (network model,
/// 75 MB/s each way, 40 MB/s per connection, a one-off sweep made before
/// this cap: 3–6 parts within 1.013× of GET-only, 8 at 1.037×, 16 at 1.085×).
pub const MAX_PIPED_PARTS: usize = 4;

/// How a piped copy (identity, more than one part) uses its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipedPlan {
    /// Parts in flight, each a GET streaming into an `UploadPart`.
    pub pipes: usize,
    /// The most bytes this copy holds at once; what it reserves.
    pub reservation: u64,
}

/// Fits `settings.upload_concurrency` piped parts (at most
/// [`MAX_PIPED_PARTS`]) into `budget` bytes: the part size plays no part.
pub fn plan_piped(settings: &CopySettings, budget: u64) -> Result<PipedPlan, CopyError> {
    if budget < PIPE_RESERVATION {
        return Err(CopyError::MemoryTooSmall {
            part_size: settings.part_size,
            needed: PIPE_RESERVATION,
            budget,
        });
    }
    let fit = usize::try_from(budget / PIPE_RESERVATION).unwrap_or(usize::MAX);
    let pipes = settings
        .upload_concurrency
        .clamp(1, MAX_PIPED_PARTS)
        .min(fit);
    Ok(PipedPlan {
        pipes,
        reservation: pipes as u64 * PIPE_RESERVATION,
    })
}

/// How one copy uses its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The part sizes, capped where the upload permits still hold two parts.
    pub schedule: PartSchedule,
    /// Ranged reads in flight or waiting (each one block).
    pub read_ahead: usize,
    /// Bytes of upload permits: parts filling or uploading hold them.
    pub upload_capacity: u64,
    /// The most bytes this copy holds at once; what it reserves.
    pub reservation: u64,
}

impl MemoryPlan {
    /// The largest output this plan can upload (10,000 parts of its schedule).
    pub fn max_output(&self) -> u64 {
        self.schedule.capacity()
    }
}

/// The smallest budget a copy of `output` needs at `part_size`.
pub fn minimum_budget(part_size: u64, output: Output) -> u64 {
    (MIN_BLOCKS + output.held_blocks()) * part_size
}

fn round_up_kib(bytes: u64) -> u64 {
    bytes.div_ceil(KIB).max(1) * KIB
}

/// Fits `settings` into `budget` bytes for a source of `size` bytes (when
/// known) written as `output`.
///
/// An object no larger than one part (known output) reads once and writes
/// once, so it reserves about twice its own size, not a part's: many small
/// objects copy at once within one budget.
pub fn plan(
    settings: &CopySettings,
    size: Option<u64>,
    output: Output,
    budget: u64,
) -> Result<MemoryPlan, CopyError> {
    let output_known = output.known_length();
    let schedule = PartSchedule::new(settings.part_size, size, output_known);
    let block = schedule.base();
    if let (true, Some(size)) = (output_known, size)
        && size <= block
    {
        let one = round_up_kib(size);
        return Ok(MemoryPlan {
            schedule,
            read_ahead: 1,
            upload_capacity: one,
            reservation: 2 * one,
        });
    }
    let needed = minimum_budget(block, output);
    if needed > budget {
        return Err(CopyError::MemoryTooSmall {
            part_size: block,
            needed,
            budget,
        });
    }
    let blocks = budget / block;
    // Blocks beside reads and parts: the transform's input block.
    let fixed = output.held_blocks();
    let mut read = (settings.read_ahead.max(1) as u64).min(blocks - fixed - 2);
    let mut slots = (settings.upload_concurrency.max(1) as u64 + 1).min(blocks - fixed - 1);
    while read + slots + fixed > blocks {
        if slots > read && slots > 2 {
            slots -= 1;
        } else if read > 1 {
            read -= 1;
        } else {
            slots -= 1;
        }
    }
    let upload_capacity = slots * block;
    let schedule = if output_known {
        schedule
    } else {
        // Two parts (one uploading, one filling) must fit the permits.
        schedule.with_max_part((upload_capacity / 2 / MIB * MIB).max(block))
    };
    Ok(MemoryPlan {
        schedule,
        read_ahead: read as usize,
        upload_capacity,
        reservation: (read + fixed) * block + upload_capacity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::part_size::{DEFAULT_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

    const GIB: u64 = 1024 * MIB;

    fn settings(read_ahead: usize, upload_concurrency: usize) -> CopySettings {
        CopySettings {
            read_ahead,
            upload_concurrency,
            ..CopySettings::default()
        }
    }

    #[test]
    fn small_objects_reserve_about_their_size() {
        let plan = plan(&settings(3, 3), Some(4096), Output::Input, 64 * MIB).unwrap();
        assert_eq!(plan.reservation, 8 * KIB);
        let empty = super::plan(&settings(3, 3), Some(0), Output::Input, 64 * MIB).unwrap();
        assert_eq!(empty.reservation, 2 * KIB);
    }

    #[test]
    fn concurrency_shrinks_to_fit_the_budget_at_any_size() {
        for size in [GIB, 100 * GIB, 200 * GIB] {
            let plan = plan(&settings(16, 16), Some(size), Output::Input, 64 * MIB).unwrap();
            assert!(plan.reservation <= 64 * MIB, "{size}: {plan:?}");
            assert!(plan.read_ahead >= 1 && plan.upload_capacity >= 2 * plan.schedule.base());
        }
    }

    #[test]
    fn an_object_whose_parts_cannot_fit_is_refused() {
        // 1 TiB needs 105 MiB parts; three of them exceed 64 MiB.
        let error = plan(&settings(3, 3), Some(1024 * GIB), Output::Input, 64 * MIB).unwrap_err();
        assert!(matches!(error, CopyError::MemoryTooSmall { .. }), "{error}");
        assert_eq!(
            minimum_budget(DEFAULT_PART_SIZE, Output::Unknown),
            4 * DEFAULT_PART_SIZE
        );
    }

    #[test]
    fn a_length_preserving_transform_reserves_the_block_it_transforms() {
        // 200 GiB needs 21 MiB parts: three fit 64 MiB, four do not.
        let size = 200 * GIB;
        assert!(plan(&settings(3, 3), Some(size), Output::Input, 64 * MIB).is_ok());
        let error = plan(&settings(3, 3), Some(size), Output::SameLength, 64 * MIB).unwrap_err();
        assert!(matches!(error, CopyError::MemoryTooSmall { .. }), "{error}");
        let input = plan(&settings(3, 3), Some(GIB), Output::Input, 64 * MIB).unwrap();
        let same = plan(&settings(3, 3), Some(GIB), Output::SameLength, 64 * MIB).unwrap();
        assert!(same.reservation <= 64 * MIB, "{same:?}");
        assert_eq!(
            same.read_ahead as u64 * DEFAULT_PART_SIZE + same.upload_capacity + DEFAULT_PART_SIZE,
            same.reservation,
            "one block beside the reads and parts: {same:?}"
        );
        assert_eq!(
            input.read_ahead as u64 * DEFAULT_PART_SIZE + input.upload_capacity,
            input.reservation,
            "{input:?}"
        );
    }

    #[test]
    fn piped_parts_reserve_the_same_at_any_size() {
        let plan = plan_piped(&settings(4, 4), 64 * MIB).unwrap();
        assert_eq!(
            plan,
            PipedPlan {
                pipes: 4,
                reservation: 8 * MIB
            }
        );
        // A budget of three pipes caps four; sixteen asked for get four.
        assert_eq!(plan_piped(&settings(4, 16), 6 * MIB).unwrap().pipes, 3);
        assert_eq!(
            plan_piped(&settings(4, 16), 64 * MIB).unwrap().pipes,
            MAX_PIPED_PARTS
        );
        assert!(plan_piped(&settings(4, 4), MIB).is_err());
    }

    #[test]
    fn growing_parts_are_capped_where_two_still_fit() {
        // 512 MB defaults: 64 MiB budget, 8 MiB blocks, 3 reads + 1 transform
        // block leave 32 MiB of permits: parts grow to 16 MiB, no further.
        let plan = plan(&settings(3, 3), None, Output::Unknown, 64 * MIB).unwrap();
        assert_eq!(plan.upload_capacity, 32 * MIB);
        assert_eq!(plan.schedule.part_size(MAX_PARTS), 16 * MIB);
        assert_eq!(plan.reservation, 64 * MIB);
        assert_eq!(plan.max_output(), 1_000 * 8 * MIB + 9_000 * 16 * MIB);
        let five = CopySettings {
            part_size: MIN_PART_SIZE,
            ..settings(1, 1)
        };
        let floor = super::plan(&five, None, Output::Unknown, 4 * MIN_PART_SIZE).unwrap();
        assert_eq!(floor.schedule.part_size(MAX_PARTS), MIN_PART_SIZE);
    }
}
