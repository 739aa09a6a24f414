//! The gzip transform: compresses into `KEY.gz`, as independent members compressed on several threads.
//!
//! A gzip file is a sequence of members (RFC 1952 §2.2), so 1 MiB of input
//! per member, compressed by `workers` threads at once and emitted in order,
//! is one valid file: `gzip -d`, `zcat`, Python's `gzip` and flate2's
//! `MultiGzDecoder` read it whole. Single-member decoders (flate2's
//! `GzDecoder`, zlib's one-shot `inflate`) stop after the first member: for
//! them, [`GzipMembers::Single`] writes one member on one thread.

use super::{Transform, TransformError};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    workers: usize,
    state: State,
}

enum State {
    Single(Option<Box<GzEncoder<Vec<u8>>>>),
    Members {
        /// Input not yet compressed (slices of the pushed chunks: no copy).
        pending: Vec<Bytes>,
        pending_len: usize,
        /// True once a member was emitted (empty input still gets one).
        emitted: bool,
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

/// A compressed member, or why it could not be made.
type MemberResult = Result<Vec<u8>, TransformError>;

/// One member of `input`.
fn member(input: &[Bytes], level: Compression) -> Result<Vec<u8>, TransformError> {
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
            },
        };
        Gzip {
            level,
            workers: workers.max(1),
            state,
        }
    }

    /// Compresses `members` (each a list of input slices) on `workers`
    /// threads, each taking the next member until none is left, and appends
    /// them in order.
    fn compress(
        &self,
        members: Vec<Vec<Bytes>>,
        output: &mut Vec<Bytes>,
    ) -> Result<(), TransformError> {
        let level = self.level;
        let threads = self.workers.min(members.len());
        let compressed: Vec<MemberResult> = if threads <= 1 {
            members.iter().map(|input| member(input, level)).collect()
        } else {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<MemberResult>>> =
                members.iter().map(|_| Mutex::new(None)).collect();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(input) = members.get(index) else {
                                break;
                            };
                            let result = member(input, level);
                            if let Ok(mut slot) = slots[index].lock() {
                                *slot = Some(result);
                            }
                        }
                    });
                }
            });
            slots
                .into_iter()
                .map(|slot| {
                    slot.into_inner().ok().flatten().unwrap_or_else(|| {
                        Err(TransformError {
                            name: "gzip",
                            message: "a compression thread panicked".into(),
                        })
                    })
                })
                .collect()
        };
        for member in compressed {
            output.push(Bytes::from(member?));
        }
        Ok(())
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
        let batch = MEMBER_BYTES * self.workers;
        let members = match &mut self.state {
            State::Single(encoder) => {
                let encoder = encoder
                    .as_mut()
                    .ok_or_else(|| failed(std::io::ErrorKind::BrokenPipe.into()))?;
                encoder.write_all(&input).map_err(failed)?;
                emit(output, std::mem::take(encoder.get_mut()));
                return Ok(());
            }
            State::Members {
                pending,
                pending_len,
                emitted,
            } => {
                if !input.is_empty() {
                    *pending_len += input.len();
                    pending.push(input);
                }
                // Every whole member of the input so far, compressed in one
                // pass; once a batch is due, so threads never wait on a tail.
                let mut members = Vec::new();
                if *pending_len >= batch {
                    while *pending_len >= MEMBER_BYTES {
                        members.push(take(pending, pending_len, MEMBER_BYTES));
                    }
                }
                *emitted |= !members.is_empty();
                members
            }
        };
        if members.is_empty() {
            return Ok(());
        }
        self.compress(members, output)
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let members = match &mut self.state {
            State::Single(encoder) => {
                if let Some(encoder) = encoder.take() {
                    emit(output, encoder.finish().map_err(failed)?);
                }
                return Ok(());
            }
            State::Members {
                pending,
                pending_len,
                emitted,
            } => {
                let mut members = Vec::new();
                while *pending_len > 0 {
                    let len = MEMBER_BYTES.min(*pending_len);
                    members.push(take(pending, pending_len, len));
                }
                // An empty input is still a gzip file: one empty member.
                if members.is_empty() && !*emitted {
                    members.push(Vec::new());
                }
                *emitted = true;
                members
            }
        };
        self.compress(members, output)
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/gzip")
    }

    fn key_suffix(&self) -> &str {
        ".gz"
    }

    /// The input tail held for the next batch, and the workers' own state
    /// (each compresses one member at a time).
    fn window(&self) -> u64 {
        match self.state {
            State::Single(_) => 0,
            State::Members { .. } => (2 * MEMBER_BYTES * self.workers) as u64,
        }
    }

    fn is_cpu_heavy(&self) -> bool {
        true
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
