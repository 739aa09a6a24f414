//! s3-stream-lambda: an AWS Lambda function that streams S3 objects through a
//! transform into a bounded-memory multipart upload.
//!
//! # Layout
//!
//! - [`runtime`]: the hand-written Lambda Runtime API loop (`/next`, `/response`,
//!   `/error`, `/init/error`) on hyper, with the panic guard and the deadline signal.
//! - [`copy`] and [`transform`]: the streaming copy engine and its transforms,
//!   re-exported from the `s3-stream-engine` crate, which knows nothing of Lambda.
//! - [`s3`]: the S3 client from the AWS environment.
//! - [`regions`]: clients per region (the source's from its event, the
//!   destination's from `DST_REGION` or one `HeadBucket`).
//! - [`https`]: the SDK's HTTPS client with a compiled-in root store (the function's).
//! - [`event`]: the accepted event envelopes (S3, SQS, EventBridge, test event)
//!   and S3's key decoding.
//! - [`config`]: the environment, validated at start-up from one table of
//!   variables (`config::variables`).
//! - [`error_type`]: every `errorType` the function reports, as one enum.
//! - [`requester_pays`]: `REQUEST_PAYER=requester` on every S3 request.
//! - [`handler`]: the S3 event handler wiring events to copies and a report.
//! - [`logging`]: one line per event, JSON or text, as Lambda expects.
//! - [`allocator`]: large buffers are `mmap`ed and returned on free.
//! - [`function`]: the Lambda start-up (configuration, init error, loop).
//! - [`cli`]: the local commands `invoke` and `copy`.
//!
//! `src/main.rs` only calls [`cli::run`] (allocator, logging, tokio, then the
//! command). Test tools (the
//! Runtime API emulator, moto launcher, sample objects, local stack) live in
//! the `s3-stream-testkit` crate, which only tests and benches depend on.

pub use s3_stream_engine::{copy, transform};

pub mod allocator;
pub mod bench;
pub mod cli;
pub mod config;
pub mod error_type;
pub mod event;
pub mod function;
pub mod handler;
pub mod https;
pub mod logging;
pub mod metrics;
pub mod regions;
pub mod requester_pays;
pub mod runtime;
pub mod s3;
pub mod work_queue;

#[cfg(test)]
mod documentation {
    //! The README stays a first screen and a map: what it does and the two
    //! commands early, reference in `docs/`, every relative link alive.

    /// Longest README: the sections each new capability adds stay short and link onward.
    const README_MAX_LINES: usize = 300;

    /// Lines within which a newcomer finds what it does and the two commands.
    const FIRST_SCREEN_LINES: usize = 60;

    const README: &str = include_str!("../README.md");

    #[test]
    fn the_readme_is_short_and_starts_with_the_two_commands() {
        let lines: Vec<&str> = README.lines().collect();
        assert!(
            lines.len() < README_MAX_LINES,
            "README.md has {} lines: move reference material to docs/",
            lines.len()
        );
        let first_screen = lines[..FIRST_SCREEN_LINES.min(lines.len())].join("\n");
        for command in ["./local-stack.sh", "cargo test"] {
            assert!(
                first_screen.contains(&format!("\n{command}")),
                "{command} is not within the README's first {FIRST_SCREEN_LINES} lines"
            );
        }
    }

    #[test]
    fn every_relative_link_in_the_documentation_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![
            root.join("README.md"),
            root.join("ARCHITECTURE.md"),
            root.join("BENCHMARKS.md"),
            root.join("deploy/README.md"),
        ];
        for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
            files.push(entry.expect("a docs/ entry").path());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a documentation file");
            let dir = file.parent().expect("a parent directory");
            for target in text
                .split("](")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
            {
                if target.contains("://") || target.starts_with('#') {
                    continue;
                }
                let path = target.split('#').next().unwrap_or(target);
                assert!(
                    dir.join(path).exists(),
                    "{} links to {target}, which does not exist",
                    file.display()
                );
            }
        }
    }
}
