#!/usr/bin/env bash
# Fuzzes the record decoder and the endpoints-file parser with libFuzzer for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS]     (per target, default 60)
#
# Builds the Fuzz/ package so that every module (WebhookRelay, Yams and libyaml included) gets
# libFuzzer's coverage instrumentation and AddressSanitizer. libFuzzer and ASan ship with the Swift
# toolchain on Linux; nothing is installed. Why these flags and not `--sanitize fuzzer --sanitize
# address`: swiftc keeps only the last `-sanitize=` it is given, and SwiftPM emits its sanitizers in
# a random order on each run, so Swift code got either coverage or ASan (never both) and every
# build rebuilt everything. `--sanitize fuzzer` alone makes SwiftPM link libFuzzer's `main`; the
# -Xswiftc flag comes last on each swiftc command line, so Swift gets both; -Xcc adds ASan to C.
# Seeds: Fuzz/Corpus/<target>/ (committed; add crashing inputs there). The working corpus grows
# across runs in $FUZZ_WORK (default /tmp/webhook-relay-fuzz); crash files land in its artifacts/.
# Prints one line per target and exits non-zero when a target crashed, hung or ran out of memory.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS per target]" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${FUZZ_SCRATCH:-$root/.build-fuzz}"
work="${FUZZ_WORK:-/tmp/webhook-relay-fuzz}"
targets=(FuzzRecordDecoder FuzzEndpointsFile)
export SWIFT_BACKTRACE=enable=no

if [[ "$(uname -s)" != Linux ]]; then
    echo "fuzz: libFuzzer targets need Linux (swiftc -sanitize=fuzzer); skipped" >&2
    exit 0
fi

mkdir -p "$work"
# Same dependency versions as the root package (Fuzz/Package.resolved is not committed).
[[ -f "$root/Fuzz/Package.resolved" ]] || cp "$root/Package.resolved" "$root/Fuzz/Package.resolved"
build_log="$work/build.log"
build=(swift build -c release --package-path "$root/Fuzz" --scratch-path "$scratch"
    --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address -Xcxx -fsanitize=address)
echo "fuzz: building Fuzz/ (release, -sanitize=fuzzer,address) into $scratch" >&2
if ! (cd "$root" && "${build[@]}") >"$build_log" 2>&1; then
    grep -v "Cannot export local symbol" "$build_log" | tail -40 >&2
    echo "fuzz: build failed (full log: $build_log)" >&2
    exit 1
fi
bin="$scratch/release"

# detect_leaks=0: the Swift runtime's metadata caches are allocated once and never freed.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:handle_abort=1"
status=0
for target in "${targets[@]}"; do
    corpus="$work/$target/corpus"
    artifacts="$work/$target/artifacts"
    log="$work/$target/fuzz.log"
    mkdir -p "$corpus" "$artifacts"
    before="$(date +%s)"
    set +e
    # The outer timeout is a backstop only: libFuzzer stops itself after -max_total_time.
    timeout --kill-after=10 "$((seconds + 120))" "$bin/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=8192 \
        -dict="$root/Fuzz/$target.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        -detect_leaks=0 "$corpus" "$root/Fuzz/Corpus/$target" >"$log" 2>&1
    code=$?
    set -e
    elapsed="$(($(date +%s) - before))"
    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    if [[ -z "$executions" ]]; then
        executions="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
    fi
    corpus_size="$(grep -o 'corp: [0-9]*' "$log" | tail -1 | sed 's/corp: //')"
    crash="0"
    if [[ $code -ne 0 ]]; then
        crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
        crash="${crash:-exit status $code (see $log)}"
        status=1
    fi
    rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
    echo "fuzz: $target seconds=$elapsed executions=${executions:-0} (${rate}/s) corpus=${corpus_size:-0} crashes=$crash"
    if [[ $code -ne 0 ]]; then
        grep -E "^(Fatal error|.*error:|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Base64)" "$log" | grep -v "Cannot export" | head -8 | sed 's/^/    /' >&2
        echo "    reproduce: $bin/$target ${crash%% *}" >&2
    fi
done
exit $status
