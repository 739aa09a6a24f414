#!/usr/bin/env bash
# One command, no AWS account, no Docker: a local S3 (moto_server) and the
# Runtime API emulator on loopback, the real `bootstrap` copying a multipart
# object through its runtime loop. Flags: --size-mib N (default 64), --memory-mib N.
set -euo pipefail
cd "$(dirname "$0")"

if ! python3 -c 'import moto, awscrt; from importlib.metadata import version; v=tuple(int(x) for x in version("moto").split(".")[:3]); raise SystemExit(v < (5, 2, 5))' 2>/dev/null; then
  echo "installing moto[server]>=5.2.5 and awscrt from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5.2.5' awscrt
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "local-stack: cargo is needed (https://rustup.rs)" >&2
  exit 1
fi
cargo build --release --locked --bin bootstrap --bin local_stack
target="${CARGO_TARGET_DIR:-$PWD/target}"
exec "$target/release/local_stack" "$@"
