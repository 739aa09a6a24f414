//! A `bootstrap` with business logic of its own: "REST API request" log lines become "uniform requests".
//!
//! The original article's processing stage, as a streaming transform. Each
//! input line is one JSON record as an API gateway logs it:
//!
//! ```json
//! {"requestId":"c6af9ac6","httpMethod":"GET","resourcePath":"/items/{id}","status":"200","responseLatency":"12","ip":"203.0.113.7","requestTime":"2026-11-26T20:00:00Z"}
//! ```
//!
//! and leaves as the shape the next stage reads:
//!
//! ```json
//! {"id":"c6af9ac6","method":"GET","route":"/items/{id}","status":200,"duration_ms":12,"client":"203.0.113.7","time":"2026-11-26T20:00:00Z"}
//! ```
//!
//! Register it, then run the product's own entry point:
//!
//! ```sh
//! cargo run --release --example uniform_requests -- --help       # lists uniform-requests
//! TRANSFORM=uniform-requests,gzip cargo run --release --example uniform_requests -- \
//!     copy s3://logs/raw/2026-11-26.jsonl s3://logs/uniform/2026-11-26.jsonl
//! EXAMPLE=uniform_requests ./build.sh                             # lambda.zip with it as bootstrap
//! ```
//!
//! Memory: one line at most [`MAX_LINE_BYTES`] is held between chunks (the
//! transform's window); a longer line fails the copy, naming its number.

use bytes::Bytes;
use s3_stream_lambda::transform::{Builtin, Transform, TransformError};
use serde_json::{Map, Value};
use std::process::ExitCode;

/// The longest input line: a request record is a few hundred bytes, so
/// 1 MiB is a corrupt file, not a record.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The transform's entry in the registry.
pub const UNIFORM_REQUESTS: Builtin = Builtin {
    name: "uniform-requests",
    summary: "maps REST API request log lines (JSON lines) to uniform request records",
    build: |_| Box::new(UniformRequests::default()),
};

/// Maps each JSON line; holds the unfinished last line between chunks.
#[derive(Default)]
pub struct UniformRequests {
    partial: Vec<u8>,
    line: u64,
}

fn failed(message: String) -> TransformError {
    TransformError {
        name: "uniform-requests",
        message,
    }
}

/// A field as a whole number, whether the log wrote it as a number or a string.
fn number(record: &Map<String, Value>, field: &str) -> Value {
    match record.get(field) {
        Some(Value::Number(n)) => Value::Number(n.clone()),
        Some(Value::String(text)) => text.parse::<u64>().map(Value::from).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

impl UniformRequests {
    /// One input line → one output line (blank lines are dropped).
    fn map_line(&mut self, line: &[u8], output: &mut Vec<u8>) -> Result<(), TransformError> {
        self.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let record: Map<String, Value> = serde_json::from_slice(line)
            .map_err(|e| failed(format!("line {} is not a json object: {e}", self.line)))?;
        let text = |field: &str| record.get(field).cloned().unwrap_or(Value::Null);
        let uniform = serde_json::json!({
            "id": text("requestId"),
            "method": text("httpMethod"),
            "route": text("resourcePath"),
            "status": number(&record, "status"),
            "duration_ms": number(&record, "responseLatency"),
            "client": text("ip"),
            "time": text("requestTime"),
        });
        serde_json::to_writer(&mut *output, &uniform)
            .map_err(|e| failed(format!("line {}: {e}", self.line)))?;
        output.push(b'\n');
        Ok(())
    }
}

impl Transform for UniformRequests {
    fn name(&self) -> &'static str {
        "uniform-requests"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let mut out = Vec::with_capacity(input.len());
        let mut rest = &input[..];
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            if self.partial.is_empty() {
                self.map_line(line, &mut out)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.map_line(&whole, &mut out)?;
            }
            rest = &after[1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE_BYTES {
            return Err(failed(format!(
                "line {} is longer than {MAX_LINE_BYTES} bytes",
                self.line + 1
            )));
        }
        if !out.is_empty() {
            output.push(Bytes::from(out));
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let last = std::mem::take(&mut self.partial);
        let mut out = Vec::new();
        self.map_line(&last, &mut out)?;
        if !out.is_empty() {
            output.push(Bytes::from(out));
        }
        Ok(())
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/x-ndjson")
    }

    fn window(&self) -> u64 {
        MAX_LINE_BYTES as u64
    }
}

/// `bootstrap` itself, with one more transform.
fn main() -> ExitCode {
    if s3_stream_lambda::transform::register(vec![UNIFORM_REQUESTS]).is_err() {
        eprintln!("transforms were registered twice");
        return ExitCode::FAILURE;
    }
    s3_stream_lambda::cli::run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_records_across_chunk_boundaries() {
        let input = concat!(
            r#"{"requestId":"a1","httpMethod":"GET","resourcePath":"/items/{id}","status":"200","responseLatency":"12","ip":"203.0.113.7","requestTime":"2026-11-26T20:00:00Z"}"#,
            "\n",
            r#"{"requestId":"b2","httpMethod":"POST","resourcePath":"/items","status":201,"responseLatency":40,"ip":"198.51.100.4","requestTime":"2026-11-26T20:00:01Z"}"#
        );
        let mut transform = UniformRequests::default();
        let mut output = Vec::new();
        for piece in input.as_bytes().chunks(7) {
            transform
                .push(Bytes::copy_from_slice(piece), &mut output)
                .unwrap();
        }
        transform.finish(&mut output).unwrap();
        let text = String::from_utf8(output.concat()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["route"], "/items/{id}");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[1]["duration_ms"], 40);
        assert_eq!(lines[1]["client"], "198.51.100.4");
    }

    #[test]
    fn a_bad_line_is_named() {
        let mut transform = UniformRequests::default();
        let mut output = Vec::new();
        let error = transform
            .push(
                Bytes::from_static(b"{\"requestId\":\"a\"}\nnot json\n"),
                &mut output,
            )
            .unwrap_err();
        assert!(error.message.contains("line 2"), "{error}");
    }
}
