//! The gzip transform: compresses each object into `KEY.gz`.

use super::{Transform, TransformError};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

/// Compression level: 1 keeps a Lambda vCPU near network speed (level 6, gzip's
/// default, is several times slower for a few percent smaller output).
pub const GZIP_LEVEL: u32 = 1;

/// Gzip-compresses the stream; the destination key gets `.gz` and the type
/// `application/gzip`.
pub struct Gzip {
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl Default for Gzip {
    fn default() -> Self {
        Gzip {
            encoder: Some(GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL))),
        }
    }
}

fn failed(error: std::io::Error) -> TransformError {
    TransformError {
        name: "gzip",
        message: error.to_string(),
    }
}

impl Transform for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| failed(std::io::ErrorKind::BrokenPipe.into()))?;
        encoder.write_all(&input).map_err(failed)?;
        let compressed = std::mem::take(encoder.get_mut());
        if !compressed.is_empty() {
            output.push(Bytes::from(compressed));
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if let Some(encoder) = self.encoder.take() {
            let rest = encoder.finish().map_err(failed)?;
            if !rest.is_empty() {
                output.push(Bytes::from(rest));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips() {
        let input: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let mut gzip = Gzip::default();
        let mut output = Vec::new();
        for chunk in input.chunks(70_000) {
            gzip.push(Bytes::copy_from_slice(chunk), &mut output)
                .unwrap();
        }
        gzip.finish(&mut output).unwrap();
        let compressed: Vec<u8> = output.concat();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
    }
}
