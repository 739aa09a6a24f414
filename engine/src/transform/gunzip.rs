//! The gunzip transform: decompresses every member of a gzip file, dropping `.gz` from the key.

use super::{Transform, TransformError, type_of_key};
use bytes::Bytes;
use flate2::write::MultiGzDecoder;
use std::io::Write;

/// Compressed bytes per push: deflate expands at most 1,032:1, so one push
/// emits at most ~8.1 MiB ([`GUNZIP_WINDOW`]) however the input compresses.
pub const GUNZIP_MAX_PUSH: usize = 8 * 1024;

/// The most one push can emit: [`GUNZIP_MAX_PUSH`] × 1,032.
pub const GUNZIP_WINDOW: u64 = GUNZIP_MAX_PUSH as u64 * 1_032;

/// Decompresses a gzip stream of any number of members.
pub struct Gunzip {
    decoder: Option<MultiGzDecoder<Vec<u8>>>,
    /// Compressed bytes consumed so far (for positioned errors).
    consumed: u64,
}

impl Gunzip {
    /// A decompressor.
    pub fn new() -> Gunzip {
        Gunzip {
            decoder: Some(MultiGzDecoder::new(Vec::new())),
            consumed: 0,
        }
    }

    fn failed(&self, len: usize, error: &std::io::Error) -> TransformError {
        TransformError {
            name: "gunzip",
            message: format!(
                "corrupt gzip input in compressed bytes {}..{}: {error}",
                self.consumed,
                self.consumed + len as u64
            ),
        }
    }
}

impl Default for Gunzip {
    fn default() -> Self {
        Gunzip::new()
    }
}

impl Transform for Gunzip {
    fn name(&self) -> &'static str {
        "gunzip"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Err(TransformError {
                name: "gunzip",
                message: "input after the end".into(),
            });
        };
        let written = decoder.write_all(&input);
        let plain = std::mem::take(decoder.get_mut());
        if let Err(error) = written {
            return Err(self.failed(input.len(), &error));
        }
        self.consumed += input.len() as u64;
        if !plain.is_empty() {
            output.push(Bytes::from(plain));
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let Some(mut decoder) = self.decoder.take() else {
            return Ok(());
        };
        // No input at all is an empty output, not a truncated member.
        if self.consumed == 0 {
            return Ok(());
        }
        if let Err(error) = decoder.try_finish() {
            return Err(self.failed(0, &error));
        }
        let plain = std::mem::take(decoder.get_mut());
        if !plain.is_empty() {
            output.push(Bytes::from(plain));
        }
        Ok(())
    }

    fn content_type_for(&self, destination_key: &str) -> Option<String> {
        Some(type_of_key(destination_key).to_owned())
    }

    fn destination_key(&self, key: &str) -> String {
        key.strip_suffix(".gz").unwrap_or(key).to_owned()
    }

    fn is_output_key(&self, key: &str) -> bool {
        !key.ends_with(".gz")
    }

    fn max_push(&self) -> Option<usize> {
        Some(GUNZIP_MAX_PUSH)
    }

    fn window(&self) -> u64 {
        GUNZIP_WINDOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn run(input: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut gunzip = Gunzip::new();
        let mut output = Vec::new();
        for piece in input.chunks(GUNZIP_MAX_PUSH) {
            gunzip.push(Bytes::copy_from_slice(piece), &mut output)?;
        }
        gunzip.finish(&mut output)?;
        Ok(output.concat())
    }

    #[test]
    fn every_member_is_decompressed() {
        let mut file = gz(b"first member, ");
        file.extend(gz(b"second member"));
        assert_eq!(run(&file).unwrap(), b"first member, second member");
        assert_eq!(run(&[]).unwrap(), b"");
    }

    #[test]
    fn corrupt_and_truncated_input_fail_naming_the_position() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut file = gz(&data);
        let middle = file.len() / 2;
        file[middle] ^= 0xff;
        let error = run(&file).unwrap_err();
        assert!(
            error
                .message
                .contains("corrupt gzip input in compressed bytes"),
            "{error}"
        );
        let truncated = &gz(&data)[..middle];
        let error = run(truncated).unwrap_err();
        assert!(error.message.contains("corrupt gzip input"), "{error}");
    }

    #[test]
    fn keys_lose_their_suffix_and_get_their_type() {
        let gunzip = Gunzip::new();
        assert_eq!(gunzip.destination_key("logs/a.json.gz"), "logs/a.json");
        assert_eq!(
            gunzip.content_type_for("logs/a.json").as_deref(),
            Some("application/json")
        );
    }
}
