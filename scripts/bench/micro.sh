#!/usr/bin/env bash
# Runs the micro-benchmarks (Benchmarks/, ordo-one/benchmark: signing, record decoding, offset
# tracking) and prints ns per operation.
# Usage: scripts/bench/micro.sh [extra `swift package benchmark` arguments]
# Results are also written as text to bench-results/micro-<date>.txt.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/Benchmarks"
mkdir -p "$root/bench-results"
out="$root/bench-results/micro-$(date -u +%Y%m%dT%H%M%SZ).txt"

swift package --scratch-path .build --disable-sandbox benchmark \
    --no-progress "$@" | tee "$out"
echo "results written to $out" >&2
