//! Copies that outlive one invocation, through the real `bootstrap`, the emulator and
//! moto behind the fault proxy: every part is slowed so that one invocation moves a
//! few parts; each `Copy.Continue` is delivered again (the same event) until the copy
//! completes, whole, with the source's checksum and nothing left open.

use crate::common::function::{Function, s3_event};
use crate::common::{self, Stack};
use aws_sdk_s3::types::ChecksumAlgorithm;
use s3_stream_testkit::emulator::{AsyncRetries, InvocationSpec, Post, PostKind};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::io::Read as _;
use std::time::Duration;

/// Each invocation's time limit: with the default 2 s margin, 2.5 s of copying.
const TIMEOUT: Duration = Duration::from_millis(4_500);

/// Thirteen 5 MiB parts and a tail.
pub(crate) const SIZE: usize = 13 * 5 * 1024 * 1024 + 1_000;
const PARTS: usize = 14;

/// What slows each part down: an invocation moves a few of them.
pub(crate) const PART_DELAY: Duration = Duration::from_millis(900);

/// Deliveries a test makes before it calls the copy stuck.
const MAX_DELIVERIES: usize = 30;

/// The checkpoints the function keeps in the destination bucket.
const CHECKPOINTS: &str = ".s3-stream-lambda/";

/// Puts `data` at `key` in the source bucket with a full-object CRC64NVME (what a
/// copy is verified against); its ETag.
pub(crate) async fn put(s: &Stack, key: &str, data: Vec<u8>) -> String {
    common::send_put(
        s.put_request(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .body(data.into()),
    )
    .await
}

/// Delivers `event` again after every error (as Lambda's retries and SQS do) until
/// it succeeds; the posts, in order.
async fn deliver_until_done(function: &Function, event: &serde_json::Value) -> Vec<Post> {
    let mut posts = Vec::new();
    for _ in 0..MAX_DELIVERIES {
        let post = function
            .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(TIMEOUT))
            .await;
        let again = post.kind == PostKind::Error;
        posts.push(post);
        if !again {
            return posts;
        }
    }
    panic!(
        "still continuing after {MAX_DELIVERIES} deliveries; logs:\n{}",
        function.logs()
    );
}

pub(crate) async fn checkpoints(s: &Stack) -> usize {
    s.client
        .list_objects_v2()
        .bucket(&s.destination)
        .prefix(CHECKPOINTS)
        .send()
        .await
        .expect("list checkpoints")
        .key_count()
        .unwrap_or(0) as usize
}

/// The copy's record in a successful post.
pub(crate) fn record(post: &Post) -> serde_json::Value {
    post.json()["records"][0].clone()
}

/// Asserts the copy of `key` carries its source's full-object CRC64NVME.
pub(crate) async fn assert_same_crc64nvme(s: &Stack, key: &str) {
    let crc = |bucket: &str| {
        s.client
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
    };
    let (copy, source) = (crc(&s.destination).await, crc(&s.source).await);
    assert_eq!(
        copy.expect("head the copy").checksum_crc64_nvme(),
        source.expect("head the source").checksum_crc64_nvme()
    );
}

/// Every delivery but the last stopped with `Copy.Continue`, saying the next resumes it.
fn assert_every_stop_resumes(posts: &[Post]) {
    for post in &posts[..posts.len() - 1] {
        let message = post.json()["errorMessage"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            message.contains("the next delivery resumes it"),
            "{message}"
        );
    }
}

/// The bytes each attempt put in S3, from a copied record's report.
fn attempts_of(copied: &serde_json::Value) -> Vec<u64> {
    copied["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts in {copied}"))
        .iter()
        .map(|bytes| bytes.as_u64().unwrap_or(0))
        .collect()
}

/// Checks the object, the report and what is left once a resumed copy completed.
async fn assert_resumed(s: &Stack, key: &str, data: &[u8], posts: &[Post]) {
    let last = posts.last().expect("a delivery");
    assert_eq!(last.kind, PostKind::Response, "{}", last.json());
    assert_eq!(
        s.get(key).await,
        data,
        "the copy is the source, byte for byte"
    );
    assert_eq!(s.open_uploads().await, 0, "no upload left open");
    assert_eq!(checkpoints(s).await, 0, "the checkpoint is removed");
    // Also when the previous attempt's completion landed as its deadline
    // cut the answer off (a loaded machine): this delivery finds it made.
    let copied = record(last);
    assert_eq!(copied["outcome"], "copied", "{copied}");
    assert_eq!(copied["verified"], "source-crc64nvme", "{copied}");
    assert_eq!(
        s.get(key).await,
        data,
        "the copy is the source, byte for byte"
    );
    let attempts = attempts_of(&copied);
    assert_eq!(attempts.len(), posts.len(), "{copied}");
    assert_eq!(attempts.iter().sum::<u64>(), data.len() as u64, "{copied}");
    assert_every_stop_resumes(posts);
    assert_eq!(s.open_uploads().await, 0, "no upload left open");
    assert_eq!(checkpoints(s).await, 0, "the checkpoint is removed");
}

/// The environment of a streamed copy whose parts the proxy slows: two at a
/// time, many attempts allowed.
pub(crate) const STREAMED: [(&str, &str); 4] = [
    ("COPY_MODE", "stream"),
    ("PART_SIZE_MIB", "5"),
    ("UPLOAD_CONCURRENCY", "2"),
    ("RESUME_MAX_ATTEMPTS", "30"),
];

/// `s` with every `op` slowed by `delay`, and a function copying to its
/// destination with `env` through the proxy.
pub(crate) async fn slowed(s: &Stack, op: S3Op, delay: Duration, env: &[(&str, &str)]) -> Function {
    s.proxy
        .add_rule(Rule::new(Matcher::s3(op), Fault::Delay(delay)));
    let mut all = vec![("DST_BUCKET", s.destination.as_str())];
    all.extend_from_slice(env);
    s.start_function_through_proxy(&all).await
}

#[tokio::test]
async fn a_piped_copy_resumes_across_deliveries_until_it_is_whole() {
    let s = Stack::new("resume-piped").await;
    let data = common::bytes_of(SIZE, 26);
    let etag = put(&s, "big.bin", data.clone()).await;
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &STREAMED).await;
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let posts = deliver_until_done(&function, &event).await;

    assert!(
        posts.len() >= 3,
        "{} deliveries: the copy needs several",
        posts.len()
    );
    assert_resumed(&s, "big.bin", &data, &posts).await;
    // Parts are sent again only when they were in flight at a stop.
    let uploads = s.ops(S3Op::UploadPart);
    assert!(
        uploads <= PARTS + 2 * (posts.len() - 1),
        "{uploads} part uploads for {PARTS} parts over {} deliveries",
        posts.len()
    );
    assert_eq!(
        s.ops(S3Op::CreateMultipartUpload),
        1,
        "one upload for every attempt"
    );
}

#[tokio::test]
async fn a_server_side_copy_resumes_across_deliveries_until_it_is_whole() {
    let s = Stack::new("resume-server").await;
    let data = common::bytes_of(SIZE, 27);
    let etag = put(&s, "big.bin", data.clone()).await;
    let server = [
        ("COPY_MODE", "server"),
        ("PART_COPY_SIZE_MIB", "5"),
        ("PART_COPY_CONCURRENCY", "2"),
        ("RESUME_MAX_ATTEMPTS", "30"),
    ];
    let function = slowed(&s, S3Op::UploadPartCopy, PART_DELAY, &server).await;
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let posts = deliver_until_done(&function, &event).await;

    assert!(
        posts.len() >= 3,
        "{} deliveries: the copy needs several",
        posts.len()
    );
    let method = &record(posts.last().expect("a post"))["method"];
    assert!(method == "server" || method.is_null(), "{method}");
    assert_resumed(&s, "big.bin", &data, &posts).await;
    assert_eq!(
        s.ops(S3Op::CreateMultipartUpload),
        1,
        "one upload for every attempt"
    );
}

/// The event of a newer object of the same key.
fn newer(mut event: serde_json::Value, etag: &str, size: usize) -> serde_json::Value {
    let object = &mut event["Records"][0]["s3"]["object"];
    object["eTag"] = serde_json::json!(etag);
    object["size"] = serde_json::json!(size);
    object["sequencer"] = serde_json::json!("0067A1B2C3D4E5F699");
    event
}

/// `len` bytes of which a quarter compresses well: 64 KiB of text, then
/// 192 KiB of noise, so gzip's members differ in size, parts end inside
/// them, and the output is most of the input's 14 parts.
fn mostly_noise(len: usize) -> Vec<u8> {
    let noise = common::bytes_of(len, 33);
    let text = b"{\"level\":\"info\",\"message\":\"copied\",\"bytes\":1234567}\n";
    (0..len)
        .map(|i| match (i >> 16) % 4 {
            0 => text[i % text.len()],
            _ => noise[i],
        })
        .collect()
}

#[tokio::test]
async fn a_gzip_copy_resumes_across_deliveries_and_decompresses_to_the_source() {
    let s = Stack::new("resume-gzip").await;
    let data = mostly_noise(SIZE);
    let etag = put(&s, "big.bin", data.clone()).await;
    let mut env = STREAMED.to_vec();
    env.push(("TRANSFORM", "gzip"));
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &env).await;
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let posts = deliver_until_done(&function, &event).await;

    assert!(posts.len() >= 3, "{} deliveries", posts.len());
    println!("{}", posts[0].json()["errorMessage"]);
    assert_every_stop_resumes(&posts);
    let last = posts.last().expect("a delivery");
    let copied = record(last);
    assert_eq!(copied["outcome"], "copied", "{}", last.json());
    assert_eq!(copied["verified"], "transformed", "{copied}");
    let gz = s.get("big.bin.gz").await;
    let attempts = attempts_of(&copied);
    assert_eq!(attempts.len(), posts.len(), "{copied}");
    assert_eq!(attempts.iter().sum::<u64>(), gz.len() as u64, "{copied}");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .expect("a gzip file");
    assert!(plain == data, "the output decompresses to the source");
    assert_eq!(s.open_uploads().await, 0, "no upload left open");
    assert_eq!(checkpoints(&s).await, 0, "the checkpoint is removed");
    let parts = gz.len().div_ceil(5 * 1024 * 1024);
    let uploads = s.ops(S3Op::UploadPart);
    println!(
        "gzip resumed: {} deliveries, {} output bytes in {parts} parts, {uploads} part uploads, attempts {attempts:?}",
        posts.len(),
        gz.len()
    );
    // Parts are made again only when in flight at a stop, or finished
    // after the last restart point the checkpoint holds.
    assert!(
        uploads <= parts + 4 * (posts.len() - 1),
        "{uploads} part uploads for {parts} parts over {} deliveries",
        posts.len()
    );
}

#[tokio::test]
async fn a_source_overwritten_between_attempts_starts_over_and_never_mixes_versions() {
    let s = Stack::new("resume-overwrite").await;
    let old = common::bytes_of(SIZE, 28);
    let etag = put(&s, "big.bin", old).await;
    let function = slowed(&s, S3Op::UploadPart, PART_DELAY, &STREAMED).await;
    let first = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let post = function
        .invoke_spec(InvocationSpec::new(first.to_string()).with_timeout(TIMEOUT))
        .await;
    assert_eq!(post.json()["errorType"], "Copy.Continue", "{}", post.json());
    assert_eq!(
        s.open_uploads().await,
        1,
        "the first attempt kept its upload"
    );

    let new = common::bytes_of(SIZE, 29);
    let new_etag = put(&s, "big.bin", new.clone()).await;
    let second = newer(first.clone(), &new_etag, SIZE);
    let posts = deliver_until_done(&function, &second).await;
    assert_eq!(
        record(posts.last().expect("a post"))["outcome"],
        "copied",
        "{}",
        posts.last().expect("a post").json()
    );
    assert_eq!(
        s.get("big.bin").await,
        new,
        "the copy is the new object, whole"
    );
    // The old event delivered again finds its object gone: nothing changes.
    let post = function
        .invoke_spec(InvocationSpec::new(first.to_string()).with_timeout(TIMEOUT))
        .await;
    assert_eq!(record(&post)["outcome"], "superseded", "{}", post.json());
    assert_eq!(s.get("big.bin").await, new);
    assert_eq!(s.open_uploads().await, 0, "the old upload is aborted");
    assert_eq!(checkpoints(&s).await, 0);
    assert_eq!(s.ops(S3Op::AbortMultipartUpload), 1, "{:#?}", s.proxy.log());
}

#[tokio::test]
async fn a_completion_that_lands_as_the_deadline_cuts_its_answer_off_is_reported_copied() {
    let s = Stack::new("resume-late-complete").await;
    let size = 3 * 5 * 1024 * 1024;
    let data = common::bytes_of(size, 31);
    let etag = put(&s, "big.bin", data.clone()).await;
    // S3 completes the upload; its answer comes after the invocation's end.
    s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::CompleteMultipartUpload),
            Fault::HoldResponse(TIMEOUT * 2),
        )
        .times(Times::First(1)),
    );
    let mut env = vec![("DST_BUCKET", s.destination.as_str())];
    env.extend_from_slice(&STREAMED);
    let function = s.start_function_through_proxy(&env).await;
    let event = s3_event(&[(&s.source, "big.bin", size, &etag)]);
    let posts = deliver_until_done(&function, &event).await;

    assert_eq!(
        posts.len(),
        2,
        "{:?}",
        posts.iter().map(Post::json).collect::<Vec<_>>()
    );
    let cut = posts[0].json();
    assert_eq!(cut["errorType"], "Copy.Continue", "{cut}");
    assert!(
        cut["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("(100%)")),
        "{cut}"
    );
    assert_resumed(&s, "big.bin", &data, &posts).await;
    let copied = record(&posts[1]);
    assert_eq!(copied["bytesOut"], 0, "nothing moved again: {copied}");
    assert_eq!(s.ops(S3Op::CompleteMultipartUpload), 1);
    assert_same_crc64nvme(&s, "big.bin").await;
}

#[tokio::test]
async fn two_deliveries_at_once_make_one_verified_object() {
    let s = Stack::new("resume-twins").await;
    let data = common::bytes_of(SIZE, 30);
    let etag = put(&s, "big.bin", data.clone()).await;
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPart),
        Fault::Delay(PART_DELAY),
    ));
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("COPY_MODE", "stream"),
        ("PART_SIZE_MIB", "5"),
        ("UPLOAD_CONCURRENCY", "2"),
        ("RESUME_MAX_ATTEMPTS", "30"),
    ];
    let (one, two) = tokio::join!(
        s.start_function_through_proxy(&env),
        s.start_function_through_proxy(&env)
    );
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let (posts_one, posts_two) = tokio::join!(
        deliver_until_done(&one, &event),
        deliver_until_done(&two, &event)
    );
    for posts in [&posts_one, &posts_two] {
        let last = posts.last().expect("a post");
        let outcome = record(last)["outcome"].clone();
        assert!(
            outcome == "copied" || outcome == "superseded",
            "each delivery ends copied, or superseded by its twin's copy: {}",
            last.json()
        );
    }
    let copied: Vec<_> = [&posts_one, &posts_two]
        .iter()
        .map(|posts| record(posts.last().expect("a post")))
        .filter(|record| record["outcome"] == "copied")
        .collect();
    assert!(!copied.is_empty(), "one of them copied");
    for record in &copied {
        assert_eq!(record["verified"], "source-crc64nvme", "{record}");
    }
    assert_eq!(s.get("big.bin").await, data);
    assert_same_crc64nvme(&s, "big.bin").await;
    s.wait_for_no_open_uploads(Duration::from_secs(5)).await;
    assert_eq!(s.open_uploads().await, 0);
}

/// The scale run's object, in GiB (`RESUME_SCALE_GIB`, default 20).
fn scale_gib() -> u64 {
    std::env::var("RESUME_SCALE_GIB")
        .ok()
        .and_then(|gib| gib.parse().ok())
        .unwrap_or(20)
}

/// The scale run's pace per connection: four pipes move ~200 MB/s.
const SCALE_PACE: u64 = 50_000_000;

/// The scale run's invocation by default: 18 s of copying, ~3.6 GB an
/// attempt, five or more for 20 GiB.
const SCALE_TIMEOUT: Duration = Duration::from_secs(20);

/// The scale run's invocation (`RESUME_SCALE_TIMEOUT_SECONDS`, default
/// [`SCALE_TIMEOUT`]): a larger object takes longer ones, so that it fits
/// [`MAX_DELIVERIES`].
fn scale_timeout() -> Duration {
    std::env::var("RESUME_SCALE_TIMEOUT_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(SCALE_TIMEOUT, Duration::from_secs)
}

/// The synthetic S3 with `config`, holding `spec` (with its CRC64NVME) in
/// `source`, and a function copying it to `destination` by `mode`, resuming
/// up to 30 times.
async fn start_at_scale(
    config: s3_stream_testkit::synthetic_s3::SyntheticS3Config,
    mut spec: s3_stream_testkit::synthetic_s3::GeneratedObject,
    mode: &str,
) -> (
    s3_stream_testkit::synthetic_s3::SyntheticS3,
    s3_stream_testkit::synthetic_s3::StoredObject,
    Function,
) {
    let s3 = s3_stream_testkit::synthetic_s3::SyntheticS3::start(config)
        .await
        .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    spec.crc64nvme = true;
    let stored = s3.add_generated(spec);
    let endpoint = s3.endpoint();
    let function = crate::common::function::start(&[
        ("DST_BUCKET", "destination"),
        ("AWS_ENDPOINT_URL_S3", &endpoint),
        ("COPY_MODE", mode),
        ("RESUME_MAX_ATTEMPTS", "30"),
    ])
    .await;
    (s3, stored, function)
}

/// Delivers the event of `stored` with `timeout` again after each
/// `Copy.Continue`, at most [`MAX_DELIVERIES`] times; the posts, in order.
async fn deliver_at_scale(
    function: &Function,
    stored: &s3_stream_testkit::synthetic_s3::StoredObject,
    timeout: Duration,
) -> Vec<Post> {
    let event = s3_event(&[(
        "source",
        "huge.bin",
        stored.len as usize,
        stored.etag.as_str(),
    )]);
    let mut posts = Vec::new();
    for _ in 0..MAX_DELIVERIES {
        let post = function
            .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(timeout))
            .await;
        let again = post.kind == PostKind::Error;
        if again {
            assert_eq!(post.json()["errorType"], "Copy.Continue", "{}", post.json());
        }
        posts.push(post);
        if !again {
            break;
        }
    }
    posts
}

/// The function process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib(function: &Function) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", function.child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

/// The acceptance run at scale (minutes in a release build: `cargo test --release
/// -- --ignored resume_at_scale`): a 20 GiB object streamed by a 512 MB function from
/// the synthetic S3, paced per connection, over at least five deliveries. The bench
/// row in BENCHMARKS.md is the same run at `RESUME_SCALE_GIB=200
/// RESUME_SCALE_TIMEOUT_SECONDS=120`.
#[tokio::test]
#[ignore = "minutes of copying: run in a release build"]
async fn resume_at_scale_a_stream_of_many_gib_completes_over_five_deliveries() {
    use s3_stream_testkit::synthetic_s3::{GeneratedObject, Operation, SyntheticS3Config};
    let size = scale_gib() << 30;
    let config = SyntheticS3Config::default().with_per_connection_rate(SCALE_PACE);
    let spec = GeneratedObject::new("source", "huge.bin", size, 26);
    let (s3, stored, function) = start_at_scale(config, spec, "stream").await;
    let started = std::time::Instant::now();
    let posts = deliver_at_scale(&function, &stored, scale_timeout()).await;
    let elapsed = started.elapsed();
    let last = posts.last().expect("a delivery");
    let copied = record(last);
    let peak_rss_kib = peak_rss_kib(&function);
    let stats = s3.stats();
    let written = s3.object("destination", "huge.bin");
    println!(
        "resume at scale: {} GiB in {} deliveries, {:.1} s, bytes served {} ({:.4}x size), \
         part uploads {}, peak rss {} MiB, attempts {}",
        scale_gib(),
        posts.len(),
        elapsed.as_secs_f64(),
        stats.bytes_served,
        stats.bytes_served as f64 / size as f64,
        stats.requests_of(Operation::UploadPart),
        peak_rss_kib / 1024,
        copied["attempts"]
    );
    assert_eq!(copied["outcome"], "copied", "{}", last.json());
    assert_eq!(copied["verified"], "source-crc64nvme", "{copied}");
    assert!(posts.len() >= 5, "{} deliveries", posts.len());
    let written = written.expect("the copy exists");
    assert_eq!(written.len, size);
    assert_eq!(
        written.crc64nvme, stored.crc64nvme,
        "the copy's crc64nvme is the source's"
    );
    assert_eq!(s3.open_uploads("destination"), 0);
    // Each stop may drop the parts in flight (4 pipes of one part each).
    let part_size = copied["partSize"].as_u64().unwrap_or(0);
    let allowance = (size as f64 * 1.02) as u64 + (posts.len() as u64 - 1) * 4 * part_size;
    assert!(
        stats.bytes_served <= allowance,
        "{} bytes read for {size}",
        stats.bytes_served
    );
    // The memory law at 512 MB: 64 MiB of buffers, the process's own ~15 MiB, and
    // the allocator's slack; far below the function's memory.
    assert!(peak_rss_kib < 256 * 1024, "peak rss {peak_rss_kib} KiB");
}

/// The server-side scale run's object: 2 TiB, repeating every 1 MiB (plus 3
/// bytes, so no part is the same as another), so the synthetic S3 checksums any
/// range in microseconds.
const SERVER_SCALE_SIZE: u64 = 2 << 40;
const SERVER_SCALE_PERIOD: u64 = (1 << 20) + 3;

/// What each `UploadPartCopy` takes in the server-side scale run: 16 in flight
/// move ~300 parts a second, ~1,600 an invocation.
const SERVER_SCALE_PART_DELAY: Duration = Duration::from_millis(50);

/// The server-side scale run's invocation: 6 s of copying.
const SERVER_SCALE_TIMEOUT: Duration = Duration::from_secs(8);

/// The server-side acceptance run at scale (`cargo test --release -- --ignored
/// resume_at_scale`): a 2 TiB object copied with `UploadPartCopy`, each part held
/// by the synthetic S3, over at least five deliveries.
#[tokio::test]
#[ignore = "minutes of copying: run in a release build"]
async fn resume_at_scale_a_server_side_copy_of_2_tib_completes_over_five_deliveries() {
    use s3_stream_testkit::synthetic_s3::{GeneratedObject, Operation, SyntheticS3Config};
    let size = SERVER_SCALE_SIZE;
    let config = SyntheticS3Config::default().with_part_copy_delay(SERVER_SCALE_PART_DELAY);
    let spec =
        GeneratedObject::new("source", "huge.bin", size, 27).with_period(SERVER_SCALE_PERIOD);
    let (s3, stored, function) = start_at_scale(config, spec, "server").await;
    let started = std::time::Instant::now();
    let posts = deliver_at_scale(&function, &stored, SERVER_SCALE_TIMEOUT).await;
    let elapsed = started.elapsed();
    let last = posts.last().expect("a delivery");
    let copied = record(last);
    let stats = s3.stats();
    println!(
        "server-side resume at scale: {} GiB in {} deliveries, {:.1} s, part copies {}, \
         part size {}, peak rss {} MiB, attempts {}",
        size >> 30,
        posts.len(),
        elapsed.as_secs_f64(),
        stats.requests_of(Operation::UploadPartCopy),
        copied["partSize"],
        peak_rss_kib(&function) / 1024,
        copied["attempts"]
    );
    assert_eq!(copied["outcome"], "copied", "{}", last.json());
    assert_eq!(copied["verified"], "source-crc64nvme", "{copied}");
    assert!(posts.len() >= 5, "{} deliveries", posts.len());
    let written = s3
        .object("destination", "huge.bin")
        .expect("the copy exists");
    assert_eq!(written.len, size);
    assert_eq!(
        written.crc64nvme, stored.crc64nvme,
        "the copy's crc64nvme is the source's"
    );
    assert_eq!(s3.open_uploads("destination"), 0);
    // Parts are copied again only when they were in flight at a stop.
    let parts = size.div_ceil(copied["partSize"].as_u64().unwrap_or(1));
    let in_flight = 16 * (posts.len() as u64 - 1);
    assert!(
        stats.requests_of(Operation::UploadPartCopy) <= parts + in_flight,
        "{} part copies for {parts} parts",
        stats.requests_of(Operation::UploadPartCopy)
    );
}

#[tokio::test]
async fn the_last_asynchronous_retry_aborts_and_answers_timeout() {
    let s = Stack::new("resume-capped").await;
    let data = common::bytes_of(SIZE, 31);
    let etag = put(&s, "big.bin", data).await;
    // Far too slow for three invocations; the default RESUME_MAX_ATTEMPTS.
    let slow = Duration::from_secs(3);
    let function = slowed(&s, S3Op::UploadPart, slow, &STREAMED[..3]).await;
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    let spec = InvocationSpec::new(event.to_string())
        .with_timeout(TIMEOUT)
        .asynchronous(AsyncRetries::after(2, Duration::from_millis(100)));
    let id = function.emulator.enqueue(spec);
    let last = function
        .emulator
        .wait_for_final_result(&id, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("no final result; logs:\n{}", function.logs()));
    let attempts = function.emulator.attempts(&id);
    let types: Vec<String> = attempts
        .iter()
        .map(|post| post.json()["errorType"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        types,
        ["Copy.Continue", "Copy.Continue", "Copy.Timeout"],
        "Lambda's first delivery and two retries, the default RESUME_MAX_ATTEMPTS"
    );
    assert_eq!(last.json()["errorType"], "Copy.Timeout");
    assert_eq!(
        s.open_uploads().await,
        0,
        "the last attempt aborted the upload"
    );
    assert_eq!(
        s.objects().await,
        0,
        "nothing was written, and the checkpoint is removed"
    );
}
