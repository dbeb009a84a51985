#!/usr/bin/env bash
# Fan-out benchmark (BENCHMARKS.md, "Fan-out"): events/s and deliveries/s at 1, 10 and 1,000
# subscribers per event, on 127.0.0.1, each step bounded in time. Needs what e2e.sh installs.
# Usage: scripts/bench/fanout.sh [RUNS] [DELIVERIES]   (defaults 3 and 100000)
exec "$(dirname "$0")/after-e2e.sh" fanout --runs "${1:-3}" --deliveries "${2:-100000}"
