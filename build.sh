#!/usr/bin/env bash
# Builds the Lambda package: lambda.zip with `bootstrap` at its root, linked
# against glibc 2.34 (Amazon Linux 2023) and verified, zipped reproducibly.
#   ./build.sh                 x86_64 (and arm64 when that Rust target is installed)
#   ARCHS="x86_64" ./build.sh  only the named architectures (x86_64, arm64)
#   EXAMPLE=uniform_requests ./build.sh
#                              a bootstrap of your own (examples/NAME.rs, with
#                              your transforms registered) instead of the product's
set -euo pipefail
cd "$(dirname "$0")"

# The newest glibc the binary may need: Amazon Linux 2023's.
GLIBC_MAX=2.34
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

ensure_zigbuild() {
  if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -c 'import ziglang' >/dev/null 2>&1; then
    echo "installing cargo-zigbuild and ziglang from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check cargo-zigbuild ziglang
  fi
}

rust_target() {
  case "$1" in
    x86_64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    *) echo "unknown architecture $1" >&2; exit 2 ;;
  esac
}

default_archs() {
  local archs=x86_64
  if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    archs="$archs arm64"
  fi
  echo "$archs"
}

check_glibc() {
  local binary=$1 newest
  newest=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
  if [ -n "$newest" ] && [ "$(printf '%s\n%s\n' "$newest" "$GLIBC_MAX" | sort -V | tail -n 1)" != "$GLIBC_MAX" ]; then
    echo "error: $binary needs GLIBC_$newest, newer than Amazon Linux 2023's $GLIBC_MAX" >&2
    exit 1
  fi
  echo "glibc check: newest symbol version GLIBC_${newest:-none} <= $GLIBC_MAX" >&2
}

# Zips one file as `bootstrap` with fixed timestamp, permissions and order,
# so the same binary always gives the same archive.
reproducible_zip() {
  python3 - "$1" "$2" <<'PY'
import sys, zipfile
binary, archive = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.create_system = 3
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(archive, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
}

ensure_zigbuild
for arch in ${ARCHS:-$(default_archs)}; do
  target=$(rust_target "$arch")
  if [ -n "${EXAMPLE:-}" ]; then
    cargo zigbuild --profile lambda --locked --example "$EXAMPLE" --target "$target.$GLIBC_MAX"
    binary="$CARGO_TARGET_DIR/$target/lambda/examples/$EXAMPLE"
  else
    cargo zigbuild --profile lambda --locked --bin bootstrap --target "$target.$GLIBC_MAX"
    binary="$CARGO_TARGET_DIR/$target/lambda/bootstrap"
  fi
  check_glibc "$binary"
  archive=lambda.zip
  [ "$arch" = x86_64 ] || archive="lambda-$arch.zip"
  reproducible_zip "$binary" "$archive"
  size=$(stat -c %s "$archive")
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  echo "$archive ($arch): $size bytes, sha256 $sum"
done
