//! The zstd and unzstd transforms: Zstandard compression on several threads, and decompression of every frame.

use super::{Transform, TransformError, type_of_key};
use bytes::Bytes;
use std::io::Write;

/// Compression level by default: 3 is zstd's own default (`zstd -3`),
/// faster than gzip -1 at a better ratio.
pub const ZSTD_LEVEL: i32 = 3;

/// Input per job of multi-threaded compression: each worker compresses a
/// 4 MiB job at a time, so memory is a few jobs per worker, not zstd's
/// default of four windows (up to 512 MiB at high levels).
pub const ZSTD_JOB_BYTES: u32 = 4 << 20;

/// The largest window `unzstd` accepts, as a log: 2^23 = 8 MiB covers every
/// level up to 19 without `--long`; a frame asking for more fails clearly
/// instead of allocating it.
pub const UNZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Output `unzstd` emits per push or drain at most: the rest waits in the
/// decoder ([`Transform::has_pending`]) until the engine has handed this on,
/// so any ratio (a file of zeros compresses 10,000:1) streams in bounded memory.
pub const UNZSTD_STEP_OUTPUT: usize = 4 << 20;

/// Output buffer the decoder writes into: a full one goes on as a chunk
/// without copying, and it is never zeroed first (zeroing each fresh
/// megabyte cost `unzstd` about a third of its time). 1 MiB keeps the
/// chunk count per part low.
const UNZSTD_SCRATCH: usize = 1 << 20;

/// Zstandard-compresses the stream into `KEY.zst` (`application/zstd`).
pub struct Zstd {
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    workers: usize,
    error: Option<String>,
}

fn failed(name: &'static str, error: impl std::fmt::Display) -> TransformError {
    TransformError {
        name,
        message: error.to_string(),
    }
}

impl Zstd {
    /// A compressor at `level` (1–19) on `workers` threads.
    pub fn new(level: i32, workers: usize) -> Zstd {
        let workers = workers.max(1);
        let built = zstd::stream::write::Encoder::new(Vec::new(), level.clamp(1, 19)).and_then(
            |mut encoder| {
                // A content checksum per frame, as the zstd CLI writes, so
                // `unzstd` (and `zstd -t`) detect a corrupted frame.
                encoder.include_checksum(true)?;
                if workers > 1 {
                    encoder.multithread(workers as u32)?;
                    encoder.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_BYTES))?;
                }
                Ok(encoder)
            },
        );
        match built {
            Ok(encoder) => Zstd {
                encoder: Some(encoder),
                workers,
                error: None,
            },
            Err(error) => Zstd {
                encoder: None,
                workers,
                error: Some(error.to_string()),
            },
        }
    }

    fn encoder(
        &mut self,
    ) -> Result<&mut zstd::stream::write::Encoder<'static, Vec<u8>>, TransformError> {
        match (&mut self.encoder, &self.error) {
            (Some(encoder), _) => Ok(encoder),
            (None, Some(error)) => Err(failed("zstd", error)),
            (None, None) => Err(failed("zstd", "input after the end")),
        }
    }
}

impl Transform for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let encoder = self.encoder()?;
        encoder.write_all(&input).map_err(|e| failed("zstd", e))?;
        let compressed = std::mem::take(encoder.get_mut());
        if !compressed.is_empty() {
            output.push(Bytes::from(compressed));
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.encoder()?;
        if let Some(encoder) = self.encoder.take() {
            let rest = encoder.finish().map_err(|e| failed("zstd", e))?;
            if !rest.is_empty() {
                output.push(Bytes::from(rest));
            }
        }
        Ok(())
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/zstd")
    }

    fn key_suffix(&self) -> &str {
        ".zst"
    }

    /// Jobs in flight: each worker's input and output, and the one filling.
    fn window(&self) -> u64 {
        if self.workers > 1 {
            (2 * self.workers as u64 + 1) * u64::from(ZSTD_JOB_BYTES)
        } else {
            0
        }
    }

    fn is_cpu_heavy(&self) -> bool {
        true
    }
}

/// Decompresses a Zstandard stream of any number of frames.
pub struct Unzstd {
    decoder: Option<zstd::stream::raw::Decoder<'static>>,
    /// Compressed input not yet fed to the decoder.
    pending: Bytes,
    /// True when the last step filled its buffer: the decoder may hold more.
    more: bool,
    /// Compressed bytes consumed so far.
    consumed: u64,
    /// True between frames (a stream may only end there).
    at_frame_end: bool,
    /// `finish` was called: the end is checked once nothing is pending.
    finishing: bool,
    /// The buffer the decoder writes into (never zeroed: it writes only
    /// into spare capacity).
    scratch: Vec<u8>,
    error: Option<String>,
}

impl Unzstd {
    /// A decompressor accepting windows up to 2^[`UNZSTD_WINDOW_LOG_MAX`].
    pub fn new() -> Unzstd {
        let built = zstd::stream::raw::Decoder::new().and_then(|mut decoder| {
            decoder.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(
                UNZSTD_WINDOW_LOG_MAX,
            ))?;
            Ok(decoder)
        });
        let (decoder, error) = match built {
            Ok(decoder) => (Some(decoder), None),
            Err(error) => (None, Some(error.to_string())),
        };
        Unzstd {
            decoder,
            pending: Bytes::new(),
            more: false,
            consumed: 0,
            at_frame_end: true,
            finishing: false,
            scratch: Vec::new(),
            error,
        }
    }

    fn positioned(&self, error: impl std::fmt::Display) -> TransformError {
        failed(
            "unzstd",
            format!(
                "corrupt zstd input at compressed byte {}: {error}",
                self.consumed
            ),
        )
    }

    /// Decodes until the input is used up and the decoder holds nothing, or
    /// [`UNZSTD_STEP_OUTPUT`] bytes came out.
    fn run(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        use zstd::stream::raw::Operation;
        let Some(decoder) = self.decoder.as_mut() else {
            return Err(failed(
                "unzstd",
                self.error.as_deref().unwrap_or("input after the end"),
            ));
        };
        let mut produced = 0;
        while produced < UNZSTD_STEP_OUTPUT && (!self.pending.is_empty() || self.more) {
            if self.scratch.capacity() == 0 {
                self.scratch = Vec::with_capacity(UNZSTD_SCRATCH);
            }
            let filled = self.scratch.len();
            let mut input = zstd::zstd_safe::InBuffer::around(&self.pending);
            let mut out = zstd::zstd_safe::OutBuffer::around_pos(&mut self.scratch, filled);
            let remaining = match decoder.run(&mut input, &mut out) {
                Ok(remaining) => remaining,
                Err(error) => {
                    let message = error.to_string();
                    return Err(self.positioned(message));
                }
            };
            let (read, written) = (input.pos(), out.pos() - filled);
            let _ = self.pending.split_to(read);
            self.consumed += read as u64;
            if read > 0 || written > 0 {
                self.at_frame_end = remaining == 0;
            }
            produced += written;
            // A full buffer goes on whole (no copy); the decoder may hold more.
            self.more = self.scratch.len() == self.scratch.capacity();
            if self.more {
                output.push(Bytes::from(std::mem::take(&mut self.scratch)));
            } else if read == 0 && written == 0 {
                break;
            }
        }
        // The step's last, partly filled buffer is copied out at its size, so
        // a chunk never holds more memory than its bytes, and the buffer is
        // written again by the next step.
        if !self.scratch.is_empty() {
            output.push(Bytes::copy_from_slice(&self.scratch));
            self.scratch.clear();
        }
        if self.finishing && !self.has_pending() && !self.at_frame_end {
            return Err(self.positioned("the input ends inside a frame"));
        }
        Ok(())
    }
}

impl Default for Unzstd {
    fn default() -> Self {
        Unzstd::new()
    }
}

impl Transform for Unzstd {
    fn name(&self) -> &'static str {
        "unzstd"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.pending = if self.pending.is_empty() {
            input
        } else {
            Bytes::from([&self.pending[..], &input[..]].concat())
        };
        self.run(output)
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.finishing = true;
        self.run(output)
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.more
    }

    fn drain(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.run(output)
    }

    fn content_type_for(&self, destination_key: &str) -> Option<String> {
        Some(type_of_key(destination_key).to_owned())
    }

    fn destination_key(&self, key: &str) -> String {
        key.strip_suffix(".zst").unwrap_or(key).to_owned()
    }

    fn is_output_key(&self, key: &str) -> bool {
        !key.ends_with(".zst")
    }

    /// One step's output, the frame window and the scratch buffer.
    fn window(&self) -> u64 {
        (UNZSTD_STEP_OUTPUT + (1 << UNZSTD_WINDOW_LOG_MAX) + UNZSTD_SCRATCH) as u64
    }

    fn is_cpu_heavy(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(
        transform: &mut dyn Transform,
        input: &[u8],
        chunk: usize,
    ) -> Result<Vec<u8>, TransformError> {
        let mut output = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            transform.push(Bytes::copy_from_slice(piece), &mut output)?;
            while transform.has_pending() {
                transform.drain(&mut output)?;
            }
        }
        transform.finish(&mut output)?;
        while transform.has_pending() {
            transform.drain(&mut output)?;
        }
        Ok(output.concat())
    }

    #[test]
    fn any_ratio_streams_in_steps() {
        let zeros = vec![0u8; 100 << 20];
        let compressed = through(&mut Zstd::new(3, 1), &zeros, 8 << 20).unwrap();
        assert!(compressed.len() < 100_000, "{}", compressed.len());
        let mut unzstd = Unzstd::new();
        let mut output = Vec::new();
        unzstd.push(Bytes::from(compressed), &mut output).unwrap();
        let mut total = 0;
        loop {
            let step: usize = output.drain(..).map(|chunk| chunk.len()).sum();
            assert!(step <= UNZSTD_STEP_OUTPUT, "{step} bytes in one step");
            total += step;
            if !unzstd.has_pending() {
                break;
            }
            unzstd.drain(&mut output).unwrap();
        }
        unzstd.finish(&mut output).unwrap();
        assert!(!unzstd.has_pending());
        total += output.iter().map(Bytes::len).sum::<usize>();
        assert_eq!(total, 100 << 20);
    }

    #[test]
    fn round_trips_on_several_threads_and_across_frames() {
        let input: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i / 5 % 251).to_le_bytes())
            .collect();
        let compressed = through(&mut Zstd::new(3, 2), &input, 1 << 20).unwrap();
        assert!(compressed.len() < input.len() / 4);
        let mut two_frames = compressed.clone();
        two_frames.extend(through(&mut Zstd::new(1, 1), b"tail", 4).unwrap());
        let plain = through(&mut Unzstd::new(), &two_frames, 64 * 1024).unwrap();
        assert_eq!(plain.len(), input.len() + 4);
        assert_eq!(&plain[..input.len()], &input[..]);
        assert_eq!(&plain[input.len()..], b"tail");
    }

    #[test]
    fn corrupt_input_fails_naming_the_position() {
        let input: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut compressed = through(&mut Zstd::new(3, 1), &input, 1 << 16).unwrap();
        let middle = compressed.len() / 2;
        compressed[middle] ^= 0x5a;
        compressed[middle + 1] ^= 0xa5;
        let Err(error) = through(&mut Unzstd::new(), &compressed, 64 * 1024) else {
            panic!("a corrupted frame decoded");
        };
        assert!(
            error
                .message
                .contains("corrupt zstd input at compressed byte"),
            "{error}"
        );
        let whole = through(&mut Zstd::new(3, 1), &input, 1 << 16).unwrap();
        let Err(error) = through(&mut Unzstd::new(), &whole[..whole.len() / 2], 64 * 1024) else {
            panic!("a truncated frame decoded");
        };
        assert!(error.message.contains("corrupt zstd input"), "{error}");
    }
}
