//! The gzip transform: compresses into `KEY.gz`, as independent members compressed on several threads.
//!
//! A gzip file is a sequence of members (RFC 1952 §2.2), so 1 MiB of input
//! per member, compressed by `workers` threads at once (a [`MemberPool`]
//! that outlives each push) and emitted in order, is one valid file:
//! `gzip -d`, `zcat`, Python's `gzip` and flate2's `MultiGzDecoder` read it
//! whole. Single-member decoders (flate2's
//! `GzDecoder`, zlib's one-shot `inflate`) stop after the first member: for
//! them, [`GzipMembers::Single`] writes one member on one thread.

use super::member_pool::{MemberPool, MemberResult};
use super::{Transform, TransformError};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

/// Compression level by default: 2. With the zlib-rs backend, level 1 is
/// zlib-ng's "quick" strategy: on JSON lines it wrote 19.1% of the input at
/// 712 MB/s where level 2 writes 13.1% at 502 MB/s (one core, either far
/// above a Lambda's network share), and it expands incompressible input by
/// 5.5% where level 2 stores it (+0.03%). `GZIP_LEVEL` chooses.
pub const GZIP_LEVEL: u32 = 2;

/// Input bytes per member: each starts without a dictionary, which at 1 MiB
/// costs well under 1% of ratio, and each worker gets a whole block to itself
/// (pigz's 128 KiB blocks share dictionaries instead, which independent
/// members cannot).
pub const MEMBER_BYTES: usize = 1 << 20;

/// The shape of `gzip`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipMembers {
    /// One member per [`MEMBER_BYTES`] of input, compressed in parallel.
    Parallel,
    /// One member, compressed on one thread, for single-member decoders.
    Single,
}

/// Gzip-compresses the stream; the destination key gets `.gz` and the type
/// `application/gzip`.
pub struct Gzip {
    level: Compression,
    state: State,
}

enum State {
    Single(Option<Box<GzEncoder<Vec<u8>>>>),
    Members {
        /// Input not yet compressed (slices of the pushed chunks: no copy).
        pending: Vec<Bytes>,
        pending_len: usize,
        /// True once a member was made (empty input still gets one).
        emitted: bool,
        /// The threads compressing whole members.
        pool: MemberPool,
    },
}

impl Default for Gzip {
    fn default() -> Self {
        Gzip::new(GZIP_LEVEL, GzipMembers::Parallel, 1)
    }
}

fn failed(error: std::io::Error) -> TransformError {
    TransformError {
        name: "gzip",
        message: error.to_string(),
    }
}

/// The most a member of `len` input bytes can take compressed: deflate's
/// stored and fixed-Huffman blocks expand by at most 1/8 (9-bit literals),
/// plus the gzip header and trailer.
fn member_bound(len: usize) -> usize {
    len + len / 8 + 64
}

/// One member of `input`.
fn member(input: &[Bytes], level: Compression) -> MemberResult {
    let len: usize = input.iter().map(Bytes::len).sum();
    let mut encoder = GzEncoder::new(Vec::with_capacity(len / 2 + 64), level);
    for chunk in input {
        encoder.write_all(chunk).map_err(failed)?;
    }
    encoder.finish().map_err(failed)
}

impl Gzip {
    /// A compressor at `level` (1–9) writing `members` with `workers` threads.
    pub fn new(level: u32, members: GzipMembers, workers: usize) -> Gzip {
        let level = Compression::new(level.clamp(1, 9));
        let state = match members {
            GzipMembers::Single => State::Single(Some(Box::new(GzEncoder::new(Vec::new(), level)))),
            GzipMembers::Parallel => State::Members {
                pending: Vec::new(),
                pending_len: 0,
                emitted: false,
                pool: MemberPool::new(workers, move |input: &[Bytes]| member(input, level)),
            },
        };
        Gzip { level, state }
    }
}

/// Appends `bytes` to `output` unless it is empty.
fn emit(output: &mut Vec<Bytes>, bytes: Vec<u8>) {
    if !bytes.is_empty() {
        output.push(Bytes::from(bytes));
    }
}

/// Takes the first `len` bytes of `pending` as slices.
fn take(pending: &mut Vec<Bytes>, pending_len: &mut usize, len: usize) -> Vec<Bytes> {
    let mut taken = Vec::new();
    let mut left = len;
    while left > 0 && !pending.is_empty() {
        let first = &mut pending[0];
        if first.len() <= left {
            left -= first.len();
            taken.push(pending.remove(0));
        } else {
            taken.push(first.split_to(left));
            left = 0;
        }
    }
    *pending_len -= len - left;
    taken
}

impl Transform for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        match &mut self.state {
            State::Single(encoder) => {
                let encoder = encoder
                    .as_mut()
                    .ok_or_else(|| failed(std::io::ErrorKind::BrokenPipe.into()))?;
                encoder.write_all(&input).map_err(failed)?;
                emit(output, std::mem::take(encoder.get_mut()));
            }
            State::Members {
                pending,
                pending_len,
                emitted,
                pool,
            } => {
                if !input.is_empty() {
                    *pending_len += input.len();
                    pending.push(input);
                }
                // Every whole member goes to the pool as soon as it fills.
                while *pending_len >= MEMBER_BYTES {
                    pool.submit(take(pending, pending_len, MEMBER_BYTES), output)?;
                    *emitted = true;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        match &mut self.state {
            State::Single(encoder) => {
                if let Some(encoder) = encoder.take() {
                    emit(output, encoder.finish().map_err(failed)?);
                }
            }
            State::Members {
                pending,
                pending_len,
                emitted,
                pool,
            } => {
                // The tail is under a member; an empty input is still a gzip
                // file, of one empty member.
                let tail = take(pending, pending_len, *pending_len);
                let needed = !tail.is_empty() || !*emitted;
                *emitted = true;
                if needed && pool.is_idle() {
                    // A small object: no thread is started for it.
                    emit(output, member(&tail, self.level)?);
                } else if needed {
                    pool.submit(tail, output)?;
                }
                pool.flush(output)?;
            }
        }
        Ok(())
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/gzip")
    }

    fn key_suffix(&self) -> &str {
        ".gz"
    }

    /// The input tail under a member, and the members in the pool: each
    /// one's input and its compressed output until it is handed on.
    fn window(&self) -> u64 {
        match &self.state {
            State::Single(_) => 0,
            State::Members { pool, .. } => {
                (MEMBER_BYTES + pool.limit() * (MEMBER_BYTES + member_bound(MEMBER_BYTES))) as u64
            }
        }
    }

    fn is_cpu_heavy(&self) -> bool {
        true
    }

    /// Members are independent and emitted one chunk each: a copy restarts
    /// at any member. One member (`Single`) carries its state to the end.
    fn restart_unit(&self) -> Option<u64> {
        match self.state {
            State::Members { .. } => Some(MEMBER_BYTES as u64),
            State::Single(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn compressed(gzip: &mut Gzip, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut output = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            gzip.push(Bytes::copy_from_slice(piece), &mut output)
                .unwrap();
        }
        gzip.finish(&mut output).unwrap();
        output.concat()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len as u32)
            .flat_map(|i| ((i / 7) % 97).to_le_bytes())
            .take(len)
            .collect()
    }

    #[test]
    fn parallel_members_decode_as_one_stream() {
        let input = sample(5 * MEMBER_BYTES + 12_345);
        let mut gzip = Gzip::new(6, GzipMembers::Parallel, 3);
        let output = compressed(&mut gzip, &input, 700_000);
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(&output[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
        // Six members: a single-member decoder stops after the first.
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(&output[..])
            .read_to_end(&mut first)
            .unwrap();
        assert_eq!(first.len(), MEMBER_BYTES);
    }

    #[test]
    fn a_fresh_compressor_fed_the_input_from_a_member_makes_the_same_bytes() {
        let input = sample(4 * MEMBER_BYTES + 777);
        let emitted = |from: usize| {
            let mut gzip = Gzip::new(2, GzipMembers::Parallel, 2);
            let mut output = Vec::new();
            for piece in input[from..].chunks(300_000) {
                gzip.push(Bytes::copy_from_slice(piece), &mut output)
                    .unwrap();
            }
            gzip.finish(&mut output).unwrap();
            output
        };
        let whole = emitted(0);
        assert_eq!(whole.len(), 5, "one chunk per member");
        let unit = Gzip::new(2, GzipMembers::Parallel, 2).restart_unit();
        assert_eq!(unit, Some(MEMBER_BYTES as u64));
        assert_eq!(emitted(2 * MEMBER_BYTES), whole[2..].to_vec());
        assert_eq!(Gzip::new(2, GzipMembers::Single, 1).restart_unit(), None);
    }

    #[test]
    fn an_object_under_a_member_starts_no_thread() {
        let input = sample(MEMBER_BYTES - 1);
        let mut gzip = Gzip::new(6, GzipMembers::Parallel, 2);
        let output = compressed(&mut gzip, &input, 1 << 16);
        let State::Members { pool, .. } = &gzip.state else {
            panic!("parallel members")
        };
        assert!(pool.is_idle());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&output[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
    }

    #[test]
    fn single_member_and_empty_inputs_are_gzip_files() {
        let input = sample(3 * MEMBER_BYTES);
        let mut gzip = Gzip::new(1, GzipMembers::Single, 4);
        let output = compressed(&mut gzip, &input, 1 << 16);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&output[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
        for members in [GzipMembers::Parallel, GzipMembers::Single] {
            let output = compressed(&mut Gzip::new(1, members, 2), &[], 1);
            assert!(output.len() >= 18, "{members:?}: a header and a trailer");
            let mut decoded = Vec::new();
            flate2::read::MultiGzDecoder::new(&output[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert!(decoded.is_empty());
        }
    }
}
