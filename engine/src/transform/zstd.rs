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

/// Compressed bytes per push of `unzstd`.
pub const UNZSTD_MAX_PUSH: usize = 8 * 1024;

/// The most `unzstd` output one push may hold before it is refused as a
/// decompression bomb (a ratio over 2,048:1 within one push).
pub const UNZSTD_OUTPUT_LIMIT: u64 = (UNZSTD_MAX_PUSH as u64) * 2_048;

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

/// Output buffer of one decoder step.
const UNZSTD_OUT_STEP: usize = 128 * 1024;

/// Decompresses a Zstandard stream of any number of frames.
pub struct Unzstd {
    decoder: Option<zstd::stream::raw::Decoder<'static>>,
    consumed: u64,
    /// True between frames (a stream may only end there).
    at_frame_end: bool,
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
        match built {
            Ok(decoder) => Unzstd {
                decoder: Some(decoder),
                consumed: 0,
                at_frame_end: true,
                error: None,
            },
            Err(error) => Unzstd {
                decoder: None,
                consumed: 0,
                at_frame_end: true,
                error: Some(error.to_string()),
            },
        }
    }

    fn positioned(&self, len: usize, error: impl std::fmt::Display) -> TransformError {
        failed(
            "unzstd",
            format!(
                "corrupt zstd input in compressed bytes {}..{}: {error}",
                self.consumed,
                self.consumed + len as u64
            ),
        )
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
        use zstd::stream::raw::Operation;
        let Some(decoder) = self.decoder.as_mut() else {
            return Err(failed(
                "unzstd",
                self.error.as_deref().unwrap_or("input after the end"),
            ));
        };
        let mut rest = &input[..];
        let mut produced = 0u64;
        let mut result = Ok(());
        let mut at_frame_end = self.at_frame_end;
        loop {
            let mut out = vec![0u8; UNZSTD_OUT_STEP];
            let status = match decoder.run_on_buffers(rest, &mut out) {
                Ok(status) => status,
                Err(error) => {
                    result = Err(error.to_string());
                    break;
                }
            };
            rest = &rest[status.bytes_read..];
            if status.bytes_read > 0 || status.bytes_written > 0 {
                at_frame_end = status.remaining == 0;
            }
            out.truncate(status.bytes_written);
            produced += out.len() as u64;
            let full = out.len() == UNZSTD_OUT_STEP;
            if !out.is_empty() {
                output.push(Bytes::from(out));
            }
            if produced > UNZSTD_OUTPUT_LIMIT {
                result = Err(format!(
                    "output over {UNZSTD_OUTPUT_LIMIT} bytes from {} compressed bytes: refused as a decompression bomb",
                    input.len()
                ));
                break;
            }
            if rest.is_empty() && !full {
                break;
            }
        }
        if let Err(error) = result {
            return Err(self.positioned(input.len(), error));
        }
        self.at_frame_end = at_frame_end;
        self.consumed += input.len() as u64;
        Ok(())
    }

    fn finish(&mut self, _output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.decoder = None;
        if !self.at_frame_end {
            return Err(self.positioned(0, "the input ends inside a frame"));
        }
        Ok(())
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

    fn max_push(&self) -> Option<usize> {
        Some(UNZSTD_MAX_PUSH)
    }

    /// One push's output at most, plus the frame window.
    fn window(&self) -> u64 {
        UNZSTD_OUTPUT_LIMIT + (1 << UNZSTD_WINDOW_LOG_MAX)
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
        }
        transform.finish(&mut output)?;
        Ok(output.concat())
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
        let plain = through(&mut Unzstd::new(), &two_frames, UNZSTD_MAX_PUSH).unwrap();
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
        let Err(error) = through(&mut Unzstd::new(), &compressed, UNZSTD_MAX_PUSH) else {
            panic!("a corrupted frame decoded");
        };
        assert!(
            error
                .message
                .contains("corrupt zstd input in compressed bytes"),
            "{error}"
        );
        let whole = through(&mut Zstd::new(3, 1), &input, 1 << 16).unwrap();
        let Err(error) = through(
            &mut Unzstd::new(),
            &whole[..whole.len() / 2],
            UNZSTD_MAX_PUSH,
        ) else {
            panic!("a truncated frame decoded");
        };
        assert!(error.message.contains("corrupt zstd input"), "{error}");
    }
}
