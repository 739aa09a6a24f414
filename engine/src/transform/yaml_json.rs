//! The yaml-json transform: a (multi-document) YAML stream becomes newline-delimited JSON, one document per line.
//!
//! Documents are cut at their `---` / `...` markers (a marker at column 0
//! always ends the document before it, even a block scalar), so one document
//! at a time is held, and it is converted from `yaml-rust2`'s parser events
//! straight into JSON text: no tree (a parsed tree takes 15–35× its text),
//! so memory is the document's text and its line. Mapping order is kept;
//! numbers are written as YAML wrote them when JSON can say them so (`1.50`
//! stays `1.50`, `.5` becomes `0.5`); anchors and aliases are expanded.

use super::{Transform, TransformError};
use bytes::Bytes;
use std::collections::HashMap;
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest document, as text; its JSON line may be at most twice as long
/// (escapes, expanded aliases), so a document never holds more than a few
/// times this.
pub const YAML_MAX_DOCUMENT: usize = 4 << 20;

/// Output gathered before it is handed on.
const YAML_FLUSH_BYTES: usize = 1 << 20;

/// The YAML core schema's tag handle.
const CORE_SCHEMA: &str = "tag:yaml.org,2002:";

/// One JSON line per YAML document.
pub struct YamlJson {
    /// The current document's text (whole lines).
    document: Vec<u8>,
    /// Its first line's number (1-based) in the stream.
    document_line: u64,
    /// The unfinished last line of the input so far.
    partial: Vec<u8>,
    /// Lines consumed so far.
    lines_seen: u64,
    out: Vec<u8>,
}

impl Default for YamlJson {
    fn default() -> Self {
        YamlJson::new()
    }
}

fn failed(message: String) -> TransformError {
    TransformError {
        name: "yaml-json",
        message,
    }
}

/// True for a document marker line: `---` or `...` at column 0, alone or
/// followed by a space (`--- !tag`, `--- value`).
fn marker(line: &[u8]) -> Option<&'static str> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    for (text, name) in [(&b"---"[..], "---"), (&b"..."[..], "...")] {
        if line.starts_with(text)
            && line
                .get(3)
                .is_none_or(|next| *next == b' ' || *next == b'\t')
        {
            return Some(name);
        }
    }
    None
}

/// Writes a YAML scalar that names a number: as written when that is JSON,
/// else as the float it means; `.inf` / `.nan` (no JSON number) as strings.
fn write_real(text: &str, out: &mut Vec<u8>) {
    let is_json = text
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    if is_json {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    match text.replace('_', "").parse::<f64>() {
        Ok(value) if value.is_finite() => write_string_or(out, &value),
        _ => write_string_or(out, text),
    }
}

/// Writes `value` as JSON (strings and finite floats cannot fail).
fn write_string_or<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// A scalar as the JSON value the YAML core schema makes of it.
fn write_scalar(value: &str, style: TScalarStyle, tag: Option<&Tag>, out: &mut Vec<u8>) {
    let resolved = match (style, tag) {
        (TScalarStyle::Plain, None) => Yaml::from_str(value),
        (_, Some(tag)) if tag.handle == CORE_SCHEMA => match tag.suffix.as_str() {
            "str" => Yaml::String(value.to_owned()),
            _ => Yaml::from_str(value),
        },
        _ => Yaml::String(value.to_owned()),
    };
    match resolved {
        Yaml::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Yaml::Real(text) => write_real(&text, out),
        Yaml::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Yaml::Null => out.extend_from_slice(b"null"),
        _ => write_string_or(out, &value),
    }
}

/// A container being written.
#[derive(Debug)]
enum Frame {
    Sequence {
        first: bool,
        anchor: usize,
        start: usize,
    },
    Mapping {
        first: bool,
        key_next: bool,
        anchor: usize,
        start: usize,
    },
}

/// Parser events → JSON text of one document.
struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Where the current document's line began in `out`.
    line_start: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Vec<u8>>,
    /// The first problem, with the line (in the document) it was found at.
    error: Option<(usize, String)>,
}

impl JsonWriter<'_> {
    /// Writes what comes before a node; true when the node is a mapping key.
    fn before(&mut self) -> bool {
        match self.stack.last_mut() {
            Some(Frame::Sequence { first, .. }) => {
                if !*first {
                    self.out.push(b',');
                }
                *first = false;
                false
            }
            Some(Frame::Mapping {
                first, key_next, ..
            }) if *key_next => {
                if !*first {
                    self.out.push(b',');
                }
                *first = false;
                true
            }
            _ => false,
        }
    }

    /// After a node: a key is followed by `:`, a value makes room for the next key.
    fn after(&mut self, was_key: bool) {
        if let Some(Frame::Mapping { key_next, .. }) = self.stack.last_mut() {
            if was_key {
                self.out.push(b':');
            }
            *key_next = !was_key;
        }
    }

    fn fail(&mut self, mark: Marker, problem: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some((mark.line(), problem.into()));
        }
    }
}

impl MarkedEventReceiver for JsonWriter<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart => {
                self.line_start = self.out.len();
                self.stack.clear();
            }
            Event::DocumentEnd => {
                if self.out.len() > self.line_start {
                    self.out.push(b'\n');
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let start = self.out.len();
                let key = self.before();
                if key {
                    write_string_or(self.out, &value);
                } else {
                    write_scalar(&value, style, tag.as_ref(), self.out);
                }
                if anchor > 0 {
                    let written = self.out[start..].to_vec();
                    let written = written.strip_prefix(b",").unwrap_or(&written).to_vec();
                    self.anchors.insert(anchor, written);
                }
                self.after(key);
            }
            Event::Alias(anchor) => {
                let key = self.before();
                match self.anchors.get(&anchor) {
                    Some(json) if !key || json.first() == Some(&b'"') => {
                        let json = json.clone();
                        self.out.extend_from_slice(&json);
                    }
                    Some(_) => return self.fail(mark, "an alias of a sequence or mapping is used as a mapping key, which json cannot say"),
                    None => return self.fail(mark, "an alias names no anchor"),
                }
                self.after(key);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.before() {
                    return self.fail(
                        mark,
                        "a mapping key is a sequence or mapping, which json cannot say",
                    );
                }
                let start = self.out.len();
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    self.out.push(b'[');
                    Frame::Sequence {
                        first: true,
                        anchor,
                        start,
                    }
                } else {
                    self.out.push(b'{');
                    Frame::Mapping {
                        first: true,
                        key_next: true,
                        anchor,
                        start,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, start) = match self.stack.pop() {
                    Some(Frame::Sequence { anchor, start, .. }) => {
                        self.out.push(b']');
                        (anchor, start)
                    }
                    Some(Frame::Mapping { anchor, start, .. }) => {
                        self.out.push(b'}');
                        (anchor, start)
                    }
                    None => return self.fail(mark, "a container ends that never began"),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, self.out[start..].to_vec());
                }
                self.after(false);
            }
        }
        if self.out.len() - self.line_start > 2 * YAML_MAX_DOCUMENT {
            self.fail(
                mark,
                format!(
                    "its json is over {} bytes (aliases expanding?)",
                    2 * YAML_MAX_DOCUMENT
                ),
            );
        }
    }
}

impl YamlJson {
    /// A converter.
    pub fn new() -> YamlJson {
        YamlJson {
            document: Vec::new(),
            document_line: 1,
            partial: Vec::new(),
            lines_seen: 0,
            out: Vec::new(),
        }
    }

    /// Converts the held document and writes its line (none when it is empty).
    fn end_document(&mut self) -> Result<(), TransformError> {
        let text = std::mem::take(&mut self.document);
        let first_line = self.document_line;
        self.document_line = self.lines_seen + 1;
        let text = std::str::from_utf8(&text).map_err(|e| {
            failed(format!(
                "the document starting at line {first_line} is not utf-8: {e}"
            ))
        })?;
        let mut writer = JsonWriter {
            out: &mut self.out,
            line_start: 0,
            stack: Vec::new(),
            anchors: HashMap::new(),
            error: None,
        };
        writer.line_start = writer.out.len();
        let parsed = Parser::new_from_str(text).load(&mut writer, true);
        let at_line = |line: usize| first_line + line.max(1) as u64 - 1;
        if let Err(error) = parsed {
            let at = error.marker();
            return Err(failed(format!(
                "invalid yaml at line {}, column {}: {}",
                at_line(at.line()),
                at.col() + 1,
                error.info()
            )));
        }
        if let Some((line, problem)) = writer.error {
            return Err(failed(format!(
                "invalid document at line {}: {problem}",
                at_line(line)
            )));
        }
        Ok(())
    }

    /// One whole input line (with its `\n`).
    fn line(&mut self, line: &[u8]) -> Result<(), TransformError> {
        self.lines_seen += 1;
        match marker(line) {
            Some("---") => {
                self.end_document()?;
                self.document_line = self.lines_seen;
                self.document.extend_from_slice(line);
            }
            // `...` ends the document; the marker line is part of none.
            Some(_) => self.end_document()?,
            None => self.document.extend_from_slice(line),
        }
        if self.document.len() > YAML_MAX_DOCUMENT {
            return Err(failed(format!(
                "the document starting at line {} is longer than {YAML_MAX_DOCUMENT} bytes",
                self.document_line
            )));
        }
        Ok(())
    }

    fn hand_on(&mut self, output: &mut Vec<Bytes>, force: bool) {
        if (force && !self.out.is_empty()) || self.out.len() >= YAML_FLUSH_BYTES {
            output.push(Bytes::from(std::mem::take(&mut self.out)));
        }
    }
}

impl Transform for YamlJson {
    fn name(&self) -> &'static str {
        "yaml-json"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        let mut rest = &input[..];
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end + 1);
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole)?;
            }
            rest = after;
            self.hand_on(output, false);
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > YAML_MAX_DOCUMENT {
            return Err(failed(format!(
                "line {} is longer than {YAML_MAX_DOCUMENT} bytes",
                self.lines_seen + 1
            )));
        }
        Ok(())
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if !self.partial.is_empty() {
            let mut last = std::mem::take(&mut self.partial);
            last.push(b'\n');
            self.line(&last)?;
        }
        self.end_document()?;
        self.hand_on(output, true);
        Ok(())
    }

    fn content_type(&self) -> Option<&str> {
        Some("application/x-ndjson")
    }

    fn destination_key(&self, key: &str) -> String {
        let stem = key
            .strip_suffix(".yaml")
            .or_else(|| key.strip_suffix(".yml"))
            .unwrap_or(key);
        format!("{stem}.ndjson")
    }

    fn is_output_key(&self, key: &str) -> bool {
        key.ends_with(".ndjson")
    }

    /// One document's text and its line (each up to twice its length while
    /// it grows), and the lines not yet handed on.
    fn window(&self) -> u64 {
        (2 * YAML_MAX_DOCUMENT + 2 * 2 * YAML_MAX_DOCUMENT + 2 * YAML_FLUSH_BYTES) as u64
    }

    fn is_cpu_heavy(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, chunk: usize) -> Result<String, TransformError> {
        let mut yaml = YamlJson::new();
        let mut output = Vec::new();
        for piece in input.as_bytes().chunks(chunk) {
            yaml.push(Bytes::copy_from_slice(piece), &mut output)?;
        }
        yaml.finish(&mut output)?;
        Ok(String::from_utf8(output.concat()).expect("utf-8"))
    }

    #[test]
    fn every_document_becomes_one_line_in_order() {
        let input = "\
# a comment
kind: request
path: /items
status: 200
ratio: 1.50
half: .5
tags: [a, b]
---
b: 1
a: {nested: [true, null, ~]}
text: |
  two
  lines
...
--- plain scalar
";
        let expected = concat!(
            "{\"kind\":\"request\",\"path\":\"/items\",\"status\":200,\"ratio\":1.50,\"half\":0.5,\"tags\":[\"a\",\"b\"]}\n",
            "{\"b\":1,\"a\":{\"nested\":[true,null,null]},\"text\":\"two\\nlines\\n\"}\n",
            "\"plain scalar\"\n"
        );
        for chunk in [1, 5, 64, 4096] {
            assert_eq!(run(input, chunk).unwrap(), expected, "chunks of {chunk}");
        }
        assert_eq!(run("", 1).unwrap(), "");
    }

    #[test]
    fn invalid_yaml_names_its_line() {
        let error = run("a: 1\n---\nb: [1, 2\nc: 3\n", 3).unwrap_err();
        assert!(error.message.contains("invalid yaml at line"), "{error}");
        let line: u64 = error
            .message
            .split("line ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .expect("a line number");
        assert!((3..=4).contains(&line), "{error}");
    }

    #[test]
    fn anchors_expand_and_alias_bombs_stop() {
        assert_eq!(
            run("base: &b {x: 1, y: [2]}\nother: *b\nv: &s five\nw: *s\n", 4).unwrap(),
            "{\"base\":{\"x\":1,\"y\":[2]},\"other\":{\"x\":1,\"y\":[2]},\"v\":\"five\",\"w\":\"five\"}\n"
        );
        let mut bomb = String::from(
            "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
        );
        for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i", "j"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
        {
            bomb.push_str(&format!("{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"));
        }
        let error = run(&bomb, 4096).unwrap_err();
        assert!(error.message.contains("aliases expanding"), "{error}");
    }

    #[test]
    fn keys_become_ndjson() {
        let yaml = YamlJson::new();
        assert_eq!(yaml.destination_key("cfg/app.yaml"), "cfg/app.ndjson");
        assert_eq!(yaml.destination_key("cfg/app.yml"), "cfg/app.ndjson");
    }
}
