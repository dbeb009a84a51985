#!/usr/bin/env bash
# Ordered-endpoint benchmark (BENCHMARKS.md, "Ordered endpoints"): the throughput of endpoints that
# share a partition with an ordered endpoint failing 30 % of its requests, against a control. On
# 127.0.0.1, each step bounded in time. Needs what e2e.sh installs.
# Usage: scripts/bench/ordered.sh [RUNS]   (default 3)
exec "$(dirname "$0")/after-e2e.sh" ordered --runs "${1:-3}"
