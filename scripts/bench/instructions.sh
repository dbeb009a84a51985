#!/usr/bin/env bash
# Instructions per delivery (BENCHMARKS.md, "Instructions per delivery"): the relay under QEMU's
# user-mode emulator with an instruction-counting plugin, for before/after comparisons that do not
# drift with machine noise. Installs qemu-user when missing, builds the plugin and the release
# binary. Needs what e2e.sh installs (virtualenv, nginx).
# Usage: scripts/bench/instructions.sh [SMALL] [LARGE]   (defaults 5000 and 25000 records)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export SWIFT_BACKTRACE=enable=no
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v qemu-x86_64 >/dev/null; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq qemu-user >/dev/null
fi
plugin="$root/.build/insncount.so"
cc -O2 -shared -fPIC -o "$plugin" scripts/bench/insncount/insncount.c
swift build -c release --product webhook-relay >/dev/null
relay="$(swift build -c release --show-bin-path)/webhook-relay"
(cd scripts/bench && "$root/.build/bench-venv/bin/python" instructions.py "$relay" "$plugin" --small "${1:-5000}" --large "${2:-25000}")
