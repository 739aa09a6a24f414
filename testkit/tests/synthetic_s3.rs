//! The synthetic S3 driven by the real aws-sdk-s3 client over loopback.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::{ByteStream, DateTime, SdkBody};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ObjectStorageClass,
};
use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use s3_stream_testkit::synthetic_s3::{
    GeneratedObject, MIN_PART_BYTES, Operation, SyntheticS3, SyntheticS3Config, crc64nvme,
    crc64nvme_base64, generated_bytes,
};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Longest any one test may take, including the 1 GiB read in a debug build.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// Longest one SDK operation may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test timed out")
}

fn client_with(s3: &SyntheticS3, interceptor: Option<Recorder>) -> Client {
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(s3.endpoint())
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(interceptor) = interceptor {
        config = config.interceptor(interceptor);
    }
    Client::from_conf(config.build())
}

async fn server(config: SyntheticS3Config) -> (SyntheticS3, Client) {
    let s3 = SyntheticS3::start(config).await.expect("server starts");
    s3.create_bucket("b");
    let client = client_with(&s3, None);
    (s3, client)
}

fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    error.code().unwrap_or("<none>").to_owned()
}

fn status<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    error
        .raw_response()
        .map_or(0, |response| response.status().as_u16())
}

async fn get(client: &Client, key: &str, range: Option<String>) -> Vec<u8> {
    let output = client
        .get_object()
        .bucket("b")
        .key(key)
        .set_range(range)
        .send()
        .await
        .expect("get");
    output
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Sends `request` on a raw connection and returns the whole response text.
async fn raw(s3: &SyntheticS3, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(s3.local_addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn ranged_gets_return_the_generated_bytes() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let size = 20 * MIB + 3;
        s3.add_generated_object("b", "big", size, 42);
        let whole = get(&client, "big", None).await;
        assert_eq!(whole, generated_bytes(42, 0, size as usize));
        let mut stitched = Vec::new();
        let mut start = 0;
        for len in [1, 7, 3 * MIB - 5, 5 * MIB + 11] {
            let end = start + len - 1;
            stitched.extend(get(&client, "big", Some(format!("bytes={start}-{end}"))).await);
            start = end + 1;
        }
        stitched.extend(get(&client, "big", Some(format!("bytes={start}-"))).await);
        assert_eq!(stitched, whole);
        let tail = client
            .get_object()
            .bucket("b")
            .key("big")
            .range("bytes=-10")
            .send()
            .await
            .expect("suffix");
        assert_eq!(
            tail.content_range(),
            Some(format!("bytes {}-{}/{size}", size - 10, size - 1).as_str())
        );
    })
    .await;
}

#[tokio::test]
async fn huge_objects_cost_nothing_and_read_anywhere() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let size = 200 * GIB;
        let info = s3.add_generated_object("b", "huge", size, 7);
        let head = client
            .head_object()
            .bucket("b")
            .key("huge")
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_length(), Some(size as i64));
        assert_eq!(head.e_tag(), Some(info.etag.as_str()));
        let at = 199 * GIB;
        let output = client
            .get_object()
            .bucket("b")
            .key("huge")
            .range(format!("bytes={at}-{}", at + MIB - 1))
            .send()
            .await
            .expect("ranged get");
        assert_eq!(
            output.content_range(),
            Some(format!("bytes {at}-{}/{size}", at + MIB - 1).as_str())
        );
        let bytes = output.body.collect().await.expect("body").into_bytes();
        assert_eq!(
            bytes.as_ref(),
            generated_bytes(7, at, MIB as usize).as_slice()
        );
        let error = client
            .get_object()
            .bucket("b")
            .key("huge")
            .range(format!("bytes={size}-"))
            .send()
            .await;
        let error = error.expect_err("416");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (416, "InvalidRange")
        );
    })
    .await;
}

#[tokio::test]
async fn if_match_and_checksum_mode() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let size = 3 * MIB + 1;
        let info = s3.add_generated(GeneratedObject::new("b", "k", size, 5).with_crc64nvme(true));
        let expected = crc64nvme(&generated_bytes(5, 0, size as usize));
        assert_eq!(info.crc64nvme, Some(expected));
        let error = client
            .get_object()
            .bucket("b")
            .key("k")
            .if_match("\"other\"")
            .send()
            .await
            .expect_err("412");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (412, "PreconditionFailed")
        );
        let output = client
            .get_object()
            .bucket("b")
            .key("k")
            .if_match(info.etag.clone())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get with checksum mode");
        assert_eq!(
            output.checksum_crc64_nvme(),
            Some(crc64nvme_base64(expected).as_str())
        );
        assert_eq!(output.checksum_type(), Some(&ChecksumType::FullObject));
        let body = output
            .body
            .collect()
            .await
            .expect("validated body")
            .into_bytes();
        assert_eq!(crc64nvme(&body), expected);
        let error = client
            .get_object()
            .bucket("b")
            .key("missing")
            .send()
            .await
            .expect_err("404");
        assert_eq!((status(&error), code(&error).as_str()), (404, "NoSuchKey"));
        let error = client
            .head_bucket()
            .bucket("nope")
            .send()
            .await
            .expect_err("404");
        assert_eq!(status(&error), 404);
    })
    .await;
}

struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
    data: Vec<u8>,
}

/// Creates a CRC64NVME full-object upload of `key` and uploads parts of `sizes`.
async fn upload_parts(client: &Client, key: &str, sizes: &[u64], numbers: &[i32]) -> Upload {
    let created = client
        .create_multipart_upload()
        .bucket("b")
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .expect("create");
    let id = created.upload_id().expect("upload id").to_owned();
    let (mut parts, mut data, mut offset) = (Vec::new(), Vec::new(), 0);
    for (size, number) in sizes.iter().zip(numbers) {
        let bytes = generated_bytes(99, offset, *size as usize);
        offset += size;
        let crc = crc64nvme_base64(crc64nvme(&bytes));
        let output = client
            .upload_part()
            .bucket("b")
            .key(key)
            .upload_id(&id)
            .part_number(*number)
            .checksum_crc64_nvme(&crc)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .expect("upload part");
        assert_eq!(output.checksum_crc64_nvme(), Some(crc.as_str()));
        let part = CompletedPart::builder()
            .part_number(*number)
            .set_e_tag(output.e_tag)
            .checksum_crc64_nvme(crc);
        parts.push(part.build());
        data.extend(bytes);
    }
    Upload { id, parts, data }
}

async fn complete(
    client: &Client,
    key: &str,
    upload: &Upload,
    crc: Option<String>,
) -> Result<String, String> {
    let parts = CompletedMultipartUpload::builder()
        .set_parts(Some(upload.parts.clone()))
        .build();
    let result = client
        .complete_multipart_upload()
        .bucket("b")
        .key(key)
        .upload_id(&upload.id)
        .multipart_upload(parts)
        .checksum_type(ChecksumType::FullObject)
        .set_checksum_crc64_nvme(crc)
        .send()
        .await;
    match result {
        Ok(output) => Ok(output.checksum_crc64_nvme().unwrap_or_default().to_owned()),
        Err(error) => Err(code(&error)),
    }
}

#[tokio::test]
async fn multipart_upload_follows_s3_rules() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let upload = upload_parts(&client, "mp", &[5 * MIB, 5 * MIB, MIB + 123], &[1, 2, 3]).await;
        let full = crc64nvme_base64(crc64nvme(&upload.data));
        assert_eq!(
            complete(&client, "mp", &upload, Some(full.clone())).await,
            Ok(full.clone())
        );
        let stored = s3.object("b", "mp").expect("stored");
        assert_eq!(
            (stored.len, stored.crc64nvme),
            (upload.data.len() as u64, Some(crc64nvme(&upload.data)))
        );
        assert!(stored.etag.ends_with("-3\""), "{}", stored.etag);
        assert_eq!(s3.open_uploads("b"), 0);
        let head = client
            .head_object()
            .bucket("b")
            .key("mp")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        assert_eq!(
            head.expect("head").checksum_crc64_nvme(),
            Some(full.as_str())
        );
        let error = client
            .get_object()
            .bucket("b")
            .key("mp")
            .send()
            .await
            .expect_err("bytes discarded");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (501, "NotImplemented")
        );

        let small = upload_parts(&client, "small", &[4 * MIB, MIB], &[1, 2]).await;
        assert_eq!(
            complete(&client, "small", &small, None).await,
            Err("EntityTooSmall".to_owned())
        );
        let mut order = upload_parts(&client, "order", &[MIN_PART_BYTES, MIB], &[1, 2]).await;
        order.parts.reverse();
        assert_eq!(
            complete(&client, "order", &order, None).await,
            Err("InvalidPartOrder".to_owned())
        );
        let digest = upload_parts(&client, "digest", &[MIN_PART_BYTES, MIB], &[1, 2]).await;
        let wrong = Some(crc64nvme_base64(12345));
        assert_eq!(
            complete(&client, "digest", &digest, wrong).await,
            Err("BadDigest".to_owned())
        );
        let mut etag = upload_parts(&client, "etag", &[MIB], &[1]).await;
        etag.parts[0] = CompletedPart::builder()
            .part_number(1)
            .e_tag("\"nope\"")
            .build();
        assert_eq!(
            complete(&client, "etag", &etag, None).await,
            Err("InvalidPart".to_owned())
        );
        assert_eq!(
            s3.open_uploads("b"),
            4,
            "failed completes leave uploads open"
        );

        let again = upload_parts(&client, "mp", &[MIB], &[1]).await;
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(again.parts.clone()))
            .build();
        let error = client
            .complete_multipart_upload()
            .bucket("b")
            .key("mp")
            .upload_id(&again.id)
            .multipart_upload(parts)
            .if_none_match("*")
            .send()
            .await
            .expect_err("exists");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (412, "PreconditionFailed")
        );

        let listed = client
            .list_multipart_uploads()
            .bucket("b")
            .send()
            .await
            .expect("list");
        let keys: Vec<_> = listed
            .uploads()
            .iter()
            .filter_map(|upload| upload.key())
            .collect();
        assert_eq!(keys, ["digest", "etag", "mp", "order", "small"]);
        assert_eq!(
            listed.uploads()[0].checksum_algorithm(),
            Some(&ChecksumAlgorithm::Crc64Nvme)
        );
        for upload in listed.uploads() {
            let (key, id) = (
                upload.key().unwrap_or_default(),
                upload.upload_id().unwrap_or_default(),
            );
            client
                .abort_multipart_upload()
                .bucket("b")
                .key(key)
                .upload_id(id)
                .send()
                .await
                .expect("abort");
        }
        assert_eq!(s3.open_uploads("b"), 0);
        let error = client
            .abort_multipart_upload()
            .bucket("b")
            .key("mp")
            .upload_id(&again.id)
            .send()
            .await;
        assert_eq!(code(&error.expect_err("gone")), "NoSuchUpload");
        let part = client
            .upload_part()
            .bucket("b")
            .key("mp")
            .upload_id(&again.id)
            .part_number(2)
            .body(ByteStream::from(vec![0; MIB as usize]))
            .send()
            .await;
        assert_eq!(code(&part.expect_err("aborted")), "NoSuchUpload");
    })
    .await;
}

/// Parts in the ListParts test: past one page of 1,000.
const LISTED_PARTS: i32 = 1_003;

/// ListParts pages past 1,000 parts with the part number marker, and
/// reports each part's size, ETag and CRC64NVME as UploadPart answered them.
#[tokio::test]
async fn list_parts_pages_past_a_thousand() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let numbers: Vec<i32> = (1..=LISTED_PARTS).collect();
        let sizes: Vec<u64> = numbers.iter().map(|n| 1 + *n as u64 % 7).collect();
        let upload = upload_parts(&client, "many", &sizes, &numbers).await;
        let mut listed = Vec::new();
        let mut marker = None;
        let mut pages = 0;
        loop {
            let page = client
                .list_parts()
                .bucket("b")
                .key("many")
                .upload_id(&upload.id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .expect("list parts");
            pages += 1;
            assert_eq!(
                page.checksum_algorithm(),
                Some(&ChecksumAlgorithm::Crc64Nvme)
            );
            listed.extend(page.parts().iter().map(|part| {
                (
                    part.part_number().unwrap_or_default(),
                    part.size().unwrap_or_default() as u64,
                    part.e_tag().unwrap_or_default().to_owned(),
                    part.checksum_crc64_nvme().unwrap_or_default().to_owned(),
                )
            }));
            if page.is_truncated() != Some(true) {
                break;
            }
            marker = page.next_part_number_marker().map(str::to_owned);
        }
        assert_eq!(pages, 2, "1,000 parts a page");
        let expected: Vec<_> = upload
            .parts
            .iter()
            .zip(&sizes)
            .map(|(part, size)| {
                (
                    part.part_number().unwrap_or_default(),
                    *size,
                    part.e_tag().unwrap_or_default().to_owned(),
                    part.checksum_crc64_nvme().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(listed, expected);
        let one = client
            .list_parts()
            .bucket("b")
            .key("many")
            .upload_id(&upload.id)
            .max_parts(1)
            .part_number_marker("1002")
            .send()
            .await
            .expect("list one part");
        assert_eq!(one.parts().len(), 1);
        assert_eq!(one.parts()[0].part_number(), Some(LISTED_PARTS));
        assert_eq!(one.is_truncated(), Some(false));
        assert_eq!(s3.stats().requests_of(Operation::ListParts), 3);
        let error = client
            .list_parts()
            .bucket("b")
            .key("many")
            .upload_id("no-such-upload")
            .send()
            .await
            .expect_err("unknown upload");
        assert_eq!(code(&error), "NoSuchUpload");
    })
    .await;
}

/// The keys of one ListObjectsV2 answer.
fn listed_keys(output: &ListObjectsV2Output) -> Vec<&str> {
    output
        .contents()
        .iter()
        .filter_map(|object| object.key())
        .collect()
}

/// ListObjectsV2 lists generated and uploaded objects bytewise by key, filtered by
/// prefix, after `start-after`, and paged by continuation token.
#[tokio::test]
async fn list_objects_v2_pages_by_prefix_in_key_order() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        let generated = s3.add_generated_object("b", "p/c", 10, 1);
        s3.add_generated_object("b", "p/B", 20, 2);
        s3.add_generated_object("b", "p/a b", 30, 3);
        for key in ["p", "q/a"] {
            s3.add_generated_object("b", key, 5, 4);
        }
        for key in ["p/a&b", "p/\u{e9}", "o"] {
            client
                .put_object()
                .bucket("b")
                .key(key)
                .body(ByteStream::from_static(b"abc"))
                .send()
                .await
                .expect("put");
        }
        let under_p = ["p/B", "p/a b", "p/a&b", "p/c", "p/\u{e9}"];

        let all = client
            .list_objects_v2()
            .bucket("b")
            .send()
            .await
            .expect("list all");
        let mut everything = vec!["o", "p"];
        everything.extend(under_p);
        everything.push("q/a");
        assert_eq!(listed_keys(&all), everything);
        assert_eq!(
            (all.key_count(), all.max_keys(), all.is_truncated()),
            (Some(8), Some(1000), Some(false))
        );
        assert_eq!(all.name(), Some("b"));
        let listed = all
            .contents()
            .iter()
            .find(|object| object.key() == Some("p/c"))
            .expect("p/c listed");
        assert_eq!(listed.size(), Some(10));
        assert_eq!(listed.e_tag(), Some(generated.etag.as_str()));
        assert_eq!(listed.storage_class(), Some(&ObjectStorageClass::Standard));
        assert_eq!(
            listed.last_modified().map(|time| time.secs()),
            Some(DateTime::from(generated.last_modified).secs())
        );
        assert!(listed.owner().is_none(), "owner only when fetched");

        let mut pages = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket("b")
                .prefix("p/")
                .max_keys(2)
                .fetch_owner(true)
                .set_continuation_token(token.clone())
                .send()
                .await
                .expect("list a page");
            assert_eq!(page.prefix(), Some("p/"));
            assert_eq!(page.max_keys(), Some(2));
            assert_eq!(page.continuation_token(), token.as_deref());
            assert_eq!(page.key_count(), Some(page.contents().len() as i32));
            assert!(
                page.contents()
                    .iter()
                    .all(|object| object.owner().is_some())
            );
            pages.push(listed_keys(&page).join(","));
            assert_eq!(
                page.is_truncated(),
                Some(page.next_continuation_token().is_some())
            );
            match page.next_continuation_token() {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, ["p/B,p/a b", "p/a&b,p/c", "p/\u{e9}"]);

        let after = client
            .list_objects_v2()
            .bucket("b")
            .prefix("p/")
            .start_after("p/a&b")
            .send()
            .await
            .expect("list after");
        assert_eq!(listed_keys(&after), under_p[3..]);
        assert_eq!(after.start_after(), Some("p/a&b"));
        let none = client
            .list_objects_v2()
            .bucket("b")
            .max_keys(0)
            .send()
            .await
            .expect("list none");
        assert_eq!(
            (none.key_count(), none.is_truncated(), none.contents().len()),
            (Some(0), Some(false), 0)
        );
        assert!(none.next_continuation_token().is_none());

        let missing = client
            .list_objects_v2()
            .bucket("missing")
            .send()
            .await
            .expect_err("no bucket");
        assert_eq!(
            (status(&missing), code(&missing).as_str()),
            (404, "NoSuchBucket")
        );
        let delimited = client
            .list_objects_v2()
            .bucket("b")
            .delimiter("/")
            .send()
            .await
            .expect_err("delimiter");
        assert_eq!(
            (status(&delimited), code(&delimited).as_str()),
            (501, "NotImplemented")
        );
        let garbage = client
            .list_objects_v2()
            .bucket("b")
            .continuation_token("not-a-token")
            .send()
            .await
            .expect_err("bad token");
        assert_eq!(
            (status(&garbage), code(&garbage).as_str()),
            (400, "InvalidArgument")
        );
        assert_eq!(s3.stats().requests_of(Operation::ListObjectsV2), 9);
    })
    .await;
}

#[tokio::test]
async fn put_object_reads_back_with_headers_and_conditions() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default().with_versioning(true)).await;
        let data = generated_bytes(3, 0, 1000);
        let put = client
            .put_object()
            .bucket("b")
            .key("dir/a b+c")
            .content_type("text/plain")
            .metadata("color", "blue")
            .tagging("t=1")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("put");
        let version = put.version_id().expect("versioned").to_owned();
        let output = client
            .get_object()
            .bucket("b")
            .key("dir/a b+c")
            .version_id(&version)
            .send()
            .await
            .expect("get");
        assert_eq!(output.content_type(), Some("text/plain"));
        assert_eq!(
            output
                .metadata()
                .and_then(|m| m.get("color"))
                .map(String::as_str),
            Some("blue")
        );
        assert_eq!(output.tag_count(), Some(1));
        assert_eq!(
            output
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .as_ref(),
            data.as_slice()
        );
        let error = client
            .get_object()
            .bucket("b")
            .key("dir/a b+c")
            .version_id("old")
            .send()
            .await;
        assert_eq!(code(&error.expect_err("old version")), "NoSuchVersion");
        let error = client
            .put_object()
            .bucket("b")
            .key("dir/a b+c")
            .if_none_match("*")
            .send()
            .await;
        let error = error.expect_err("exists");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (412, "PreconditionFailed")
        );
        let etag = put.e_tag().expect("etag");
        client
            .put_object()
            .bucket("b")
            .key("dir/a b+c")
            .if_match(etag)
            .send()
            .await
            .expect("if-match put");
        let error = client
            .put_object()
            .bucket("b")
            .key("dir/a b+c")
            .if_match(etag)
            .send()
            .await;
        assert_eq!(
            code(&error.expect_err("etag changed")),
            "PreconditionFailed"
        );
        let tags = client
            .get_object_tagging()
            .bucket("b")
            .key("dir/a b+c")
            .send()
            .await
            .expect("tagging");
        assert!(tags.tag_set().is_empty(), "the overwrite carried no tags");
        let stats = s3.stats();
        assert_eq!(stats.requests_of(Operation::PutObject), 4);
        assert!(stats.errors >= 3);
        let error = client
            .list_objects()
            .bucket("b")
            .send()
            .await
            .expect_err("not implemented");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (501, "NotImplemented")
        );
    })
    .await;
}

/// Records the headers of every request the client transmits.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Headers>>>);

/// One request's headers, in order.
type Headers = Vec<(String, String)>;

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context
            .request()
            .headers()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        self.0.lock().expect("recorder").push(headers);
        Ok(())
    }
}

#[tokio::test]
async fn streaming_bodies_with_trailing_checksums_verify() {
    within(async {
        let (s3, _) = server(SyntheticS3Config::default()).await;
        let recorder = Recorder::default();
        let client = client_with(&s3, Some(recorder.clone()));
        let data = generated_bytes(11, 0, (3 * MIB + 17) as usize);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> =
            data.chunks(100_000).map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk)))).collect();
        let body = SdkBody::from_body_1_x(StreamBody::new(futures_util::stream::iter(frames)));
        let put = client
            .put_object()
            .bucket("b")
            .key("streamed")
            .content_length(data.len() as i64)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .body(ByteStream::new(body))
            .send()
            .await
            .expect("streaming put");
        let crc = crc64nvme(&data);
        assert_eq!(put.checksum_crc64_nvme(), Some(crc64nvme_base64(crc).as_str()));
        assert_eq!(s3.object("b", "streamed").and_then(|object| object.crc64nvme), Some(crc));
        let sent = recorder.0.lock().expect("recorder").pop().expect("one request");
        let value = |name: &str| sent.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        eprintln!("sdk streaming put headers: {sent:?}");
        assert_eq!(value("content-encoding").as_deref(), Some("aws-chunked"));
        assert_eq!(value("x-amz-trailer").as_deref(), Some("x-amz-checksum-crc64nvme"));
        assert_eq!(value("x-amz-decoded-content-length"), Some(data.len().to_string()));
        assert!(value("x-amz-content-sha256").is_some_and(|sha| sha.starts_with("STREAMING-")));

        let body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n";
        let request = format!(
            "PUT /b/bad HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-encoding: aws-chunked\r\n\
             x-amz-decoded-content-length: 5\r\nx-amz-trailer: x-amz-checksum-crc64nvme\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = raw(&s3, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 400") && response.contains("<Code>BadDigest</Code>"), "{response}");
        let request = "PUT /b/huge HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 6442450944\r\n\r\n";
        let response = raw(&s3, request.as_bytes()).await;
        assert!(response.contains("<Code>EntityTooLarge</Code>"), "{response}");
        let request = "PUT /created HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(raw(&s3, request.as_bytes()).await.starts_with("HTTP/1.1 200"));
        let head = client.head_bucket().bucket("created").send().await.expect("created over http");
        assert_eq!(head.bucket_region(), Some("us-east-1"));
    })
    .await;
}

#[tokio::test]
async fn one_gib_ranged_read_and_pacing() {
    within(async {
        let (s3, client) = server(SyntheticS3Config::default()).await;
        s3.add_generated_object("b", "g", 4 * GIB, 1);
        let started = Instant::now();
        let output = client
            .get_object()
            .bucket("b")
            .key("g")
            .range(format!("bytes={GIB}-{}", 2 * GIB - 1))
            .send();
        let mut body = output.await.expect("1 GiB get").body;
        let (mut received, mut first) = (0u64, None);
        while let Some(chunk) = body.try_next().await.expect("chunk") {
            first.get_or_insert_with(|| chunk.slice(..chunk.len().min(64)));
            received += chunk.len() as u64;
        }
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "1 GiB ranged read: {seconds:.2} s, {:.0} MiB/s",
            received as f64 / MIB as f64 / seconds
        );
        assert_eq!(received, GIB);
        assert_eq!(
            first.as_deref(),
            Some(generated_bytes(1, GIB, 64).as_slice())
        );
        assert_eq!(s3.stats().bytes_served, GIB);

        let (paced, client) =
            server(SyntheticS3Config::default().with_per_connection_rate(20 * MIB)).await;
        paced.add_generated_object("b", "p", 6 * MIB, 2);
        let started = Instant::now();
        assert_eq!(get(&client, "p", None).await.len() as u64, 6 * MIB);
        // 6 MiB less one burst frame at 20 MiB/s cannot take under 0.27 s.
        assert!(
            started.elapsed() >= Duration::from_millis(270),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

#[tokio::test]
async fn serves_on_a_given_listener_with_its_region() {
    within(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let config = SyntheticS3Config::default().with_region("eu-west-1");
        let s3 = SyntheticS3::start_on_std(listener, config).expect("start");
        let client = client_with(&s3, None);
        client
            .create_bucket()
            .bucket("r")
            .send()
            .await
            .expect("create");
        let error = client
            .create_bucket()
            .bucket("r")
            .send()
            .await
            .expect_err("exists");
        assert_eq!(
            (status(&error), code(&error).as_str()),
            (409, "BucketAlreadyOwnedByYou")
        );
        let head = client.head_bucket().bucket("r").send().await.expect("head");
        assert_eq!(head.bucket_region(), Some("eu-west-1"));
        let body = ByteStream::from_static(b"abc");
        client
            .put_object()
            .bucket("r")
            .key("k")
            .body(body)
            .send()
            .await
            .expect("put");
        client
            .delete_object()
            .bucket("r")
            .key("k")
            .send()
            .await
            .expect("delete");
        assert!(s3.object("r", "k").is_none());
        let stats = s3.stats();
        assert_eq!(stats.requests_of(Operation::CreateBucket), 2);
        assert!(stats.bytes_received >= 3);
    })
    .await;
}
