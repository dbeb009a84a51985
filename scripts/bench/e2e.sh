#!/usr/bin/env bash
# End-to-end benchmark (BENCHMARKS.md): installs what it needs — nginx-light, wrk, Go and sarama
# (apt), a Python virtualenv with confluent-kafka and aiohttp (pip) — builds the release binary and
# the Go peer and runs scripts/bench/e2e.py: throughput, the wrk limit, the Python and Go workers,
# latency at 10,000/s and the stalled-endpoint isolation, RUNS times, all on 127.0.0.1 and each step
# bounded in time.
# Usage: scripts/bench/e2e.sh [RUNS] [RECORDS]   (defaults 3 and 200000)
# Writes bench-results/e2e-<date>.txt: one JSON line per run, then the summary table.
set -euo pipefail
runs="${1:-3}"
records="${2:-200000}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export SWIFT_BACKTRACE=enable=no
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! python3 -c "import venv, ensurepip" 2>/dev/null \
    || ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/Shopify/sarama ]; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq nginx-light wrk python3-venv golang-go golang-github-shopify-sarama-dev >/dev/null
fi
venv="$root/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import confluent_kafka, aiohttp" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q confluent-kafka aiohttp
fi
swift build -c release --product webhook-relay >/dev/null
relay="$(swift build -c release --show-bin-path)/webhook-relay"
# The Go peer, in GOPATH mode against Debian's sarama (no module download).
gopeer="$root/.build/bench-gopeer"
(cd scripts/bench/gopeer && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$root/.build/go-cache" go build -o "$gopeer" .)

mkdir -p bench-results
out="$root/bench-results/e2e-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
    echo "# webhook-relay e2e benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), $(nproc) cores"
    echo "# $runs runs, $records records of 512 B over 100 endpoints, 64 partitions, receiver nginx $(nginx -v 2>&1 | sed 's/.*\///') answering 204"
} >"$out"
"$venv/bin/python" scripts/bench/e2e.py "$relay" "$out" --runs "$runs" --records "$records" --go-peer "$gopeer"
echo "results written to $out" >&2
