//! Transforms end to end: the real `bootstrap`, the emulator and moto: `gzip`
//! writes `KEY.gz` as a gzip file, `gunzip` and `unzstd` restore the source's
//! key and type, and a corrupt input aborts with its position and leaves nothing.

use crate::common::function::{self, s3_event};
use crate::common::{self, Stack};
use aws_sdk_s3::primitives::ByteStream;
use s3_stream_testkit::emulator::{Post, PostKind};
use s3_stream_testkit::fault_proxy::S3Op;
use std::io::{Read, Write};

const MIB: usize = 1 << 20;

/// Compressible JSON lines.
fn lines(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("{{\"id\":{i},\"path\":\"/v1/{}\"}}\n", i % 9_973).as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// Puts `data` at `key` in the source bucket, typed `content_type`; returns its ETag.
async fn put_typed(s: &Stack, key: &str, data: Vec<u8>, content_type: &str) -> String {
    common::send_put(
        s.put_request(key)
            .content_type(content_type)
            .body(ByteStream::from(data)),
    )
    .await
}

/// Puts `data` at `key` (typed `content_type`) and has a `bootstrap` with
/// `env` (and the destination bucket) copy it; returns its response.
async fn transform(
    s: &Stack,
    env: &[(&str, &str)],
    key: &str,
    data: Vec<u8>,
    content_type: &str,
) -> Post {
    let size = data.len();
    let etag = put_typed(s, key, data, content_type).await;
    let f = function::start(&[&[("DST_BUCKET", s.destination.as_str())], env].concat()).await;
    f.invoke_ok(s3_event(&[(&s.source, key, size, &etag)]))
        .await
}

#[tokio::test]
async fn gzip_writes_a_gz_file_and_gunzip_and_unzstd_restore_the_source() {
    let s = Stack::new("tx").await;
    let data = lines(20 * MIB);

    transform(
        &s,
        &[("TRANSFORM", "gzip")],
        "logs/app.json",
        data.clone(),
        "application/json",
    )
    .await;
    let head = s.head("logs/app.json.gz").await;
    assert_eq!(head.content_type(), Some("application/gzip"));
    assert_eq!(head.content_encoding(), None);
    let gz = s.get("logs/app.json.gz").await;
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .expect("a gzip file");
    assert_eq!(common::sha256(&plain), common::sha256(&data));

    // The archive back to the original, under its own key and type.
    let post = transform(
        &s,
        &[("TRANSFORM", "gunzip"), ("DST_PREFIX", "out/")],
        "in/app.json.gz",
        gz,
        "application/gzip",
    )
    .await;
    let head = s.head("out/in/app.json").await;
    assert_eq!(head.content_type(), Some("application/json"));
    let restored = s.get("out/in/app.json").await;
    assert_eq!(common::sha256(&restored), common::sha256(&data));
    assert!(
        post.json()["records"][0]["parts"].as_u64() >= Some(3),
        "{}",
        post.json()
    );

    let zst = zstd::encode_all(&data[..], 3).expect("zstd");
    transform(
        &s,
        &[("TRANSFORM", "unzstd")],
        "in/app.csv.zst",
        zst,
        "application/zstd",
    )
    .await;
    let head = s.head("in/app.csv").await;
    assert_eq!(head.content_type(), Some("text/csv"));
    let restored = s.get("in/app.csv").await;
    assert_eq!(common::sha256(&restored), common::sha256(&data));
}

#[tokio::test]
async fn a_corrupt_archive_aborts_with_its_position_and_leaves_nothing() {
    let s = Stack::new("txbad").await;
    // Incompressible bytes: the archive is as long as its content, so the
    // corruption near its end comes after several parts were uploaded.
    let data = common::bytes_of(30 * MIB, 3);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    encoder.write_all(&data).expect("compress");
    let mut gz = encoder.finish().expect("compress");
    let at = gz.len() * 9 / 10;
    gz[at] ^= 0xff;
    gz[at + 1] ^= 0xff;
    let size = gz.len();
    let etag = put_typed(&s, "bad.bin.gz", gz, "application/gzip").await;
    let f = s
        .start_function_through_proxy(&[("DST_BUCKET", &s.destination), ("TRANSFORM", "gunzip")])
        .await;
    let post = f
        .invoke(s3_event(&[(&s.source, "bad.bin.gz", size, &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Error, "{}", post.json());
    assert_eq!(
        post.header("lambda-runtime-function-error-type"),
        Some("Transform.Failed")
    );
    let message = post.json()["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("corrupt gzip input in compressed bytes"),
        "{message}"
    );
    assert_eq!(s.open_uploads().await, 0, "the upload was aborted");
    assert_eq!(s.objects().await, 0, "nothing written");
    assert_eq!(
        s.ops(S3Op::CreateMultipartUpload),
        1,
        "the upload had begun"
    );
    assert!(s.ops(S3Op::UploadPart) >= 2, "parts before the corruption");
    assert!(s.ops(S3Op::AbortMultipartUpload) >= 1);
}

#[tokio::test]
async fn ndjson_and_yaml_json_write_one_value_per_line() {
    let s = Stack::new("txlines").await;
    /// A transform's row: the source it reads, the copy it writes.
    struct Case {
        transform: &'static str,
        key: &'static str,
        content_type: &'static str,
        data: &'static [u8],
        copy: &'static str,
        expected: &'static [u8],
        /// The copy's type, where the row checks it.
        copy_type: Option<&'static str>,
    }
    let cases = [
        Case {
            transform: "ndjson",
            key: "data/items.json",
            content_type: "application/json",
            data: br#"[{"b": 1.0, "a": [1, 2]}, "two", 3]"#,
            copy: "data/items.json",
            expected: b"{\"b\":1.0,\"a\":[1,2]}\n\"two\"\n3\n",
            copy_type: Some("application/x-ndjson"),
        },
        Case {
            transform: "yaml-json",
            key: "cfg/app.yaml",
            content_type: "application/yaml",
            data: b"a: 1\n---\nb: [x, y]\n",
            copy: "cfg/app.ndjson",
            expected: b"{\"a\":1}\n{\"b\":[\"x\",\"y\"]}\n",
            copy_type: None,
        },
    ];
    for case in cases {
        let row = case.transform;
        transform(
            &s,
            &[("TRANSFORM", row)],
            case.key,
            case.data.to_vec(),
            case.content_type,
        )
        .await;
        assert_eq!(s.get(case.copy).await, case.expected, "{row}");
        if let Some(copy_type) = case.copy_type {
            let head = s.head(case.copy).await;
            assert_eq!(head.content_type(), Some(copy_type), "{row}");
        }
    }
}

#[tokio::test]
async fn unzstd_of_any_ratio_streams_through_the_pipeline() {
    let s = Stack::new("txzeros").await;
    // 64 MiB of zeros compress about 10,000:1: one input block expands to
    // the whole object, which the pipeline takes in 4 MiB steps.
    let zeros = vec![0u8; 64 * MIB];
    let zst = zstd::encode_all(&zeros[..], 3).expect("zstd");
    assert!(zst.len() < 64 * 1024, "{} bytes", zst.len());
    let post = transform(
        &s,
        &[("TRANSFORM", "unzstd")],
        "disk.img.zst",
        zst,
        "application/zstd",
    )
    .await;
    assert!(
        post.json()["records"][0]["parts"].as_u64() >= Some(8),
        "{}",
        post.json()
    );
    let restored = s.get("disk.img").await;
    assert_eq!(common::sha256(&restored), common::sha256(&zeros));
}
