//! Where a transformed stream can restart: each output unit's place in the input and the output, and the point after each part.
//!
//! A transform with a [`restart_unit`](crate::transform::Transform::restart_unit)
//! emits one chunk per unit of input. The tracker sees every chunk before
//! the [`PartAssembler`](super::assembler::PartAssembler) does and, for each
//! part cut, names the unit its end falls in: a later attempt feeds a fresh
//! transform the input from that unit, checks and drops the unit's output up
//! to the part's end, and goes on with the next part. A resumed copy starts
//! with that skip still to make ([`RestartTracker::resuming`]).

use super::assembler::Part;
use crate::copy::resume::checkpoint::Restart;
use crate::copy::upload::crc64nvme;
use bytes::Bytes;
use std::collections::VecDeque;

/// One unit's output: where it starts in the output and in the input.
#[derive(Debug, Clone, Copy)]
struct Unit {
    output_start: u64,
    input_start: u64,
    len: u64,
}

/// The output a resumed copy makes again and drops: the end of the last
/// part an earlier attempt finished.
#[derive(Debug)]
struct Skip {
    left: u64,
    crc: Option<u64>,
    expected: u64,
}

/// Why a resumed transform's output cannot continue the earlier attempt's.
#[derive(Debug, thiserror::Error)]
#[error(
    "the transform's output from input byte {input_offset} differs from what the earlier attempt uploaded \
     (crc64nvme {got:016x}, not {expected:016x}): another build of the transform?"
)]
pub struct Diverged {
    /// Where the transform restarted.
    pub input_offset: u64,
    /// The CRC64NVME of the bytes it made again.
    pub got: u64,
    /// The one recorded.
    pub expected: u64,
}

/// The restart points of a transformed stream.
#[derive(Debug)]
pub struct RestartTracker {
    unit: u64,
    /// Input offset of the next chunk's unit.
    next_input: u64,
    /// Output offset of the next chunk's first byte.
    next_output: u64,
    /// Units whose output reaches past the last part's end.
    units: VecDeque<Unit>,
    /// Output offset of the end of the last part cut.
    parts_end: u64,
    skip: Option<Skip>,
    restarted_at: u64,
}

impl RestartTracker {
    /// A tracker of a stream that starts at `restart` (the input's start
    /// for a new upload) with units of `unit` input bytes.
    pub fn resuming(unit: u64, restart: &Restart) -> RestartTracker {
        RestartTracker {
            unit: unit.max(1),
            next_input: restart.input_offset,
            next_output: restart.bytes_done - restart.skip.min(restart.bytes_done),
            units: VecDeque::new(),
            parts_end: restart.bytes_done,
            skip: (restart.skip > 0).then_some(Skip {
                left: restart.skip,
                crc: None,
                expected: restart.skip_crc64nvme,
            }),
            restarted_at: restart.input_offset,
        }
    }

    /// Takes one output chunk (one unit's whole output): what of it goes on
    /// to the parts. The first bytes of a resumed stream are checked against
    /// the earlier attempt's and dropped.
    pub fn chunk(&mut self, mut chunk: Bytes) -> Result<Bytes, Diverged> {
        let len = chunk.len() as u64;
        self.units.push_back(Unit {
            output_start: self.next_output,
            input_start: self.next_input,
            len,
        });
        self.next_output += len;
        self.next_input += self.unit;
        if let Some(skip) = &mut self.skip {
            let take = skip.left.min(len) as usize;
            let dropped = chunk.split_to(take);
            let crc = crc64nvme(&dropped);
            skip.crc = Some(match skip.crc {
                None => crc,
                Some(so_far) => crc_fast::checksum_combine(
                    crc_fast::CrcAlgorithm::Crc64Nvme,
                    so_far,
                    crc,
                    take as u64,
                ),
            });
            skip.left -= take as u64;
            if skip.left == 0 {
                let got = skip.crc.unwrap_or_default();
                if got != skip.expected {
                    return Err(Diverged {
                        input_offset: self.restarted_at,
                        got,
                        expected: skip.expected,
                    });
                }
                self.skip = None;
            }
        }
        Ok(chunk)
    }

    /// The point after `part` (the next part cut, in order); `None` when its
    /// end falls in a unit that began before the part (a short last part).
    pub fn after(&mut self, part: &Part) -> Option<Restart> {
        let len = part.data.len() as u64;
        let end = self.parts_end + len;
        self.parts_end = end;
        while self
            .units
            .front()
            .is_some_and(|unit| unit.output_start + unit.len <= end && self.units.len() > 1)
        {
            self.units.pop_front();
        }
        let (input_offset, skip) = match self.units.front() {
            Some(unit) if unit.output_start <= end && end < unit.output_start + unit.len => {
                (unit.input_start, end - unit.output_start)
            }
            // The part ends where the output made so far ends: the next
            // unit starts there.
            _ => (self.next_input, 0),
        };
        if skip > len {
            return None;
        }
        let tail = part.data.slice(part.data.len() - skip as usize..);
        Some(Restart {
            parts_done: part.number,
            bytes_done: end,
            input_offset,
            skip,
            skip_crc64nvme: crc64nvme(&tail),
        })
    }

    /// Output bytes in the parts cut so far, earlier attempts' included.
    pub fn parts_end(&self) -> u64 {
        self.parts_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u64, data: &[u8]) -> Part {
        Part {
            number,
            data: Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn a_part_ending_inside_a_unit_restarts_at_that_unit() {
        let mut tracker = RestartTracker::resuming(100, &Restart::default());
        // Units of 100 input bytes made 40, 40 and 40 output bytes.
        let output: Vec<u8> = (0..120).collect();
        for chunk in output.chunks(40) {
            tracker.chunk(Bytes::copy_from_slice(chunk)).unwrap();
        }
        let restart = tracker.after(&part(1, &output[..50])).unwrap();
        assert_eq!(restart.parts_done, 1);
        assert_eq!(restart.bytes_done, 50);
        assert_eq!(restart.input_offset, 100, "the second unit");
        assert_eq!(restart.skip, 10);
        assert_eq!(restart.skip_crc64nvme, crc64nvme(&output[40..50]));
        let end = tracker.after(&part(2, &output[50..120])).unwrap();
        assert_eq!((end.input_offset, end.skip), (300, 0), "past the last unit");
    }

    #[test]
    fn a_resumed_stream_checks_and_drops_what_was_uploaded() {
        let output: Vec<u8> = (0..120).collect();
        let restart = Restart {
            parts_done: 1,
            bytes_done: 50,
            input_offset: 100,
            skip: 10,
            skip_crc64nvme: crc64nvme(&output[40..50]),
        };
        let mut tracker = RestartTracker::resuming(100, &restart);
        let rest = tracker
            .chunk(Bytes::copy_from_slice(&output[40..80]))
            .unwrap();
        assert_eq!(&rest[..], &output[50..80]);
        let mut other = RestartTracker::resuming(100, &restart);
        let diverged = other.chunk(Bytes::from(vec![0u8; 40])).unwrap_err();
        assert_eq!(diverged.input_offset, 100);
        tracker
            .chunk(Bytes::copy_from_slice(&output[80..120]))
            .unwrap();
        let next = tracker.after(&part(2, &output[50..100])).unwrap();
        assert_eq!(
            (next.bytes_done, next.input_offset, next.skip),
            (100, 200, 20)
        );
    }
}
