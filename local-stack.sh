#!/usr/bin/env bash
# One command, no AWS account, no Docker: a local S3 (moto_server) and the
# Runtime API emulator on loopback, the real release `bootstrap` copying a
# multipart object through its runtime loop. Flags: --size-mib N (default 64),
# --memory-mib N. moto is installed into the test kit's virtual environment
# under the target directory (created on first use), never into the system
# Python, so this works where pip refuses system installs (PEP 668).
# LOCAL_STACK_PROFILE=dev runs the debug build instead of release (CI does,
# reusing what `cargo test` built; throughput is then not representative).
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
profile="${LOCAL_STACK_PROFILE:-release}"
extra=()
case "$profile" in
  release) directory=release ;;
  # With the examples, dependencies resolve with dev-dependency features as
  # under `cargo test`, so its debug build is reused instead of rebuilt.
  dev) directory=debug; extra=(--examples) ;;
  *) echo "local-stack: LOCAL_STACK_PROFILE must be release or dev, got $profile" >&2; exit 1 ;;
esac
cargo build --profile "$profile" --locked -p s3-stream-lambda --bin bootstrap -p s3-stream-testkit --bin local_stack "${extra[@]}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
exec "$target/$directory/local_stack" "$@"
