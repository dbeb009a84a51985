#!/usr/bin/env bash
# Runs the benchmark scripts/bench/NAME.py with the release binary, the virtualenv and nginx that
# e2e.sh installs; writes bench-results/NAME-<date>.txt (a header, one JSON line per run, the table).
# Usage: scripts/bench/after-e2e.sh NAME [ARGUMENTS OF NAME.py]
set -euo pipefail
name="$1"; shift
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
out="$root/bench-results/$name-$(date -u +%Y%m%dT%H%M%SZ).txt"
echo "# webhook-relay $name benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), $(nproc) cores, arguments: $*" >"$out"
(cd scripts/bench && "$venv/bin/python" "$name.py" "$relay" "$out" "$@")
echo "results written to $out" >&2
