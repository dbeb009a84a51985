#!/usr/bin/env bash
# Fan-out benchmark (BENCHMARKS.md, "Fan-out"): events/s and deliveries/s at 1, 10 and 1,000
# subscribers per event, on 127.0.0.1, each step bounded in time. Needs what e2e.sh installs.
# Usage: scripts/bench/fanout.sh [RUNS] [DELIVERIES]   (defaults 3 and 100000)
# Writes bench-results/fanout-<date>.txt: one JSON line per run, then the summary table.
set -euo pipefail
runs="${1:-3}"
deliveries="${2:-100000}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export SWIFT_BACKTRACE=enable=no
venv="$root/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import confluent_kafka, aiohttp" 2>/dev/null || ! command -v nginx >/dev/null; then
    echo "run scripts/bench/e2e.sh first (it installs nginx and the Python packages)" >&2
    exit 1
fi
swift build -c release --product webhook-relay >/dev/null
relay="$(swift build -c release --show-bin-path)/webhook-relay"
mkdir -p bench-results
out="$root/bench-results/fanout-$(date -u +%Y%m%dT%H%M%SZ).txt"
echo "# webhook-relay fan-out benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), $(nproc) cores, $runs runs, $deliveries deliveries per run" >"$out"
(cd scripts/bench && "$venv/bin/python" fanout.py "$relay" "$out" --runs "$runs" --deliveries "$deliveries")
echo "results written to $out" >&2
