#!/usr/bin/env bash
# The long form of the reliability suite (docs/reliability.md): R1–R6 with ten times the records
# and more faults, then both fuzz targets for a bounded time; prints one summary table.
#   scripts/reliability/soak.sh [FUZZ_SECONDS_PER_TARGET]   (default 300)
set -uo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no
SWIFT=${SWIFT:-swift}
fuzz_seconds=${1:-300}
report="$PWD/.build/reliability-soak.md"
mkdir -p .build
rm -f "$report"

started=$(date +%s)
$SWIFT build --build-tests || exit 1
WEBHOOK_RELAY_RELIABILITY=soak WEBHOOK_RELAY_RELIABILITY_REPORT="$report" \
    timeout 7200 $SWIFT test --skip-build --no-parallel --filter 'ReliabilityTests'
suite_status=$?

fuzz_output=$(./scripts/fuzz.sh "$fuzz_seconds" 2>&1)
fuzz_status=$?
printf '%s\n' "$fuzz_output" | tail -n 20

echo
echo "## webhook-relay soak — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(( $(date +%s) - started )) s"
echo
echo "| scenario | figures |"
echo "| --- | --- |"
if [ -s "$report" ]; then cat "$report"; else echo "| (no scenario reported) | |"; fi
printf '%s\n' "$fuzz_output" | grep '^fuzz: Fuzz' | sed 's/^fuzz: /| fuzz | /; s/$/ |/'
echo
echo "suite exit status: $suite_status, fuzz exit status: $fuzz_status"
[ "$suite_status" -eq 0 ] && [ "$fuzz_status" -eq 0 ]
