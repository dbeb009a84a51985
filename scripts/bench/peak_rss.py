#!/usr/bin/env python3
"""Peak RSS of webhook-relay builds compared on the same drain, alternated (issue 19's memory goal).

For each round and each relay binary in turn: an embedded broker (started with the first binary)
with PARTITIONS partitions, RECORDS records of 512 B for 100 endpoints produced first, nginx
answering 204, then the relay alone until nginx logged every 2xx. Per run: the relay's peak RSS
(`VmHWM`), the drain rate (nginx's log, first to last 2xx), its CPU per delivery and the bytes its
sockets received (`ss -ti`: mostly fetch answers, so it shows records fetched again after pauses).
Medians per binary at the end. The peak RSS of one build spreads by 10-30 MiB from run to run, so
compare medians of several rounds, alternated.

Usage: peak_rss.py [--records N] [--rounds N] [--partitions N] RELAY_BINARY...
Needs e2e.sh's virtualenv and nginx (run `scripts/bench/e2e.sh` once).
"""
import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import e2e
from e2e import BENCH_SECRET, Broker, drain_relay, produce_backlog


def received_bytes(pid: int) -> int:
    """Bytes received by the process's TCP sockets that are still open."""
    lines = subprocess.run(["ss", "-tinp"], capture_output=True, text=True).stdout.splitlines()
    total = 0
    for index, line in enumerate(lines[:-1]):
        if f"pid={pid}," in line:
            for token in lines[index + 1].split():
                if token.startswith("bytes_received:"):
                    total += int(token.split(":")[1])
    return total


def drain(relay: str, broker_binary: str, records: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="peak-rss-"))
    broker = Broker(broker_binary, work, "bench")
    try:
        produce_backlog(broker.bootstrap, "bench.deliveries", records, 100)
        drained = drain_relay(relay, work, broker, BENCH_SECRET, records,
                              measure=lambda process: {"received": received_bytes(process.process.pid)})
    finally:
        broker.stop()
    return {"peak_rss_mib": drained["peak_rss_kib"] / 1024, "per_second": drained["per_second"],
            "cpu_us": drained["cpu_s"] / records * 1e6, "received_mb": drained["received"] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("relays", nargs="+")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=e2e.PARTITIONS)
    args = parser.parse_args()
    e2e.PARTITIONS = args.partitions
    results: dict[str, list[dict[str, float]]] = {relay: [] for relay in args.relays}
    for _ in range(args.rounds):
        for relay in args.relays:
            run = drain(relay, args.relays[0], args.records)
            results[relay].append(run)
            print(f"{relay}: peak RSS {run['peak_rss_mib']:.1f} MiB, {run['per_second']:.0f}/s, "
                  f"{run['cpu_us']:.1f} µs CPU per delivery, {run['received_mb']:.0f} MB received", flush=True)
    for relay, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"median {relay}: peak RSS {median['peak_rss_mib']:.1f} MiB, {median['per_second']:.0f}/s, "
              f"{median['cpu_us']:.1f} µs, {median['received_mb']:.0f} MB")


if __name__ == "__main__":
    main()
