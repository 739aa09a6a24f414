//! Round trips of the compression built-ins, checked by the standard tools:
//! `gzip` then `gunzip` and `zstd` then `unzstd` reproduce every input, and
//! `gzip -t`, `zcat`, `zstd -t` and `zstd -d` accept what they write.

use bytes::Bytes;
use s3_stream_lambda::transform::{GzipMembers, Transform, TransformOptions, by_name_with};
use std::io::Write;
use std::process::{Command, Stdio};

const MIB: usize = 1 << 20;

/// Compressible text: JSON-ish log lines with varying numbers.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 128);
    let mut i: u64 = 0;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "{{\"request\":{i},\"path\":\"/api/v1/items/{}\",\"status\":{},\"ms\":{}}}\n",
                i * 7919 % 100_003,
                if i.is_multiple_of(13) { 500 } else { 200 },
                i % 977
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// `input` through `transform`, fed in `chunk`-sized pushes cut to its `max_push`.
fn through(transform: &mut dyn Transform, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut output = Vec::new();
    let piece = transform.max_push().unwrap_or(chunk).min(chunk).max(1);
    for part in input.chunks(piece) {
        transform
            .push(Bytes::copy_from_slice(part), &mut output)
            .unwrap_or_else(|e| panic!("{e}"));
        drain(transform, &mut output);
    }
    transform
        .finish(&mut output)
        .unwrap_or_else(|e| panic!("{e}"));
    drain(transform, &mut output);
    output.concat()
}

/// Takes the output a transform held back, as the engine does.
fn drain(transform: &mut dyn Transform, output: &mut Vec<Bytes>) {
    while transform.has_pending() {
        transform.drain(output).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Runs `command args` with `input` on stdin; returns stdout, asserting success.
fn tool(command: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command} is needed (apt-get install {command}): {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let owned = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let out = child.wait_with_output().expect("the tool runs");
    writer.join().expect("writer").expect("stdin written");
    assert!(
        out.status.success(),
        "{command} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn options(workers: usize, members: GzipMembers) -> TransformOptions {
    TransformOptions {
        gzip_level: 6,
        gzip_members: members,
        zstd_level: 3,
        workers,
    }
}

#[test]
fn gzip_and_gunzip_round_trip_at_every_size_and_gzip_reads_them() {
    for size in [0, 1, MIB, 64 * MIB + 17] {
        let input = text(size);
        for (workers, members) in [
            (2, GzipMembers::Parallel),
            (1, GzipMembers::Parallel),
            (1, GzipMembers::Single),
        ] {
            let options = options(workers, members);
            let mut gzip = by_name_with("gzip", &options).expect("gzip");
            let compressed = through(gzip.as_mut(), &input, 8 * MIB);
            tool("gzip", &["-t"], &compressed);
            assert_eq!(
                tool("zcat", &[], &compressed),
                input,
                "{size} bytes, {workers} workers, {members:?}: zcat"
            );
            let mut gunzip = by_name_with("gunzip", &options).expect("gunzip");
            assert_eq!(
                through(gunzip.as_mut(), &compressed, 8 * MIB),
                input,
                "{size} bytes, {workers} workers, {members:?}: gunzip"
            );
        }
        // And what gzip itself writes (several members too) gunzips.
        let mut from_tool = tool("gzip", &["-c", "-6"], &input);
        from_tool.extend(tool("gzip", &["-c", "-1"], b"tail"));
        let mut gunzip =
            by_name_with("gunzip", &options(1, GzipMembers::Parallel)).expect("gunzip");
        let mut expected = input.clone();
        expected.extend_from_slice(b"tail");
        assert_eq!(through(gunzip.as_mut(), &from_tool, 8 * MIB), expected);
    }
}

#[test]
fn zstd_and_unzstd_round_trip_at_every_size_and_zstd_reads_them() {
    for size in [0, 1, MIB, 64 * MIB + 17] {
        let input = text(size);
        for workers in [2, 1] {
            let options = options(workers, GzipMembers::Parallel);
            let mut zstd = by_name_with("zstd", &options).expect("zstd");
            let compressed = through(zstd.as_mut(), &input, 8 * MIB);
            tool("zstd", &["-t", "-q"], &compressed);
            assert_eq!(tool("zstd", &["-d", "-c", "-q"], &compressed), input);
            let mut unzstd = by_name_with("unzstd", &options).expect("unzstd");
            assert_eq!(
                through(unzstd.as_mut(), &compressed, 8 * MIB),
                input,
                "{size} bytes, {workers} workers"
            );
        }
        // Level 19 (an 8 MiB window, the most unzstd accepts) on the small sizes only: it is slow.
        let level = if size <= MIB { "-19" } else { "-3" };
        let from_tool = tool("zstd", &["-c", "-q", level], &input);
        let mut unzstd =
            by_name_with("unzstd", &options(1, GzipMembers::Parallel)).expect("unzstd");
        assert_eq!(through(unzstd.as_mut(), &from_tool, 8 * MIB), input);
    }
}

/// A pretty-printed JSON array of `n` records: nested values, unicode,
/// escapes jq writes the same way, and numbers jq keeps intact.
fn json_array(n: usize) -> String {
    let mut out = String::from("[\n");
    for i in 0..n {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&format!(
            "  {{\n    \"id\": {i},\n    \"name\": \"r\u{e9}quest \u{2713} #{i} \\\"q\\\" \\\\ \\n\",\n    \"ok\": {},\n    \"tags\": [ \"a\", \"b{}\" , null ],\n    \"nested\": {{ \"z\": -{i}, \"a\": [ [], {{}} ] }}\n  }}",
            i.is_multiple_of(3),
            i % 7
        ));
    }
    out.push_str("\n]\n");
    out
}

#[test]
fn ndjson_lines_are_byte_identical_to_jq_and_keep_numbers_as_written() {
    let input = json_array(30_000);
    assert!(input.len() > 4 * MIB, "{} bytes", input.len());
    let options = options(1, GzipMembers::Parallel);
    let mut ndjson = by_name_with("ndjson", &options).expect("ndjson");
    let ours = through(ndjson.as_mut(), input.as_bytes(), 64 * 1024);
    let jq = tool("jq", &["-c", ".[]"], input.as_bytes());
    assert!(ours == jq, "ndjson differs from jq -c '.[]'");
    assert_eq!(ours.iter().filter(|&&b| b == b'\n').count(), 30_000);
    // Numbers jq 1.6 would rewrite stay exactly as written, in key order.
    let exact = r#"[{"b": 1.0, "a": 12345678901234567890123, "c": 1e400, "d": -0.0}]"#;
    let mut ndjson = by_name_with("ndjson", &options).expect("ndjson");
    assert_eq!(
        through(ndjson.as_mut(), exact.as_bytes(), 5),
        b"{\"b\":1.0,\"a\":12345678901234567890123,\"c\":1e400,\"d\":-0.0}\n"
    );
}

#[test]
fn yaml_json_lines_parse_back_to_the_documents_pyyaml_reads() {
    let mut yaml = String::new();
    for i in 0..2_000 {
        yaml.push_str(&format!(
            "---\nkind: request\nid: {i}\npath: \"/items/{i}\"\nratio: {}.25\nok: {}\nlabels:\n  - a\n  - \"b c\"\nmeta: {{owner: team-{}, empty: ~}}\nnote: |\n  line one {i}\n  line two\n",
            i % 10,
            i % 2 == 0,
            i % 4
        ));
    }
    let options = options(1, GzipMembers::Parallel);
    let mut transform = by_name_with("yaml-json", &options).expect("yaml-json");
    let ours =
        String::from_utf8(through(transform.as_mut(), yaml.as_bytes(), 4096)).expect("utf-8");
    let python = s3_stream_testkit::python_env::PythonEnv::ensure()
        .unwrap_or_else(|e| panic!("{e}"))
        .bin("python");
    let script = "import sys, json, yaml\nfor d in yaml.safe_load_all(sys.stdin):\n    print(json.dumps(d))\n";
    let theirs = String::from_utf8(tool(
        python.to_str().expect("utf-8 path"),
        &["-c", script],
        yaml.as_bytes(),
    ))
    .expect("utf-8");
    let ours: Vec<serde_json::Value> = ours
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let theirs: Vec<serde_json::Value> = theirs
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(ours.len(), 2_000);
    assert_eq!(ours, theirs, "yaml-json vs PyYAML");
}
