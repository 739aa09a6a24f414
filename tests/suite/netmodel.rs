//! The test kit's network model: a copy run in one namespace reaches the synthetic S3 bound in the other, and dropping the model removes both namespaces.

use s3_stream_testkit::local_s3;
use s3_stream_testkit::netmodel::{NetModel, NetModelError};
use s3_stream_testkit::synthetic_s3::{SyntheticS3, SyntheticS3Config};
use std::process::Command;

/// Each direction of the test link: fast enough that the copy takes well
/// under a second, slow enough that `tbf` is in the path.
const LINK_RATE: u64 = 200_000_000;

fn namespaces() -> String {
    let output = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_crosses_the_modeled_link_and_the_model_cleans_up() {
    let model = match NetModel::create(LINK_RATE, LINK_RATE) {
        Ok(model) => model,
        Err(error @ (NetModelError::NotRoot(_) | NetModelError::NoIproute(_))) => {
            println!("skipped: {error}");
            return;
        }
        Err(error) => panic!("the model builds: {error}"),
    };
    let pid = std::process::id();
    assert!(namespaces().contains(&format!("s3sl-copy-{pid}")));
    let listener = model.bind_s3().expect("binds inside the s3 namespace");
    assert_eq!(
        listener.local_addr().expect("bound").ip(),
        std::net::IpAddr::V4(model.s3_ip())
    );
    let s3 = SyntheticS3::start_on_std(listener, SyntheticS3Config::default()).expect("serves");
    s3.create_bucket("destination");
    s3.add_generated_object("source", "object.bin", 6 * 1024 * 1024, 3);
    let mut command = model.copy_command(env!("CARGO_BIN_EXE_bootstrap"));
    command.env_clear().env("COPY_MODE", "stream").args([
        "copy",
        "s3://source/object.bin",
        "s3://destination/object.bin",
    ]);
    for (name, value) in local_s3::child_env(&s3.endpoint()) {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("ip netns exec runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let copied = s3.object("destination", "object.bin").expect("copied");
    assert_eq!(copied.len, 6 * 1024 * 1024);
    drop(s3);
    drop(model);
    assert!(!namespaces().contains(&format!("s3sl-copy-{pid}")));
    assert!(!namespaces().contains(&format!("s3sl-s3-{pid}")));
}
