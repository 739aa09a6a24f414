//! The ndjson transform: a JSON array (or concatenated JSON values) becomes newline-delimited JSON, streaming.
//!
//! Each element is copied token by token with the whitespace between tokens
//! dropped, so numbers, strings and key order stay exactly as written (no
//! float rounding, no re-escaping, no sorted keys); only one element is ever
//! held, at most [`NDJSON_MAX_ELEMENT`] bytes. Every element is checked by a
//! full JSON parse before it is written, so invalid input fails naming its
//! byte offset.

use super::{Transform, TransformError};
use bytes::Bytes;

/// The largest element (one output line): a multi-GB array streams through,
/// but one element must fit this window. 8 MiB is far beyond a record's
/// size and, held twice over (the buffer grows by doubling), still leaves a
/// 512 MB function's 64 MiB budget most of its room for parts.
pub const NDJSON_MAX_ELEMENT: usize = 8 << 20;

/// Output gathered before it is handed on: parts are megabytes, lines may be bytes.
const NDJSON_FLUSH_BYTES: usize = 1 << 20;

/// Where the scanner is, outside any element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    /// Before the first value: `[` starts array mode, anything else values mode.
    Start,
    /// Array mode, expecting an element or `]`.
    ArrayElement,
    /// Array mode, after an element: `,` or `]`.
    ArrayNext,
    /// After the array's `]`: only whitespace may follow.
    ArrayDone,
    /// Values mode, between values.
    Values,
}

/// Newline-delimited JSON from a JSON array or concatenated values.
pub struct Ndjson {
    top: Top,
    /// The element being read (compacted), and the offset where it began.
    element: Vec<u8>,
    element_start: u64,
    /// Nesting depth inside the element (0: outside or in a scalar).
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// True while inside a bare scalar (number, literal) at depth 0.
    in_scalar: bool,
    /// Bytes consumed so far.
    offset: u64,
    /// Finished lines not yet handed on.
    lines: Vec<u8>,
}

impl Default for Ndjson {
    fn default() -> Self {
        Ndjson::new()
    }
}

fn failed(message: String) -> TransformError {
    TransformError {
        name: "ndjson",
        message,
    }
}

impl Ndjson {
    /// A converter.
    pub fn new() -> Ndjson {
        Ndjson {
            top: Top::Start,
            element: Vec::new(),
            element_start: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            in_scalar: false,
            offset: 0,
            lines: Vec::new(),
        }
    }

    fn in_element(&self) -> bool {
        !self.element.is_empty()
    }

    /// Checks the finished element with a full parse and queues it as a line.
    fn end_element(&mut self) -> Result<(), TransformError> {
        let element = std::mem::take(&mut self.element);
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&element) {
            return Err(failed(format!(
                "invalid json in the element starting at byte {}: {error}",
                self.element_start
            )));
        }
        self.lines.extend_from_slice(&element);
        self.lines.push(b'\n');
        self.in_scalar = false;
        self.top = match self.top {
            Top::ArrayElement => Top::ArrayNext,
            other => other,
        };
        Ok(())
    }

    fn unexpected(&self, byte: u8, expected: &str) -> TransformError {
        failed(format!(
            "invalid json at byte {}: {:?} where {expected} was expected",
            self.offset, byte as char
        ))
    }

    /// Starts an element with `byte` (the first byte of a value).
    fn begin(&mut self, byte: u8) {
        self.element_start = self.offset;
        self.element.push(byte);
        match byte {
            b'{' | b'[' => self.depth = 1,
            b'"' => self.in_string = true,
            _ => self.in_scalar = true,
        }
    }

    fn step(&mut self, byte: u8) -> Result<(), TransformError> {
        if self.in_element() {
            if self.in_string {
                self.element.push(byte);
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return self.end_element();
                    }
                }
            } else if self.in_scalar {
                if matches!(byte, b',' | b']' | b'}' | b'[' | b'{' | b'"')
                    || byte.is_ascii_whitespace()
                {
                    self.end_element()?;
                    return self.outside(byte);
                }
                self.element.push(byte);
            } else if byte.is_ascii_whitespace() {
                // Insignificant whitespace between tokens: dropped.
            } else {
                self.element.push(byte);
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return self.end_element();
                        }
                    }
                    _ => {}
                }
            }
            if self.element.len() > NDJSON_MAX_ELEMENT {
                return Err(failed(format!(
                    "the element starting at byte {} is longer than {NDJSON_MAX_ELEMENT} bytes",
                    self.element_start
                )));
            }
            return Ok(());
        }
        self.outside(byte)
    }

    /// A byte between elements.
    fn outside(&mut self, byte: u8) -> Result<(), TransformError> {
        if byte.is_ascii_whitespace() {
            return Ok(());
        }
        match self.top {
            Top::Start if byte == b'[' => self.top = Top::ArrayElement,
            Top::Start => {
                self.top = Top::Values;
                self.begin(byte);
            }
            Top::ArrayElement if byte == b']' => self.top = Top::ArrayDone,
            Top::ArrayElement if matches!(byte, b',' | b'}' | b':') => {
                return Err(self.unexpected(byte, "an element"));
            }
            Top::ArrayElement => self.begin(byte),
            Top::ArrayNext if byte == b',' => self.top = Top::ArrayElement,
            Top::ArrayNext if byte == b']' => self.top = Top::ArrayDone,
            Top::ArrayNext => return Err(self.unexpected(byte, "',' or ']'")),
            Top::ArrayDone => return Err(self.unexpected(byte, "the end of the input")),
            Top::Values if matches!(byte, b',' | b']' | b'}' | b':') => {
                return Err(self.unexpected(byte, "a json value"));
            }
            Top::Values => self.begin(byte),
        }
        Ok(())
    }

    fn hand_on(&mut self, output: &mut Vec<Bytes>, force: bool) {
        if (force && !self.lines.is_empty()) || self.lines.len() >= NDJSON_FLUSH_BYTES {
            output.push(Bytes::from(std::mem::take(&mut self.lines)));
        }
    }
}

impl Transform for Ndjson {
    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        for &byte in input.iter() {
            self.step(byte)?;
            self.offset += 1;
            if self.lines.len() >= NDJSON_FLUSH_BYTES {
                self.hand_on(output, false);
            }
        }
        self.hand_on(output, false);
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if self.in_scalar {
            self.end_element()?;
        }
        if self.in_element() {
            return Err(failed(format!(
                "the input ends inside the element starting at byte {}",
                self.element_start
            )));
        }
        if matches!(self.top, Top::ArrayElement | Top::ArrayNext) {
            return Err(failed(format!(
                "the input ends at byte {} inside the array (no closing ']')",
                self.offset
            )));
        }
        self.hand_on(output, true);
        Ok(())
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/x-ndjson")
    }

    /// One element (its buffer up to twice its length while it grows), and
    /// the lines gathered before they are handed on.
    fn window(&self) -> u64 {
        (2 * NDJSON_MAX_ELEMENT + 2 * NDJSON_FLUSH_BYTES) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, chunk: usize) -> Result<String, TransformError> {
        let mut ndjson = Ndjson::new();
        let mut output = Vec::new();
        for piece in input.as_bytes().chunks(chunk) {
            ndjson.push(Bytes::copy_from_slice(piece), &mut output)?;
        }
        ndjson.finish(&mut output)?;
        Ok(String::from_utf8(output.concat()).expect("utf-8"))
    }

    #[test]
    fn arrays_and_concatenated_values_become_lines_exactly_as_written() {
        let input = r#" [ {"b": 1.0, "a": [1, 2e400, {"k":"v \" ]"}]},
            12345678901234567890123, "s", null , true, [] ] "#;
        let expected = "{\"b\":1.0,\"a\":[1,2e400,{\"k\":\"v \\\" ]\"}]}\n12345678901234567890123\n\"s\"\nnull\ntrue\n[]\n";
        for chunk in [1, 3, 7, 1000] {
            assert_eq!(run(input, chunk).unwrap(), expected, "chunks of {chunk}");
        }
        assert_eq!(
            run("{\"a\":1} {\"b\":2}\n[3] 4 \"x\"", 2).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n[3]\n4\n\"x\"\n"
        );
        assert_eq!(run("[]", 1).unwrap(), "");
        assert_eq!(run("", 1).unwrap(), "");
    }

    #[test]
    fn invalid_input_fails_naming_the_byte() {
        let cases = [
            ("[1, 2,, 3]", "byte 6"),
            ("[{\"a\": tru}]", "starting at byte 1"),
            ("[1, 2", "no closing"),
            ("[1] 2", "the end of the input"),
            ("[{\"a\": 1", "inside the element"),
        ];
        for (input, expected) in cases {
            let error = run(input, 2).expect_err(input);
            assert!(error.message.contains(expected), "{input}: {error}");
        }
    }
}
