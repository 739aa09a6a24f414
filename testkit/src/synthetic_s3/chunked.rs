//! A streaming decoder for `Content-Encoding: aws-chunked` bodies (SigV4 streaming,
//! signed or unsigned, with or without trailers), fed frame by frame.
//!
//! The wire form is `hex-size[;chunk-signature=…]\r\n<data>\r\n` repeated, then a zero
//! chunk `0[;chunk-signature=…]\r\n`, trailer lines `name:value\r\n`, and `\r\n`.
//! Signatures are skipped, never checked.

use bytes::{Buf, Bytes};

/// Longest chunk-size line accepted: a hex size plus `;chunk-signature=` and 64 hex
/// digits is under 100 bytes, so anything this long is a malformed body, not a reason
/// to keep buffering.
const MAX_LINE_BYTES: usize = 4096;

/// Most trailer bytes accepted: a checksum and a trailer signature take under 200.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// What is wrong with an aws-chunked body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A size or trailer line ran past `MAX_LINE_BYTES`.
    #[error("aws-chunked line is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// A chunk size was not hexadecimal.
    #[error("aws-chunked chunk size {0:?} is not hexadecimal")]
    BadSize(String),
    /// Chunk data was not followed by CRLF.
    #[error("aws-chunked chunk data is not followed by crlf")]
    MissingCrlf,
    /// A trailer line had no `name:value` form.
    #[error("aws-chunked trailer line {0:?} has no colon")]
    BadTrailer(String),
    /// The trailers ran past `MAX_TRAILER_BYTES`.
    #[error("aws-chunked trailers are longer than {MAX_TRAILER_BYTES} bytes")]
    TrailersTooLong,
    /// The body ended before its final empty line.
    #[error("aws-chunked body ended before its final chunk and trailers")]
    Truncated,
    /// Bytes followed the final empty line.
    #[error("aws-chunked body has bytes after its trailers")]
    TrailingBytes,
}

/// Trailer lines of a body as `(lowercase name, value)`, in order.
pub type Trailers = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data { remaining: u64 },
    DataEnd { seen: usize },
    TrailerLine,
    Done,
}

/// Decodes one aws-chunked body; payload bytes go to a sink as they arrive.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailers: Trailers,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::SizeLine,
            line: Vec::new(),
            trailers: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Decodes `input`, the next bytes of the body, handing payload runs to `sink`
    /// without copying them.
    pub fn feed(
        &mut self,
        mut input: Bytes,
        sink: &mut impl FnMut(Bytes),
    ) -> Result<(), ChunkedError> {
        while input.has_remaining() {
            match self.state {
                State::SizeLine => {
                    if let Some(line) = self.take_line(&mut input)? {
                        self.state = size_line(&line)?;
                    }
                }
                State::Data { remaining } => {
                    let take = remaining.min(input.len() as u64);
                    sink(input.split_to(take as usize));
                    self.state = match remaining - take {
                        0 => State::DataEnd { seen: 0 },
                        remaining => State::Data { remaining },
                    };
                }
                State::DataEnd { seen } => {
                    if input[0] != b"\r\n"[seen] {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    input.advance(1);
                    self.state = if seen == 0 {
                        State::DataEnd { seen: 1 }
                    } else {
                        State::SizeLine
                    };
                }
                State::TrailerLine => {
                    if let Some(line) = self.take_line(&mut input)? {
                        self.trailer_line(&line)?;
                    }
                }
                State::Done => return Err(ChunkedError::TrailingBytes),
            }
        }
        Ok(())
    }

    /// Ends the body; returns its trailers (names lowercased).
    pub fn finish(self) -> Result<Trailers, ChunkedError> {
        match self.state {
            State::Done => Ok(self.trailers),
            _ => Err(ChunkedError::Truncated),
        }
    }

    /// Takes one CRLF-terminated line from `input` (without its CRLF), or buffers a
    /// partial one and returns `None`.
    fn take_line(&mut self, input: &mut Bytes) -> Result<Option<Vec<u8>>, ChunkedError> {
        let newline = input.iter().position(|byte| *byte == b'\n');
        let end = newline.map_or(input.len(), |at| at + 1);
        if self.line.len() + end > MAX_LINE_BYTES {
            return Err(ChunkedError::LineTooLong);
        }
        self.line.extend_from_slice(&input[..end]);
        input.advance(end);
        if newline.is_none() {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.line);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        if line.is_empty() {
            self.state = State::Done;
            return Ok(());
        }
        self.trailer_bytes += line.len();
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ChunkedError::TrailersTooLong);
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(ChunkedError::BadTrailer(text.into_owned()));
        };
        self.trailers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        Ok(())
    }
}

/// The state after a chunk-size line.
fn size_line(line: &[u8]) -> Result<State, ChunkedError> {
    let text = String::from_utf8_lossy(line);
    let size = text.split(';').next().unwrap_or_default().trim();
    let Ok(size) = u64::from_str_radix(size, 16) else {
        return Err(ChunkedError::BadSize(text.into_owned()));
    };
    Ok(match size {
        0 => State::TrailerLine,
        remaining => State::Data { remaining },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], piece: usize) -> Result<(Vec<u8>, Trailers), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        for slice in body.chunks(piece) {
            decoder.feed(Bytes::copy_from_slice(slice), &mut |data| {
                out.extend_from_slice(&data)
            })?;
        }
        Ok((out, decoder.finish()?))
    }

    #[test]
    fn decodes_unsigned_with_trailer_at_any_split() {
        let body = b"5\r\nhello\r\n3\r\n, w\r\n0\r\nx-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n";
        for piece in 1..body.len() {
            let (data, trailers) = decode_in_pieces(body, piece).unwrap();
            assert_eq!(data, b"hello, w");
            assert_eq!(
                trailers,
                vec![(
                    "x-amz-checksum-crc64nvme".to_owned(),
                    "AAAAAAAAAAA=".to_owned()
                )]
            );
        }
    }

    #[test]
    fn decodes_signed_chunks() {
        let sig = "a".repeat(64);
        let body = format!(
            "4;chunk-signature={sig}\r\nabcd\r\n0;chunk-signature={sig}\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{sig}\r\n\r\n"
        );
        let (data, trailers) = decode_in_pieces(body.as_bytes(), 7).unwrap();
        assert_eq!(data, b"abcd");
        assert_eq!(trailers.len(), 2);
        let no_trailer =
            format!("4;chunk-signature={sig}\r\nabcd\r\n0;chunk-signature={sig}\r\n\r\n");
        assert_eq!(
            decode_in_pieces(no_trailer.as_bytes(), 3).unwrap().0,
            b"abcd"
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert_eq!(
            decode_in_pieces(b"zz\r\n", 4),
            Err(ChunkedError::BadSize("zz".to_owned()))
        );
        assert_eq!(
            decode_in_pieces(b"2\r\nabX", 8),
            Err(ChunkedError::MissingCrlf)
        );
        assert_eq!(
            decode_in_pieces(b"2\r\nab\r\n", 8),
            Err(ChunkedError::Truncated)
        );
        assert_eq!(
            decode_in_pieces(b"0\r\n\r\nx", 8),
            Err(ChunkedError::TrailingBytes)
        );
        assert_eq!(
            decode_in_pieces(b"0\r\nnocolon\r\n\r\n", 8),
            Err(ChunkedError::BadTrailer("nocolon".to_owned()))
        );
        let long = vec![b'1'; MAX_LINE_BYTES + 1];
        assert_eq!(decode_in_pieces(&long, 100), Err(ChunkedError::LineTooLong));
    }
}
