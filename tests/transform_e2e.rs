//! Transforms end to end: the real `bootstrap`, the emulator and moto: `gzip`
//! writes `KEY.gz` as a gzip file, `gunzip` and `unzstd` restore the source's
//! key and type, and a corrupt input aborts with its position and leaves nothing.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::function::{self, s3_event};
use s3_stream_testkit::emulator::PostKind;
use s3_stream_testkit::fault_proxy::{FaultProxy, S3Op};
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

async fn put_typed(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: Vec<u8>,
    kind: &str,
) -> String {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(kind)
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put the source")
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

#[tokio::test]
async fn gzip_writes_a_gz_file_and_gunzip_and_unzstd_restore_the_source() {
    let client = common::client().await;
    let source = common::create_bucket(&client, "tx-src").await;
    let destination = common::create_bucket(&client, "tx-dst").await;
    let data = lines(20 * MIB);

    let etag = put_typed(
        &client,
        &source,
        "logs/app.json",
        data.clone(),
        "application/json",
    )
    .await;
    let gzip = function::start(&[("DST_BUCKET", &destination), ("TRANSFORM", "gzip")]).await;
    let post = gzip
        .invoke(s3_event(&[(&source, "logs/app.json", data.len(), &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", gzip.logs());
    let head = common::head(&client, &destination, "logs/app.json.gz").await;
    assert_eq!(head.content_type(), Some("application/gzip"));
    assert_eq!(head.content_encoding(), None);
    let gz = common::get(&client, &destination, "logs/app.json.gz").await;
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .expect("a gzip file");
    assert_eq!(common::sha256(&plain), common::sha256(&data));

    // The archive back to the original, under its own key and type.
    let etag = put_typed(
        &client,
        &source,
        "in/app.json.gz",
        gz.clone(),
        "application/gzip",
    )
    .await;
    let gunzip = function::start(&[
        ("DST_BUCKET", &destination),
        ("TRANSFORM", "gunzip"),
        ("DST_PREFIX", "out/"),
    ])
    .await;
    let post = gunzip
        .invoke(s3_event(&[(&source, "in/app.json.gz", gz.len(), &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", gunzip.logs());
    let head = common::head(&client, &destination, "out/in/app.json").await;
    assert_eq!(head.content_type(), Some("application/json"));
    let restored = common::get(&client, &destination, "out/in/app.json").await;
    assert_eq!(common::sha256(&restored), common::sha256(&data));
    assert!(
        post.json()["records"][0]["parts"].as_u64() >= Some(3),
        "{}",
        post.json()
    );

    let zst = zstd::encode_all(&data[..], 3).expect("zstd");
    let etag = put_typed(
        &client,
        &source,
        "in/app.csv.zst",
        zst.clone(),
        "application/zstd",
    )
    .await;
    let unzstd = function::start(&[("DST_BUCKET", &destination), ("TRANSFORM", "unzstd")]).await;
    let post = unzstd
        .invoke(s3_event(&[(&source, "in/app.csv.zst", zst.len(), &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", unzstd.logs());
    let head = common::head(&client, &destination, "in/app.csv").await;
    assert_eq!(head.content_type(), Some("text/csv"));
    let restored = common::get(&client, &destination, "in/app.csv").await;
    assert_eq!(common::sha256(&restored), common::sha256(&data));
}

#[tokio::test]
async fn a_corrupt_archive_aborts_with_its_position_and_leaves_nothing() {
    let client = common::client().await;
    let source = common::create_bucket(&client, "txbad-src").await;
    let destination = common::create_bucket(&client, "txbad-dst").await;
    // Incompressible bytes: the archive is as long as its content, so the
    // corruption near its end comes after several parts were uploaded.
    let data = common::bytes_of(30 * MIB, 3);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    encoder.write_all(&data).expect("compress");
    let mut gz = encoder.finish().expect("compress");
    let at = gz.len() * 9 / 10;
    gz[at] ^= 0xff;
    gz[at + 1] ^= 0xff;
    let etag = put_typed(
        &client,
        &source,
        "bad.bin.gz",
        gz.clone(),
        "application/gzip",
    )
    .await;
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start fault proxy");
    let endpoint = proxy.endpoint();
    let f = function::start(&[
        ("DST_BUCKET", &destination),
        ("TRANSFORM", "gunzip"),
        ("AWS_ENDPOINT_URL_S3", &endpoint),
    ])
    .await;
    let post = f
        .invoke(s3_event(&[(&source, "bad.bin.gz", gz.len(), &etag)]))
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
    assert_eq!(
        common::incomplete_uploads(&client, &destination).await,
        0,
        "the upload was aborted"
    );
    let listed = client
        .list_objects_v2()
        .bucket(&destination)
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty(), "nothing written");
    let ops = |op: S3Op| proxy.log().iter().filter(|e| e.op == op).count();
    assert_eq!(ops(S3Op::CreateMultipartUpload), 1, "the upload had begun");
    assert!(ops(S3Op::UploadPart) >= 2, "parts before the corruption");
    assert!(ops(S3Op::AbortMultipartUpload) >= 1);
}

#[tokio::test]
async fn ndjson_and_yaml_json_write_one_value_per_line() {
    let client = common::client().await;
    let source = common::create_bucket(&client, "txlines-src").await;
    let destination = common::create_bucket(&client, "txlines-dst").await;
    let array = br#"[{"b": 1.0, "a": [1, 2]}, "two", 3]"#.to_vec();
    let etag = put_typed(
        &client,
        &source,
        "data/items.json",
        array.clone(),
        "application/json",
    )
    .await;
    let f = function::start(&[("DST_BUCKET", &destination), ("TRANSFORM", "ndjson")]).await;
    let post = f
        .invoke(s3_event(&[(
            &source,
            "data/items.json",
            array.len(),
            &etag,
        )]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", f.logs());
    assert_eq!(
        common::get(&client, &destination, "data/items.json").await,
        b"{\"b\":1.0,\"a\":[1,2]}\n\"two\"\n3\n"
    );
    let head = common::head(&client, &destination, "data/items.json").await;
    assert_eq!(head.content_type(), Some("application/x-ndjson"));

    let yaml = b"a: 1\n---\nb: [x, y]\n".to_vec();
    let etag = put_typed(
        &client,
        &source,
        "cfg/app.yaml",
        yaml.clone(),
        "application/yaml",
    )
    .await;
    let f = function::start(&[("DST_BUCKET", &destination), ("TRANSFORM", "yaml-json")]).await;
    let post = f
        .invoke(s3_event(&[(&source, "cfg/app.yaml", yaml.len(), &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", f.logs());
    assert_eq!(
        common::get(&client, &destination, "cfg/app.ndjson").await,
        b"{\"a\":1}\n{\"b\":[\"x\",\"y\"]}\n"
    );
}

#[tokio::test]
async fn unzstd_of_any_ratio_streams_through_the_pipeline() {
    let client = common::client().await;
    let source = common::create_bucket(&client, "txzeros-src").await;
    let destination = common::create_bucket(&client, "txzeros-dst").await;
    // 64 MiB of zeros compress about 10,000:1: one input block expands to
    // the whole object, which the pipeline takes in 4 MiB steps.
    let zeros = vec![0u8; 64 * MIB];
    let zst = zstd::encode_all(&zeros[..], 3).expect("zstd");
    assert!(zst.len() < 64 * 1024, "{} bytes", zst.len());
    let etag = put_typed(
        &client,
        &source,
        "disk.img.zst",
        zst.clone(),
        "application/zstd",
    )
    .await;
    let f = function::start(&[("DST_BUCKET", &destination), ("TRANSFORM", "unzstd")]).await;
    let post = f
        .invoke(s3_event(&[(&source, "disk.img.zst", zst.len(), &etag)]))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", f.logs());
    assert!(
        post.json()["records"][0]["parts"].as_u64() >= Some(8),
        "{}",
        post.json()
    );
    let restored = common::get(&client, &destination, "disk.img").await;
    assert_eq!(common::sha256(&restored), common::sha256(&zeros));
}
