#!/usr/bin/env bash
# One command, no AWS account, no Docker: a local S3 (moto_server) and the
# Runtime API emulator on loopback, the real release `bootstrap` copying a
# multipart object through its runtime loop. Flags: --size-mib N (default 64),
# --memory-mib N. moto is installed into the test kit's virtual environment
# under the target directory (created on first use), never into the system
# Python, so this works where pip refuses system installs (PEP 668).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "local-stack: cargo is needed (https://rustup.rs)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "local-stack: python3 is needed (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
fi
cargo build --release --locked -p s3-stream-lambda --bin bootstrap -p s3-stream-testkit --bin local_stack
target="${CARGO_TARGET_DIR:-$PWD/target}"
exec "$target/release/local_stack" "$@"
