//! Identity copies pipe each part's GET into its upload: parts larger than the whole memory budget stream, with trailing checksums (the test kit's synthetic S3, which checks them).

use s3_stream_lambda::copy::part_size::MIB;
use s3_stream_lambda::copy::{
    CopyMode, CopyProgress, CopySettings, Destination, SourceSpec, copy_object,
};
use s3_stream_lambda::runtime::error_chain;
use s3_stream_lambda::transform::Identity;
use s3_stream_testkit::local_s3;
use s3_stream_testkit::synthetic_s3::{GeneratedObject, Operation, SyntheticS3, SyntheticS3Config};
use tokio_util::sync::CancellationToken;

/// Three parts of [`PART`].
const SIZE: u64 = 3 * PART;

/// Each part twice the copy's whole budget: a buffered copy could not hold one.
const PART: u64 = 32 * MIB;

/// The copy's memory budget.
const BUDGET: u64 = 16 * MIB;

/// Copies `source/big.bin` to `destination/big.bin` with `settings`.
async fn copy_big(
    client: &aws_sdk_s3::Client,
    settings: &CopySettings,
) -> s3_stream_lambda::copy::CopyReport {
    copy_object(
        client,
        SourceSpec {
            bucket: "source".into(),
            key: "big.bin".into(),
            ..SourceSpec::default()
        },
        &Destination {
            bucket: "destination".into(),
            key: "big.bin".into(),
        },
        Box::new(Identity),
        settings,
        &CancellationToken::new(),
        &CopyProgress::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("copy failed: {}", error_chain(&e)))
}

#[tokio::test]
async fn parts_larger_than_the_budget_stream_with_trailing_checksums() {
    let s3 = SyntheticS3::start(SyntheticS3Config::default())
        .await
        .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut spec = GeneratedObject::new("source", "big.bin", SIZE, 21);
    spec.crc64nvme = true;
    let source = s3.add_generated(spec);
    let client = local_s3::client(&s3.endpoint());
    let settings = CopySettings {
        part_size: PART,
        memory_budget: BUDGET,
        mode: CopyMode::Stream,
        ..CopySettings::default()
    };
    let report = copy_big(&client, &settings).await;
    assert_eq!(report.parts, 3);
    assert_eq!(report.part_size, PART);
    assert_eq!(report.verified, "source-crc64nvme", "{report:?}");
    let stats = s3.stats();
    assert_eq!(stats.requests_of(Operation::UploadPart), 3);
    // aws-chunked framing (chunk sizes and the trailer) comes on top of the bytes.
    assert!(stats.bytes_received > SIZE, "{stats:?}");
    let copied = s3
        .object("destination", "big.bin")
        .expect("the destination exists");
    assert_eq!(copied.len, SIZE);
    assert_eq!(copied.crc64nvme, source.crc64nvme);
    assert_eq!(s3.open_uploads("destination"), 0);
}

#[tokio::test]
async fn server_side_part_copies_move_no_bytes_and_are_verified() {
    let s3 = SyntheticS3::start(SyntheticS3Config::default())
        .await
        .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut spec = GeneratedObject::new("source", "big.bin", SIZE, 22);
    spec.crc64nvme = true;
    let source = s3.add_generated(spec);
    let client = local_s3::client(&s3.endpoint());
    let settings = CopySettings {
        mode: CopyMode::Server,
        server: s3_stream_lambda::copy::ServerCopySettings {
            part_size: PART,
            concurrency: 4,
        },
        ..CopySettings::default()
    };
    let report = copy_big(&client, &settings).await;
    assert_eq!(report.parts, 3);
    assert_eq!(report.bytes_through_function, 0);
    assert_eq!(report.verified, "source-crc64nvme", "{report:?}");
    let stats = s3.stats();
    assert_eq!(stats.requests_of(Operation::UploadPartCopy), 3);
    assert!(stats.bytes_received < MIB, "{stats:?}");
    let copied = s3
        .object("destination", "big.bin")
        .expect("the destination exists");
    assert_eq!(copied.len, SIZE);
    assert_eq!(copied.crc64nvme, source.crc64nvme);
    assert_eq!(s3.open_uploads("destination"), 0);
}
