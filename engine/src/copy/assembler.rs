//! Output chunks → parts of exactly the scheduled size, each byte copied at most once.

use super::part_size::PartSchedule;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// One part of the destination object.
#[derive(Debug, Clone)]
pub struct Part {
    /// 1-based part number.
    pub number: u64,
    /// Its bytes.
    pub data: Bytes,
}

/// Cuts a stream of chunks into parts.
///
/// A chunk that starts a part and is at least a part long is sliced, not
/// copied (the identity transform over part-aligned ranged reads never copies);
/// otherwise bytes are copied once into a buffer of exactly the part's size.
#[derive(Debug)]
pub struct PartAssembler {
    schedule: PartSchedule,
    next_number: u64,
    filling: BytesMut,
    ready: VecDeque<Part>,
    bytes_in: u64,
}

impl PartAssembler {
    /// An assembler cutting parts on `schedule`.
    pub fn new(schedule: PartSchedule) -> PartAssembler {
        PartAssembler {
            schedule,
            next_number: 1,
            filling: BytesMut::new(),
            ready: VecDeque::new(),
            bytes_in: 0,
        }
    }

    /// The size of the part being filled.
    pub fn next_part_size(&self) -> u64 {
        self.schedule.part_size(self.next_number)
    }

    fn target(&self) -> usize {
        usize::try_from(self.next_part_size()).unwrap_or(usize::MAX)
    }

    fn emit(&mut self, data: Bytes) {
        self.ready.push_back(Part {
            number: self.next_number,
            data,
        });
        self.next_number += 1;
    }

    /// Adds a chunk; complete parts become available from [`pop`](Self::pop).
    pub fn push(&mut self, mut chunk: Bytes) {
        self.bytes_in += chunk.len() as u64;
        while !chunk.is_empty() {
            let target = self.target();
            if self.filling.is_empty() && chunk.len() >= target {
                let part = chunk.split_to(target);
                self.emit(part);
                continue;
            }
            if self.filling.capacity() == 0 {
                self.filling = BytesMut::with_capacity(target);
            }
            let take = (target - self.filling.len()).min(chunk.len());
            self.filling.extend_from_slice(&chunk.split_to(take));
            if self.filling.len() == target {
                let part = std::mem::take(&mut self.filling).freeze();
                self.emit(part);
            }
        }
    }

    /// Ends the input: a partly filled part becomes the last part.
    pub fn finish(&mut self) {
        if !self.filling.is_empty() {
            let part = std::mem::take(&mut self.filling).freeze();
            self.emit(part);
        }
    }

    /// The next complete part, in order.
    pub fn pop(&mut self) -> Option<Part> {
        self.ready.pop_front()
    }

    /// Parts complete and not yet taken.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Bytes pushed so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::part_size::{MIB, MIN_PART_SIZE};

    fn drain(assembler: &mut PartAssembler) -> Vec<Part> {
        std::iter::from_fn(|| assembler.pop()).collect()
    }

    #[test]
    fn cuts_exact_parts_with_a_short_tail() {
        let mut assembler =
            PartAssembler::new(PartSchedule::new(MIN_PART_SIZE, Some(12 * MIB), true));
        for _ in 0..12 {
            assembler.push(Bytes::from(vec![1u8; MIB as usize]));
        }
        assembler.finish();
        let parts = drain(&mut assembler);
        let sizes: Vec<u64> = parts.iter().map(|p| p.data.len() as u64).collect();
        assert_eq!(sizes, vec![5 * MIB, 5 * MIB, 2 * MIB]);
        assert_eq!(
            parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn aligned_chunks_pass_without_copy() {
        let mut assembler =
            PartAssembler::new(PartSchedule::new(MIN_PART_SIZE, Some(10 * MIB), true));
        let chunk = Bytes::from(vec![2u8; (5 * MIB) as usize]);
        let pointer = chunk.as_ptr();
        assembler.push(chunk);
        let part = assembler.pop().unwrap();
        assert_eq!(part.data.as_ptr(), pointer);
    }

    #[test]
    fn empty_input_makes_no_part() {
        let mut assembler = PartAssembler::new(PartSchedule::new(MIN_PART_SIZE, Some(0), true));
        assembler.push(Bytes::new());
        assembler.finish();
        assert!(assembler.pop().is_none());
    }
}
