//! A destination in another region: found with one `HeadBucket` on first use (or named by
//! `DST_REGION`) and copied to, server-side and streamed. The fault proxy answers what S3
//! answers a request signed for the wrong region (a 301 naming the bucket's region), since
//! moto serves every region from one endpoint.

mod common;

use common::function::{self, s3_event};
use http::StatusCode;
use s3_stream_testkit::emulator::PostKind;
use s3_stream_testkit::fault_proxy::{Fault, FaultProxy, Matcher, Rule, S3Op};

/// The destination bucket's region in these tests (the function's is us-east-1).
const FAR_REGION: &str = "eu-west-1";

async fn copy_across_regions(test: &str, extra_env: &[(&str, &str)]) -> (FaultProxy, String) {
    let client = common::client().await;
    let source = common::create_bucket(&client, &format!("{test}-src")).await;
    let destination = common::create_bucket(&client, &format!("{test}-dst")).await;
    let data = common::bytes_of(6 << 20, 3);
    let etag = common::put(&client, &source, "big.bin", data.clone()).await;
    let proxy = FaultProxy::start_url(common::endpoint())
        .await
        .expect("start the fault proxy");
    // S3 serves the destination only from its region.
    proxy.add_rule(Rule::new(
        Matcher::any()
            .path_contains(format!("/{destination}"))
            .signed_outside(FAR_REGION),
        Fault::wrong_region(FAR_REGION),
    ));
    let endpoint = proxy.endpoint();
    let mut env = vec![
        ("DST_BUCKET", destination.as_str()),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("PART_SIZE_MIB", "5"),
        ("PART_COPY_SIZE_MIB", "5"),
    ];
    env.extend_from_slice(extra_env);
    let f = function::start(&env).await;
    for round in 0..2 {
        let post = f
            .invoke(s3_event(&[(&source, "big.bin", data.len(), &etag)]))
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
    let copied = common::get(&client, &destination, "big.bin").await;
    assert_eq!(common::sha256(&copied), common::sha256(&data));
    assert_eq!(common::incomplete_uploads(&client, &destination).await, 0);
    (proxy, destination)
}

fn redirects(proxy: &FaultProxy) -> Vec<S3Op> {
    proxy
        .log()
        .iter()
        .filter(|e| e.status == Some(StatusCode::MOVED_PERMANENTLY))
        .map(|e| e.op)
        .collect()
}

#[tokio::test]
async fn a_destination_in_another_region_is_found_once_and_copied_to_server_side() {
    let (proxy, _) = copy_across_regions("region-server", &[]).await;
    assert_eq!(
        redirects(&proxy),
        vec![S3Op::HeadBucket],
        "one HeadBucket learns the region, for both invocations"
    );
    assert!(proxy.log().iter().any(|e| e.op == S3Op::UploadPartCopy));
}

#[tokio::test]
async fn a_destination_in_another_region_is_found_and_streamed_to() {
    let (proxy, _) = copy_across_regions("region-stream", &[("COPY_MODE", "stream")]).await;
    assert_eq!(redirects(&proxy), vec![S3Op::HeadBucket]);
    assert!(proxy.log().iter().any(|e| e.op == S3Op::UploadPart));
}

#[tokio::test]
async fn dst_region_names_the_region_without_asking() {
    let (proxy, _) = copy_across_regions("region-named", &[("DST_REGION", FAR_REGION)]).await;
    assert!(redirects(&proxy).is_empty());
    assert!(!proxy.log().iter().any(|e| e.op == S3Op::HeadBucket));
}
