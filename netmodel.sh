#!/usr/bin/env bash
# Runs the network-modeled copy bench by hand: two network namespaces joined by
# a veth pair, each direction capped with tbf, a paced synthetic S3 in one and
# the copy strategies in the other. Needs root and iproute2.
#   ./netmodel.sh [--link-mb-s 75] [--connection-mb-s 40] [--size-mib 1024]
set -euo pipefail
cd "$(dirname "$0")"
while [ $# -gt 0 ]; do
  case "$1" in
    --link-mb-s) export NETMODEL_LINK_MB_S="$2"; shift 2 ;;
    --connection-mb-s) export NETMODEL_CONNECTION_MB_S="$2"; shift 2 ;;
    --size-mib) export NETMODEL_SIZE_MIB="$2"; shift 2 ;;
    *) echo "usage: $0 [--link-mb-s N] [--connection-mb-s N] [--size-mib N]" >&2; exit 2 ;;
  esac
done
exec cargo bench --bench netmodel
