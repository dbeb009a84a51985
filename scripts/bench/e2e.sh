#!/usr/bin/env bash
# End-to-end benchmark (BENCHMARKS.md): embedded broker, RECORDS records of 512 B over 100
# endpoints on 64 partitions, nginx answering 204 on 127.0.0.1. Measures, in one go:
#   - webhook-relay (release): deliveries/s from the first to the last 2xx, CPU seconds per 1,000
#     deliveries, peak RSS;
#   - the receiver's own limit under wrk (POST, 512 B, 64 connections);
#   - the Python baseline (scripts/bench/baseline.py) on the same records.
# Usage: scripts/bench/e2e.sh [RECORDS]   (default 200000). Installs nginx-light, wrk and a Python
# virtualenv (confluent-kafka, aiohttp) when missing. Writes bench-results/e2e-<date>.txt.
set -euo pipefail
records="${1:-200000}"
endpoints=100
partitions=64
size=512
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export SWIFT_BACKTRACE=enable=no
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    $sudo apt-get update -qq && $sudo apt-get install -y -qq nginx-light wrk >/dev/null
fi
venv="$root/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import confluent_kafka, aiohttp" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q confluent-kafka aiohttp
fi
swift build -c release --product webhook-relay >/dev/null
relay="$(swift build -c release --show-bin-path)/webhook-relay"

work="$(mktemp -d /tmp/webhook-relay-e2e.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p bench-results
out="$root/bench-results/e2e-$(date -u +%Y%m%dT%H%M%SZ).txt"
say() { echo "$*" | tee -a "$out"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx answering 204 to every POST, one access-log line per request: "<msec> <status>".
start_nginx() {  # $1 = name; sets nginx_port, nginx_log
    local dir="$work/nginx-$1"; mkdir -p "$dir"
    nginx_port="$(free_port)"; nginx_log="$dir/access.log"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    log_format bench '\$msec \$status';
    access_log $nginx_log bench buffer=256k flush=500ms;
    keepalive_requests 1000000;
    client_body_buffer_size 16k;
    server { listen 127.0.0.1:$nginx_port; location / { return 204; } }
}
CONF
    nginx -c "$dir/nginx.conf" -p "$dir" & pids+=($!); nginx_pid=$!
    sleep 0.5
}
stop_nginx() { kill -QUIT "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }

# Waits until the access log holds $1 2xx lines (at most $2 seconds); prints "count first last".
wait_for_deliveries() {
    local want="$1" limit="$2" started; started=$(date +%s)
    while :; do
        local got; got=$(grep -c ' 2[0-9][0-9]$' "$nginx_log" 2>/dev/null || true)
        if [ "${got:-0}" -ge "$want" ] || [ $(( $(date +%s) - started )) -ge "$limit" ]; then break; fi
        sleep 0.5
    done
    sleep 1  # the log's flush interval
    awk '$2 ~ /^2/ { n++; if (!f) f=$1; l=$1 } END { printf "%d %s %s\n", n, f, l }' "$nginx_log"
}

secret="$("$relay" secret generate --scheme standard | head -1)"
"$relay" broker --relay-topics --topic-prefix bench --partitions "$partitions" --retry-schedule 1s,5s --log-level error \
    >"$work/broker.out" 2>"$work/broker.log" </dev/null & pids+=($!)
for _ in $(seq 50); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap="$(head -1 "$work/broker.out")"
"$venv/bin/python" scripts/bench/produce.py "$bootstrap" bench.deliveries "$records" "$size" "$endpoints" "$partitions"

say "webhook-relay e2e benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) cores"
say "records $records × $size B, $endpoints endpoints, $partitions partitions, receiver nginx (return 204)"

# 1. webhook-relay
start_nginx relay
{
    echo "endpoints:"
    for i in $(seq 0 $((endpoints - 1))); do
        printf '  - id: ep%03d\n    url: http://127.0.0.1:%s/ep%03d\n    secrets: ["env:BENCH_SECRET"]\n' "$i" "$nginx_port" "$i"
    done
} >"$work/endpoints.yaml"
BENCH_SECRET="$secret" "$relay" run --brokers "$bootstrap" --endpoints "$work/endpoints.yaml" --topic-prefix bench \
    --retry-schedule 1s,5s --allow-private-network --admin-port 0 --log-level warning --group bench-relay \
    2>"$work/relay.log" & relay_pid=$!; pids+=($relay_pid)
read -r count first last < <(wait_for_deliveries "$records" 600)
read -r utime stime < <(awk '{print $14, $15}' /proc/$relay_pid/stat)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$relay_pid/status)
ticks=$(getconf CLK_TCK)
kill -TERM $relay_pid; wait $relay_pid || true
stop_nginx
relay_rate=$(awk -v n="$count" -v f="$first" -v l="$last" 'BEGIN { printf "%.0f", (n - 1) / (l - f) }')
cpu_per_k=$(awk -v u="$utime" -v s="$stime" -v t="$ticks" -v n="$count" 'BEGIN { printf "%.3f", (u + s) / t / n * 1000 }')
say "relay: $count delivered, $relay_rate deliveries/s (first to last 2xx), $cpu_per_k CPU s per 1,000, peak RSS $((hwm / 1024)) MiB"

# 2. The receiver's limit under wrk.
start_nginx wrk
wrk_rate=$(wrk -t2 -c64 -d10s -s scripts/bench/post.lua "http://127.0.0.1:$nginx_port/ep000" | awk '/Requests\/sec/ {printf "%.0f", $2}')
stop_nginx
say "wrk: $wrk_rate requests/s (POST 512 B, 64 connections, 2 threads, 10 s)"

# 3. The Python baseline on the same records.
start_nginx python
timeout 900 "$venv/bin/python" scripts/bench/baseline.py "$bootstrap" bench.deliveries "http://127.0.0.1:$nginx_port" "$records" "$secret" \
    2>"$work/baseline.log" & baseline_pid=$!; pids+=($baseline_pid)
read -r pcount pfirst plast < <(wait_for_deliveries "$records" 900)
kill "$baseline_pid" 2>/dev/null || true
stop_nginx
python_rate=$(awk -v n="$pcount" -v f="$pfirst" -v l="$plast" 'BEGIN { printf "%.0f", (n - 1) / (l - f) }')
say "python baseline: $pcount delivered, $python_rate deliveries/s"

say "ratios: relay / wrk = $(awk -v a="$relay_rate" -v b="$wrk_rate" 'BEGIN { printf "%.2f", a / b }'), relay / python = $(awk -v a="$relay_rate" -v b="$python_rate" 'BEGIN { printf "%.2f", a / b }')"
echo "results written to $out" >&2
