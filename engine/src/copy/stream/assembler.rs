//! Output chunks → parts of exactly the scheduled size, each byte copied at most once.

use crate::copy::part_size::PartSchedule;
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
///
/// A part's buffer is allocated only while no finished part waits to be
/// taken: the bytes that spill past a finished part are held as the chunk
/// they came in (no new memory) until [`resume`](Self::resume), which the
/// copy calls once it holds the next part's upload permit. So a part's
/// memory is never allocated before its permit is taken.
#[derive(Debug)]
pub struct PartAssembler {
    schedule: PartSchedule,
    next_number: u64,
    filling: BytesMut,
    ready: VecDeque<Part>,
    /// Input not taken into a part yet, in order.
    held: VecDeque<Bytes>,
    /// Bytes taken into parts (finished or filling).
    taken: u64,
    /// The input has ended: the last, partly filled part is emitted once
    /// nothing is held.
    finished: bool,
}

impl PartAssembler {
    /// An assembler cutting parts on `schedule`.
    pub fn new(schedule: PartSchedule) -> PartAssembler {
        PartAssembler::starting_at(schedule, 1)
    }

    /// An assembler whose first part is number `first` (a resumed copy's
    /// next part).
    pub fn starting_at(schedule: PartSchedule, first: u64) -> PartAssembler {
        PartAssembler {
            schedule,
            next_number: first.max(1),
            filling: BytesMut::new(),
            ready: VecDeque::new(),
            held: VecDeque::new(),
            taken: 0,
            finished: false,
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
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.held.push_back(chunk);
        }
        self.take_held();
    }

    /// Ends the input: once nothing is held, a partly filled part becomes
    /// the last part.
    pub fn finish(&mut self) {
        self.finished = true;
        self.take_held();
    }

    /// Takes held input into parts again; call it when the next part's
    /// permit is held and every finished part has been taken.
    pub fn resume(&mut self) {
        self.take_held();
    }

    fn take_held(&mut self) {
        while let Some(mut chunk) = self.held.pop_front() {
            let target = self.target();
            if self.filling.is_empty() && chunk.len() >= target {
                // A slice of memory already held: no permit needed to cut it.
                self.taken += target as u64;
                self.emit(chunk.split_to(target));
            } else if self.filling.is_empty() && !self.ready.is_empty() {
                // The next part's buffer waits for its permit.
                self.held.push_front(chunk);
                return;
            } else {
                if self.filling.capacity() == 0 {
                    self.filling = BytesMut::with_capacity(target);
                }
                let take = (target - self.filling.len()).min(chunk.len());
                self.filling.extend_from_slice(&chunk.split_to(take));
                self.taken += take as u64;
                if self.filling.len() == target {
                    let part = std::mem::take(&mut self.filling).freeze();
                    self.emit(part);
                }
            }
            if !chunk.is_empty() {
                self.held.push_front(chunk);
            }
        }
        if self.finished && !self.filling.is_empty() {
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

    /// True while input waits to be taken into parts.
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Bytes taken into parts so far (held input not counted).
    pub fn bytes_in(&self) -> u64 {
        self.taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::part_size::{MIB, MIN_PART_SIZE};

    /// Takes every part, resuming after each as the copy does once it holds
    /// the next permit.
    fn drain(assembler: &mut PartAssembler) -> Vec<Part> {
        let mut parts = Vec::new();
        loop {
            parts.extend(std::iter::from_fn(|| assembler.pop()));
            assembler.resume();
            if assembler.ready_len() == 0 {
                return parts;
            }
        }
    }

    #[test]
    fn the_next_parts_buffer_waits_until_the_finished_part_is_taken() {
        let mut assembler =
            PartAssembler::new(PartSchedule::new(MIN_PART_SIZE, Some(12 * MIB), true));
        // A part and a half: the part is a slice, the half spills.
        assembler.push(Bytes::from(vec![3u8; (MIN_PART_SIZE + MIB) as usize]));
        assert_eq!(assembler.ready_len(), 1);
        assert!(assembler.has_held(), "the spill is held, not copied");
        assert_eq!(assembler.bytes_in(), MIN_PART_SIZE);
        assert_eq!(assembler.filling.capacity(), 0, "no buffer yet");
        let first = assembler.pop().expect("the first part");
        assert_eq!(first.data.len() as u64, MIN_PART_SIZE);
        assembler.resume();
        assert!(!assembler.has_held());
        assert_eq!(assembler.bytes_in(), MIN_PART_SIZE + MIB);
        assembler.finish();
        let rest = drain(&mut assembler);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].data.len() as u64, MIB);
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
