//! Fan-out end to end: an S3 notification for an object above the threshold splits
//! its copy into segments on a work queue on moto's SQS; the test kit's
//! event-source-mapping stand-in feeds several sandboxes of the real `bootstrap`
//! from that queue at once, and the segment that finds every part completes the
//! copy: one verified object, one successful completion, nothing left open.

use super::resume::{assert_same_crc64nvme, checkpoints, put, record};
use crate::common::function::{Function, s3_event};
use crate::common::queues::Queues;
use crate::common::{self, Stack};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind, RuntimeApiEmulator};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op, Times};
use std::time::Duration;

/// Sixteen parts of 5 MiB: four segments of four.
const PARTS: usize = 16;
const SIZE: usize = PARTS * 5 * 1024 * 1024;
const SEGMENT_PARTS: &str = "4";

/// Each invocation's time limit.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The work queue's visibility timeout: beyond the function's timeout.
const VISIBILITY_TIMEOUT_SECONDS: u32 = 12;

/// Receives of one segment's message before the work queue gives it up.
const MAX_RECEIVE_COUNT: u32 = 2;

/// Longest the test waits for the queue to drain.
const PATIENCE: Duration = Duration::from_secs(120);

/// Sandboxes the queue feeds at once.
const SANDBOXES: usize = 4;

const _: () = assert!(VISIBILITY_TIMEOUT_SECONDS as u64 >= TIMEOUT.as_secs());

/// The stack, its queue, `big.bin` in the source and the sandboxes.
struct Setup {
    s: Stack,
    q: Queues,
    sandboxes: Vec<Function>,
    data: Vec<u8>,
    event: serde_json::Value,
}

/// `mode` is `COPY_MODE` (`server`, or `stream` for piped parts).
async fn setup(test: &str, seed: u64, mode: &str) -> Setup {
    let s = Stack::new(test).await;
    let q = Queues::new(test, VISIBILITY_TIMEOUT_SECONDS, MAX_RECEIVE_COUNT).await;
    let data = common::bytes_of(SIZE, seed);
    let etag = put(&s, "big.bin", data.clone()).await;
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("COPY_MODE", mode),
        ("PART_SIZE_MIB", "5"),
        ("PART_COPY_SIZE_MIB", "5"),
        ("PART_COPY_CONCURRENCY", "2"),
        ("UPLOAD_CONCURRENCY", "2"),
        ("RESUME_MAX_ATTEMPTS", "30"),
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
        ("FAN_OUT_THRESHOLD_MIB", "10"),
        ("FAN_OUT_SEGMENT_PARTS", SEGMENT_PARTS),
    ];
    let mut sandboxes = Vec::new();
    for _ in 0..SANDBOXES {
        sandboxes.push(s.start_function_through_proxy(&env).await);
    }
    let event = s3_event(&[(&s.source, "big.bin", SIZE, &etag)]);
    Setup {
        s,
        q,
        sandboxes,
        data,
        event,
    }
}

impl Setup {
    /// The notification, delivered to the first sandbox: the split's record.
    async fn split(&self) -> serde_json::Value {
        let post = self.sandboxes[0]
            .invoke_spec(InvocationSpec::new(self.event.to_string()).with_timeout(TIMEOUT))
            .await;
        assert_eq!(post.kind, PostKind::Response, "{}", post.json());
        let split = record(&post);
        assert_eq!(split["outcome"], "split", "{split}");
        assert_eq!(split["segments"], 4, "{split}");
        split
    }

    /// Drains the queue with every sandbox at once.
    async fn drain(&self) -> s3_stream_testkit::event_source_mapping::Drained {
        let emulators: Vec<&RuntimeApiEmulator> =
            self.sandboxes.iter().map(|f| &f.emulator).collect();
        self.q
            .mapping(1, TIMEOUT)
            .drain_concurrently(&emulators, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    fn logs(&self) -> String {
        self.sandboxes
            .iter()
            .map(Function::logs)
            .collect::<Vec<_>>()
            .join("\n----\n")
    }

    /// Every record the sandboxes answered, in no particular order.
    fn records(&self) -> Vec<serde_json::Value> {
        self.sandboxes
            .iter()
            .flat_map(|f| f.emulator.posts())
            .filter(|post| post.kind == PostKind::Response)
            .flat_map(|post| {
                post.json()["records"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Completions S3 carried out (answered 200).
    fn completions(&self) -> usize {
        self.s
            .proxy
            .log()
            .iter()
            .filter(|e| {
                e.op == S3Op::CompleteMultipartUpload && e.status == Some(http::StatusCode::OK)
            })
            .count()
    }

    /// The copy is the source, verified, complete once, nothing left.
    async fn assert_one_verified_object(&self) {
        assert_eq!(
            self.s.get("big.bin").await,
            self.data,
            "the copy is the source"
        );
        assert_same_crc64nvme(&self.s, "big.bin").await;
        assert_eq!(self.completions(), 1, "one completion\n{}", self.logs());
        assert_eq!(self.s.open_uploads().await, 0, "no upload left open");
        assert_eq!(checkpoints(&self.s).await, 0, "the checkpoint is removed");
        let copied: Vec<_> = self
            .records()
            .into_iter()
            .filter(|r| r["outcome"] == "copied")
            .collect();
        assert_eq!(
            copied.len(),
            1,
            "one segment completed the copy: {copied:?}"
        );
        assert_eq!(copied[0]["verified"], "source-crc64nvme", "{}", copied[0]);
    }
}

#[tokio::test]
async fn a_server_side_copy_fans_out_over_sandboxes_and_completes_once() {
    let setup = setup("fan-out-server", 40, "server").await;
    let split = setup.split().await;
    assert!(
        split["uploadId"].as_str().is_some_and(|id| !id.is_empty()),
        "{split}"
    );
    // The notification delivered again: the same upload, its segments sent again.
    let again = setup.split().await;
    assert_eq!(again["uploadId"], split["uploadId"], "{again}");
    let drained = setup.drain().await;
    println!("fan-out: {drained:?}");
    assert_eq!(drained.received, 8, "every segment twice: {drained:?}");
    assert_eq!(drained.errors, 0, "{drained:?}");
    assert!(
        drained.per_sandbox.iter().filter(|n| **n > 0).count() >= 2,
        "segments ran in several sandboxes: {drained:?}"
    );
    setup.assert_one_verified_object().await;
    // A segment and its duplicate may run side by side: at most twice.
    assert!(
        setup.s.ops(S3Op::UploadPartCopy) <= 2 * PARTS,
        "{} part copies",
        setup.s.ops(S3Op::UploadPartCopy)
    );
    assert_eq!(
        setup.q.dead_letters().await,
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test]
async fn a_streamed_copy_fans_out_and_duplicate_segments_change_nothing() {
    let setup = setup("fan-out-stream", 41, "stream").await;
    let split = setup.split().await;
    // Every segment sent a second time: a redelivery, a split retried.
    let upload_id = split["uploadId"].as_str().expect("an upload id").to_owned();
    for first in (1..=PARTS).step_by(4) {
        let range = format!("{first}-{}", first + 3);
        let text = |value: &str| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("an attribute")
        };
        setup
            .q
            .sqs
            .send_message()
            .queue_url(&setup.q.url)
            .message_body(setup.event.to_string())
            .message_attributes(
                s3_stream_lambda::work_queue::UPLOAD_ATTRIBUTE,
                text(&upload_id),
            )
            .message_attributes(
                s3_stream_lambda::work_queue::SEGMENT_ATTRIBUTE,
                text(&range),
            )
            .send()
            .await
            .expect("send a duplicate segment");
    }
    let drained = setup.drain().await;
    println!("fan-out with duplicates: {drained:?}");
    assert_eq!(drained.received, 8, "{drained:?}\n{}", setup.logs());
    assert_eq!(drained.errors, 0, "{drained:?}");
    setup.assert_one_verified_object().await;
    assert!(
        setup.s.ops(S3Op::UploadPart) <= 2 * PARTS,
        "{} part uploads",
        setup.s.ops(S3Op::UploadPart)
    );
}

#[tokio::test]
async fn a_segment_that_fails_for_good_aborts_the_copy_and_its_message_is_dead_lettered() {
    let setup = setup("fan-out-fails", 42, "server").await;
    let split = setup.split().await;
    // The seventh part's copy is refused for good (access denied), every time.
    setup.s.proxy.add_rule(
        Rule::new(
            Matcher::s3(S3Op::UploadPartCopy).query_value("partNumber", "7"),
            Fault::s3_error(http::StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
        )
        .times(Times::Always),
    );
    let drained = setup.drain().await;
    println!("fan-out with a failing segment: {drained:?}");
    // The failing segment's message failed twice and went to the
    // dead-letter queue; the aborted upload fails the segments still
    // copying too (one done before the abort succeeds).
    assert!(drained.deleted < drained.received, "{drained:?}");
    assert_eq!(setup.s.open_uploads().await, 0, "the upload is aborted");
    assert_eq!(setup.completions(), 0, "nothing completed");
    assert_eq!(setup.s.objects().await, 0, "nothing written");
    let dead = setup
        .q
        .sqs
        .receive_message()
        .queue_url(&setup.q.dlq_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive the dead letters");
    let attribute = |m: &aws_sdk_sqs::types::Message, name: &str| {
        m.message_attributes()
            .and_then(|attributes| attributes.get(name)?.string_value())
            .map(str::to_owned)
    };
    let segments: Vec<String> = dead
        .messages()
        .iter()
        .filter_map(|m| attribute(m, s3_stream_lambda::work_queue::SEGMENT_ATTRIBUTE))
        .collect();
    assert!(
        segments.iter().any(|s| s == "5-8"),
        "the failing segment is dead-lettered: {segments:?}"
    );
    let upload_ids: Vec<String> = dead
        .messages()
        .iter()
        .filter_map(|m| attribute(m, s3_stream_lambda::work_queue::UPLOAD_ATTRIBUTE))
        .collect();
    assert!(
        upload_ids
            .iter()
            .all(|id| Some(id.as_str()) == split["uploadId"].as_str()),
        "{upload_ids:?} vs {split}"
    );
}

#[tokio::test]
async fn a_sandbox_killed_mid_segment_leaves_one_verified_object() {
    let setup = setup("fan-out-killed", 43, "server").await;
    // Part copies take a while: the victim is killed with some in flight.
    setup.s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::UploadPartCopy),
        Fault::Delay(Duration::from_millis(700)),
    ));
    setup.split().await;
    let victim = &setup.sandboxes[SANDBOXES - 1];
    let mapping = setup.q.mapping(1, TIMEOUT);
    let started = mapping
        .abandon_once(&victim.emulator)
        .await
        .expect("receive a segment");
    assert!(started.is_some(), "a segment to start");
    setup.s.wait_for(S3Op::UploadPartCopy, 1, PATIENCE).await;
    // Lambda loses the sandbox: its message comes back after the visibility timeout.
    kill(victim);
    let survivors: Vec<&RuntimeApiEmulator> = setup.sandboxes[..SANDBOXES - 1]
        .iter()
        .map(|f| &f.emulator)
        .collect();
    let drained = mapping
        .drain_concurrently(&survivors, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", setup.logs()));
    println!("fan-out with a sandbox killed: {drained:?}");
    assert_eq!(drained.errors, 0, "{drained:?}");
    assert_eq!(
        drained.received, 4,
        "three segments, and the lost one again: {drained:?}"
    );
    setup.assert_one_verified_object().await;
    assert!(
        setup.s.ops(S3Op::UploadPartCopy) <= PARTS + 4,
        "at most the lost segment's parts twice: {}",
        setup.s.ops(S3Op::UploadPartCopy)
    );
    assert_eq!(
        setup.q.dead_letters().await,
        Vec::<serde_json::Value>::new()
    );
}

/// Kills `function`'s process, as Lambda does to a sandbox it loses.
fn kill(function: &Function) {
    let pid = function.child.id();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// The speed-up run's object: 1 TiB, repeating every 1 MiB plus 3 bytes
/// (the synthetic S3 checksums any range of it in microseconds).
const SPEEDUP_SIZE: u64 = 1 << 40;
const SPEEDUP_PERIOD: u64 = (1 << 20) + 3;

/// What each `UploadPartCopy` takes in the speed-up run: 16 in flight move
/// 160 parts a second in one sandbox.
const SPEEDUP_PART_DELAY: Duration = Duration::from_millis(100);

/// The speed-up run's invocations: one sandbox needs a few, handed off.
const SPEEDUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sandboxes of the fanned-out side of the speed-up run, and its segments
/// (one a sandbox: 1,250 of the 10,000 parts).
const SPEEDUP_SANDBOXES: usize = 8;
const SPEEDUP_SEGMENT_PARTS: &str = "1250";

/// One timed copy of the speed-up run: the synthetic S3 with the 1 TiB
/// object, a work queue on moto, `sandboxes` of the function fed by it
/// (fanning out when `fan_out`), the notification delivered to the first;
/// the seconds until the queue drained.
async fn speedup_copy(run: usize, sandboxes: usize, fan_out: bool) -> f64 {
    use s3_stream_testkit::synthetic_s3::{
        GeneratedObject, Operation, SyntheticS3, SyntheticS3Config,
    };
    let s3 =
        SyntheticS3::start(SyntheticS3Config::default().with_part_copy_delay(SPEEDUP_PART_DELAY))
            .await
            .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut spec =
        GeneratedObject::new("source", "huge.bin", SPEEDUP_SIZE, 44).with_period(SPEEDUP_PERIOD);
    spec.crc64nvme = true;
    let stored = s3.add_generated(spec);
    let name = format!("fan-out-speedup-{run}-{sandboxes}");
    let q = Queues::new(&name, SPEEDUP_TIMEOUT.as_secs() as u32 + 5, 3).await;
    let endpoint = s3.endpoint();
    let mut env = vec![
        ("DST_BUCKET", "destination"),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
        ("COPY_MODE", "server"),
        ("RESUME_MAX_ATTEMPTS", "100"),
        ("WORK_QUEUE_URL", q.url.as_str()),
    ];
    if fan_out {
        env.extend([
            ("FAN_OUT_THRESHOLD_MIB", "1024"),
            ("FAN_OUT_SEGMENT_PARTS", SPEEDUP_SEGMENT_PARTS),
        ]);
    }
    let mut functions = Vec::new();
    for _ in 0..sandboxes {
        functions.push(crate::common::function::start(&env).await);
    }
    let event = s3_event(&[("source", "huge.bin", SPEEDUP_SIZE as usize, &stored.etag)]);
    let started = std::time::Instant::now();
    let post = functions[0]
        .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(SPEEDUP_TIMEOUT))
        .await;
    assert_eq!(post.kind, PostKind::Response, "{}", post.json());
    let emulators: Vec<&RuntimeApiEmulator> = functions.iter().map(|f| &f.emulator).collect();
    // The copy's time is until the object exists; the stand-in's pollers
    // then still wait out their long polls before the queue counts drained.
    let mapping = q.mapping(1, SPEEDUP_TIMEOUT);
    let draining = mapping.drain_concurrently(&emulators, Duration::from_secs(1800));
    let landed = async {
        while s3.object("destination", "huge.bin").is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed().as_secs_f64()
    };
    let (drained, seconds) = tokio::join!(draining, landed);
    let drained = drained.expect("the queue drains");
    let written = s3
        .object("destination", "huge.bin")
        .expect("the copy exists");
    assert_eq!(
        written.crc64nvme, stored.crc64nvme,
        "the copy's crc64nvme is the source's"
    );
    assert_eq!(s3.open_uploads("destination"), 0);
    let stats = s3.stats();
    assert_eq!(
        stats.requests_of(Operation::CompleteMultipartUpload),
        1,
        "one completion"
    );
    println!(
        "speed-up run {run}: {sandboxes} sandbox(es), fan-out {fan_out}: {seconds:.1} s, \
         {} invocations after the first, per sandbox {:?}, part copies {}",
        drained.invocations,
        drained.per_sandbox,
        stats.requests_of(Operation::UploadPartCopy)
    );
    seconds
}

/// The fan-out speed-up (`cargo test --release -- --ignored fan_out_at_scale`):
/// a 1 TiB server-side copy with each part copy held, 8 sandboxes fanning out
/// against 1 resuming alone through the work queue, interleaved, three times.
#[tokio::test]
#[ignore = "minutes of copying: run in a release build"]
async fn fan_out_at_scale_eight_sandboxes_copy_a_tib_five_times_faster_than_one() {
    let (mut alone, mut fanned) = (Vec::new(), Vec::new());
    for run in 0..3 {
        alone.push(speedup_copy(run, 1, false).await);
        fanned.push(speedup_copy(run, SPEEDUP_SANDBOXES, true).await);
    }
    let median = |runs: &mut Vec<f64>| {
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    };
    let (alone, fanned) = (median(&mut alone), median(&mut fanned));
    println!(
        "fan-out speed-up: 1 sandbox {alone:.1} s, {SPEEDUP_SANDBOXES} sandboxes {fanned:.1} s: {:.2}x (medians of 3)",
        alone / fanned
    );
    assert!(alone / fanned >= 5.0, "{alone:.1} s vs {fanned:.1} s");
}

/// The streamed run's object and pace: 16 GiB, each connection to the
/// synthetic S3 at 50 MB/s.
const STREAMED_SCALE_SIZE: u64 = 16 << 30;
const STREAMED_SCALE_PACE: u64 = 50_000_000;

/// The streamed fan-out at scale (`cargo test --release -- --ignored
/// fan_out_at_scale`): 16 GiB streamed by 8 sandboxes from moto's SQS, paced
/// per connection: one verified object.
#[tokio::test]
#[ignore = "minutes of copying: run in a release build"]
async fn fan_out_at_scale_a_16_gib_stream_over_eight_sandboxes_is_one_verified_object() {
    use s3_stream_testkit::synthetic_s3::{
        GeneratedObject, Operation, SyntheticS3, SyntheticS3Config,
    };
    let s3 = SyntheticS3::start(
        SyntheticS3Config::default().with_per_connection_rate(STREAMED_SCALE_PACE),
    )
    .await
    .expect("synthetic s3 starts");
    s3.create_bucket("destination");
    let mut spec = GeneratedObject::new("source", "huge.bin", STREAMED_SCALE_SIZE, 45);
    spec.crc64nvme = true;
    let stored = s3.add_generated(spec);
    let q = Queues::new("fan-out-streamed-scale", 65, 3).await;
    let endpoint = s3.endpoint();
    let env = [
        ("DST_BUCKET", "destination"),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_SQS", common::endpoint()),
        ("COPY_MODE", "stream"),
        ("RESUME_MAX_ATTEMPTS", "100"),
        ("WORK_QUEUE_URL", q.url.as_str()),
        ("FAN_OUT_THRESHOLD_MIB", "1024"),
    ];
    let timeout = Duration::from_secs(60);
    let mut functions = Vec::new();
    for _ in 0..8 {
        functions.push(crate::common::function::start(&env).await);
    }
    let event = s3_event(&[(
        "source",
        "huge.bin",
        STREAMED_SCALE_SIZE as usize,
        &stored.etag,
    )]);
    let started = std::time::Instant::now();
    let post = functions[0]
        .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(timeout))
        .await;
    let split = record(&post);
    assert_eq!(split["outcome"], "split", "{}", post.json());
    let emulators: Vec<&RuntimeApiEmulator> = functions.iter().map(|f| &f.emulator).collect();
    let drained = q
        .mapping(1, timeout)
        .drain_concurrently(&emulators, Duration::from_secs(1800))
        .await
        .expect("the queue drains");
    let seconds = started.elapsed().as_secs_f64();
    let written = s3
        .object("destination", "huge.bin")
        .expect("the copy exists");
    let stats = s3.stats();
    println!(
        "streamed fan-out at scale: 16 GiB in {seconds:.1} s over {} segments, {} invocations, \
         per sandbox {:?}, bytes served {:.4}x, part uploads {}",
        split["segments"],
        drained.invocations,
        drained.per_sandbox,
        stats.bytes_served as f64 / STREAMED_SCALE_SIZE as f64,
        stats.requests_of(Operation::UploadPart)
    );
    assert_eq!(written.len, STREAMED_SCALE_SIZE);
    assert_eq!(
        written.crc64nvme, stored.crc64nvme,
        "the copy's crc64nvme is the source's"
    );
    assert_eq!(s3.open_uploads("destination"), 0);
    assert_eq!(stats.requests_of(Operation::CompleteMultipartUpload), 1);
    assert_eq!(drained.errors, 0, "{drained:?}");
}
