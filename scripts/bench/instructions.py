#!/usr/bin/env python3
"""Instructions per delivery of webhook-relay: a figure that does not drift with machine noise, for
before/after comparisons of CPU work (issue 19).

This machine has no hardware counters (`perf stat -e instructions`: not supported) and Debian's
valgrind 3.19 cannot run a Swift 6.3 binary (its debuginfo reader gives up; stripped, it crashes),
so the relay runs under QEMU's user-mode emulator (`qemu-x86_64`, Debian's qemu-user) with the
plugin scripts/bench/insncount/insncount.c, which counts every guest instruction of every thread.

Twice — with SMALL and with LARGE records of 512 B over 100 endpoints (64 partitions, embedded
broker, nginx answering 204) — the relay runs until nginx logged every 2xx, then stops (SIGTERM, a
graceful stop). The difference of the two totals divided by the difference of the record counts is
what one more delivery costs, without start-up and shutdown. Also reported per run: the total and
the wall time under emulation. Instructions are the relay's own (user space); the kernel's work for
its system calls is not counted.

Usage: instructions.py RELAY_BINARY PLUGIN [--small N] [--large N]
Needs qemu-user (apt), the plugin built (gcc -O2 -shared -fPIC) and e2e.sh's virtualenv.
"""
import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from e2e import BENCH_SECRET, Broker, Nginx, free_port, log, produce_backlog

def instructions(relay: str, plugin: str, work: Path, records: int, idle: float = 0) -> tuple[int, float]:
    """The relay's instructions for `records` deliveries (start to stop), and the wall time; with
    no records, it runs idle for `idle` seconds after start-up instead."""
    broker = Broker(relay, work, f"ir{records}{'idle' if idle else ''}")
    try:
        if records:
            produce_backlog(broker.bootstrap, f"{broker.prefix}.deliveries", records, 100)
        nginx = Nginx(work, f"ir{records}{'idle' + str(idle) if idle else ''}")
        endpoints = work / f"endpoints-{records}.yaml"
        endpoints.write_text("endpoints:\n" + "".join(
            f"  - id: ep{i:03d}\n    url: http://127.0.0.1:{nginx.port}/ep{i:03d}\n    secrets: [\"{BENCH_SECRET}\"]\n" for i in range(100)
        ))
        output = work / f"instructions-{records}.txt"
        started = time.monotonic()
        process = subprocess.Popen(
            ["qemu-x86_64", "-plugin", f"{plugin},out={output}", relay, "run", "--brokers", broker.bootstrap,
             "--endpoints", str(endpoints), "--topic-prefix", broker.prefix, "--retry-schedule", "1s,5s", "--allow-private-network",
             "--admin-port", str(free_port()), "--log-level", "warning", "--group", f"ir-{records}",
             # Emulation slows the relay many times: time enough for the group's heartbeats.
             "--kafka", "session.timeout.ms=45000"],
            stdout=subprocess.DEVNULL, stderr=open(work / f"relay-{records}.log", "w"),
        )
        try:
            if records:
                nginx.wait_for(records, 900)
            else:
                time.sleep(idle)
        finally:
            process.terminate()
            process.wait(300)
            nginx.stop()
        elapsed = time.monotonic() - started
        delivered = nginx.count_2xx()
        if delivered < records:
            raise RuntimeError(f"only {delivered} of {records} delivered under emulation")
        if process.returncode != 0 or not output.exists():
            raise RuntimeError(f"the relay did not stop cleanly under emulation (exit {process.returncode})")
        return int(output.read_text().strip()), elapsed
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("relay")
    parser.add_argument("plugin")
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--large", type=int, default=25_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="webhook-relay-ir.") as directory:
        work = Path(directory)
        small, small_time = instructions(args.relay, args.plugin, work, args.small)
        log(f"{args.small} records: {small:,} instructions, {small_time:.0f} s under emulation")
        large, large_time = instructions(args.relay, args.plugin, work, args.large)
        log(f"{args.large} records: {large:,} instructions, {large_time:.0f} s under emulation")
        # What the relay does with time alone (heartbeats, fetches, timers), measured idle: the
        # larger run lasted longer, and that part of its extra instructions is not per delivery.
        short, short_time = instructions(args.relay, args.plugin, work, 0, idle=1)
        long, long_time = instructions(args.relay, args.plugin, work, 0, idle=11)
        per_second = (long - short) / max(0.1, long_time - short_time)
        log(f"idle: {per_second:,.0f} instructions per second")
        marginal = (large - small) / (args.large - args.small)
        corrected = (large - small - per_second * (large_time - small_time)) / (args.large - args.small)
        print(f"instructions per delivery: {marginal:,.0f} (({large:,} - {small:,}) / ({args.large} - {args.small})); "
              f"{corrected:,.0f} without the idle rate over the {large_time - small_time:.1f} s the larger run took longer")


if __name__ == "__main__":
    main()
