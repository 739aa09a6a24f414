//! At the deadline, through the real `bootstrap` and the emulator: S3 holds the
//! copy's CompleteMultipartUpload for 60 s (fault proxy), the invocation has 12 s
//! and the copy cannot resume. The abort's response reaches the proxy before the error post, the post
//! comes before the deadline, and no multipart upload is left open.

use crate::common::{self, Stack};
use s3_stream_testkit::emulator::{InvocationSpec, PostKind};
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op};
use std::time::{Duration, Instant};

/// The invocation's time limit.
const TIMEOUT: Duration = Duration::from_secs(12);

/// How long S3 "takes" to complete: far beyond the deadline.
const HELD: Duration = Duration::from_secs(60);

/// Three 5 MiB parts and a tail: a multipart copy.
const SIZE: usize = 3 * 5 * 1024 * 1024 + 1_000;

#[tokio::test]
async fn a_held_completion_is_aborted_and_posted_before_the_deadline() {
    let s = Stack::new("deadline").await;
    let etag = s.put("held.bin", common::bytes_of(SIZE, 3)).await;
    // Held before it reaches S3: the upload stays open until it is aborted.
    s.proxy.add_rule(Rule::new(
        Matcher::s3(S3Op::CompleteMultipartUpload),
        Fault::Delay(HELD),
    ));
    let function = s
        .start_function_through_proxy(&[
            ("DST_BUCKET", &s.destination),
            ("PART_SIZE_MIB", "5"),
            ("COPY_MODE", "stream"),
            // Its only attempt is its last: the deadline aborts (resume.rs has
            // the attempts that keep their upload for the next delivery).
            ("RESUME_MAX_ATTEMPTS", "1"),
        ])
        .await;
    let event = common::function::s3_event(&[(&s.source, "held.bin", SIZE, &etag)]);
    let delivered = Instant::now();
    let post = function
        .invoke_spec(InvocationSpec::new(event.to_string()).with_timeout(TIMEOUT))
        .await;

    assert_eq!(post.kind, PostKind::Error, "{}", post.json());
    assert_eq!(post.json()["errorType"], "Copy.Timeout", "{}", post.json());
    assert!(
        post.received_at < delivered + TIMEOUT,
        "posted {:?} after delivery, past the {TIMEOUT:?} deadline",
        post.received_at - delivered
    );
    let log = s.proxy.log();
    let abort = log
        .iter()
        .find(|exchange| exchange.op == S3Op::AbortMultipartUpload)
        .unwrap_or_else(|| panic!("no abort reached s3; log: {log:#?}"));
    assert_eq!(abort.status.map(|s| s.as_u16()), Some(204), "{abort:?}");
    let aborted = abort.responded_at.expect("the abort was answered");
    assert!(
        aborted <= post.received_at,
        "the abort's response came {:?} after the error post",
        aborted - post.received_at
    );
    assert_eq!(s.open_uploads().await, 0);
}
