//! A destination in another region: found with one `HeadBucket` on first use (or named by
//! `DST_REGION`) and copied to, server-side and streamed. The fault proxy answers what S3
//! answers a request signed for the wrong region (a 301 naming the bucket's region), since
//! moto serves every region from one endpoint.

use crate::common::function::{Env, s3_event};
use crate::common::{self, Stack};
use http::StatusCode;
use s3_stream_testkit::emulator::PostKind;
use s3_stream_testkit::fault_proxy::{Fault, Matcher, Rule, S3Op};

/// The destination bucket's region in these tests (the function's is us-east-1).
const FAR_REGION: &str = "eu-west-1";

/// Copies a 6 MiB object into a bucket of [`FAR_REGION`] twice with a
/// `bootstrap` given `extra_env`; returns the stack, its proxy's log holding
/// every request.
async fn copy_across_regions(test: &str, extra_env: &[(&str, &str)]) -> Stack {
    let s = Stack::new(test).await;
    let data = common::bytes_of(6 << 20, 3);
    let etag = s.put("big.bin", data.clone()).await;
    // S3 serves the destination only from its region.
    s.proxy.add_rule(Rule::new(
        Matcher::any()
            .path_contains(format!("/{}", s.destination))
            .signed_outside(FAR_REGION),
        Fault::wrong_region(FAR_REGION),
    ));
    let env = [
        ("DST_BUCKET", s.destination.as_str()),
        ("PART_SIZE_MIB", "5"),
        ("PART_COPY_SIZE_MIB", "5"),
    ];
    let f = s
        .start_function_through_proxy(&[&env[..], extra_env].concat())
        .await;
    for round in 0..2 {
        let post = f
            .invoke(s3_event(&[(&s.source, "big.bin", data.len(), &etag)]))
            .await;
        assert_eq!(
            post.kind,
            PostKind::Response,
            "round {round}: {}\n{}",
            post.json(),
            f.logs()
        );
        // The repeated event finds its own copy there: newest wins.
        let expected = if round == 0 { "copied" } else { "superseded" };
        assert_eq!(post.json()["summary"][expected], 1, "{}", post.json());
    }
    let copied = s.get("big.bin").await;
    assert_eq!(common::sha256(&copied), common::sha256(&data));
    assert_eq!(s.open_uploads().await, 0);
    s
}

fn redirects(s: &Stack) -> Vec<S3Op> {
    s.proxy
        .log()
        .iter()
        .filter(|e| e.status == Some(StatusCode::MOVED_PERMANENTLY))
        .map(|e| e.op)
        .collect()
}

/// Found with one `HeadBucket` (for both invocations) and copied to
/// server-side or streamed; or named by `DST_REGION`, without asking.
#[tokio::test]
async fn a_destination_in_another_region_is_found_once_and_copied_to() {
    // (row, extra environment, the requests answered with a redirect, a
    // request of the copy, whether the copy makes it)
    let cases: [(&str, Env, &[S3Op], S3Op, bool); 3] = [
        (
            "server-side",
            &[],
            &[S3Op::HeadBucket],
            S3Op::UploadPartCopy,
            true,
        ),
        (
            "streamed",
            &[("COPY_MODE", "stream")],
            &[S3Op::HeadBucket],
            S3Op::UploadPart,
            true,
        ),
        (
            "dst-region",
            &[("DST_REGION", FAR_REGION)],
            &[],
            S3Op::HeadBucket,
            false,
        ),
    ];
    for (row, extra_env, redirected, op, made) in cases {
        let s = copy_across_regions(&format!("region-{row}"), extra_env).await;
        assert_eq!(redirects(&s), redirected, "{row}");
        assert_eq!(s.ops(op) > 0, made, "{row}: {op:?}");
    }
}
