#!/usr/bin/env python3
"""Fan-out benchmark of webhook-relay on 127.0.0.1 (BENCHMARKS.md, "Fan-out"). Run by
scripts/bench/fanout.sh after e2e.sh (same virtualenv, nginx and release binary).

For each number of subscribers S in 1, 10 and 1,000, with a fresh embedded broker (64 partitions)
and nginx answering 204: max(1, 100 / S) tenants of S endpoints each, every endpoint subscribed to
every event of its tenant, and DELIVERIES / S events of 512 B on the events topic (tenants in turn),
produced first. The relay then fans them out and delivers them. (At least 100 endpoints, so that no
endpoint's partition of the deliveries topic passes the embedded broker's 5 MiB retention.)
Measured:
  fan-out     events/s and deliveries/s of the fan-out step alone, from the relay's metrics
              (webhook_relay_events_total, webhook_relay_fanout_deliveries_total, sampled every
              0.2 s: from the first sample above 0 to the one reaching the total);
  delivered   end-to-end deliveries/s at nginx, first to last 2xx; CPU s per 1,000 deliveries.
Writes one JSON line per run and prints a table.

Usage: fanout.py RELAY_BINARY OUTPUT_FILE [--runs N] [--deliveries N]
"""
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from e2e import BENCH_SECRET, PARTITIONS, Broker, Nginx, Relay, body, log, producer, rate, scenario_arguments

SUBSCRIBERS = (1, 10, 1000)


def metric(admin: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), text, re.M))


def run(relay: str, work: Path, secret: str, subscribers: int, deliveries: int) -> dict:
    events = max(1, deliveries // subscribers)
    tenants = max(1, 100 // subscribers)
    broker = Broker(relay, work, f"fan{subscribers}")
    try:
        p = producer(broker.bootstrap, 20)
        for index in range(events):
            while True:
                try:
                    # Spread over the partitions (the tenant key would put every event on one, past the
                    # embedded broker's 5 MiB retention per partition).
                    p.produce(f"{broker.prefix}.events", value=body(index), key=b"t%03d" % (index % tenants),
                              partition=index % PARTITIONS,
                              headers=[("webhook-event", b"bench.event"), ("webhook-id", b"evt_%d" % index)])
                    break
                except BufferError:
                    p.poll(0.05)
        if p.flush(120):
            raise RuntimeError("events not acknowledged")
        nginx = Nginx(work, f"fan{subscribers}")
        urls = {f"s{i:04d}": f"http://127.0.0.1:{nginx.port}/s{i:04d}" for i in range(subscribers * tenants)}
        owners = {f"s{i:04d}": "t%03d" % (i // subscribers) for i in range(subscribers * tenants)}
        process = Relay(relay, work, f"fan{subscribers}", broker, urls, secret, tenants=owners)
        process.wait_ready()
        samples = []
        deadline = time.monotonic() + 300
        total = events * subscribers
        while time.monotonic() < deadline:
            fanned = metric(process.admin, "webhook_relay_fanout_deliveries_total")
            samples.append((time.monotonic(), metric(process.admin, "webhook_relay_events_total"), fanned))
            if fanned >= total:
                break
            time.sleep(0.2)
        nginx.wait_for(total, 300)
        cpu = process.cpu_seconds()
        process.stop()
        nginx.stop()
        started = next(t for t, e, d in samples if d > 0)
        ended = samples[-1][0]
        # The step's own time: from the sample before the first output to the one reaching the total.
        before = max((t for t, e, d in samples if d == 0), default=started)
        seconds = max(ended - before, 0.2)
        count, per_second = rate(nginx.lines())
        result = dict(subscribers=subscribers, tenants=tenants, events=events, deliveries=total, fanout_seconds=round(seconds, 2),
                      fanout_events_per_second=round(events / seconds), fanout_deliveries_per_second=round(total / seconds),
                      delivered=count, delivered_per_second=round(per_second), cpu_s_per_1000=round(cpu / max(1, count) * 1000, 4))
        log(f"{subscribers} subscribers: fan-out {result['fanout_events_per_second']} events/s, "
            f"{result['fanout_deliveries_per_second']} deliveries/s; delivered {count} at {per_second:.0f}/s")
        return result
    finally:
        broker.stop()


def main() -> None:
    args = scenario_arguments(deliveries=100_000)
    secret = BENCH_SECRET
    results = []
    with open(args.output, "a") as out, tempfile.TemporaryDirectory() as directory:
        for number in range(args.runs):
            for subscribers in SUBSCRIBERS:
                work = Path(directory) / f"run{number}-{subscribers}"
                work.mkdir()
                result = run(args.relay, work, secret, subscribers, args.deliveries)
                results.append(result)
                out.write(json.dumps(result) + "\n")
                out.flush()
        lines = ["", "| subscribers | events | fan-out events/s | fan-out deliveries/s | delivered/s | CPU s / 1,000 |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for subscribers in SUBSCRIBERS:
            runs = [r for r in results if r["subscribers"] == subscribers]

            def median(key: str) -> str:
                values = [r[key] for r in runs]
                return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})" if len(values) > 1 else f"{values[0]:,}"
            lines.append(f"| {subscribers} | {runs[0]['events']:,} | {median('fanout_events_per_second')} | "
                         f"{median('fanout_deliveries_per_second')} | {median('delivered_per_second')} | "
                         f"{statistics.median(r['cpu_s_per_1000'] for r in runs)} |")
        out.write("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
