#!/usr/bin/env python3
"""Ordered-endpoint benchmark of webhook-relay on 127.0.0.1 (BENCHMARKS.md, "Ordered endpoints").
Run by scripts/bench/ordered.sh after e2e.sh (same virtualenv, nginx and release binary).

One partition carries NEIGHBOURS records for 4 ordinary endpoints and, spread evenly among them,
ORDERED records for one more endpoint (fewer than the 128 an ordered endpoint keeps waiting), 64 B
bodies, produced first. Two cases per run, each with a fresh embedded broker and nginx:
  control   the fifth endpoint is an ordinary one and nginx answers it 204;
  ordered   it is `ordered: true` and nginx fails 30 % of its requests at random (500); retries
            in place on the schedule 50ms,100ms,200ms,400ms,800ms.
Measured at nginx (first to last 2xx): the neighbours' deliveries/s in each case and their ratio
(ordered / control, within the run: is their throughput held back?), and for the ordered endpoint
its accepted deliveries, whether they arrived in produced order, and its own deliveries/s.
Writes one JSON line per run and prints a table.

Usage: ordered.py RELAY_BINARY OUTPUT_FILE [--runs N] [--neighbours N] [--ordered N]
"""
import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from e2e import Broker, Nginx, Relay, log, producer, rate

SCHEDULE = "50ms,100ms,200ms,400ms,800ms"
NEIGHBOURS = ("n0", "n1", "n2", "n3")


def run_case(relay: str, work: Path, secret: str, ordered: bool, neighbours: int, count: int) -> dict:
    name = "ordered" if ordered else "control"
    broker = Broker(relay, work, name, schedule=SCHEDULE)
    try:
        p = producer(broker.bootstrap, 20)
        expected = []
        total = neighbours + count
        every = total // count
        for index in range(total):
            key = "ordered" if index % every == 0 and len(expected) < count else NEIGHBOURS[index % len(NEIGHBOURS)]
            webhook_id = f"{key}_{index}"
            if key == "ordered":
                expected.append(webhook_id)
            while True:
                try:
                    # All on partition 0: the ordered endpoint and its neighbours share it.
                    p.produce(f"{broker.prefix}.deliveries", value=b'{"n":%d,"pad":"0123456789012345678901234567890123"}' % index,
                              key=key.encode(), partition=0,
                              headers=[("webhook-event", b"bench.event"), ("webhook-id", webhook_id.encode())])
                    break
                except BufferError:
                    p.poll(0.05)
        if p.flush(120):
            raise RuntimeError("records not acknowledged")
        nginx = Nginx(work, name, failing="/ordered" if ordered else None)
        urls = {id: f"http://127.0.0.1:{nginx.port}/{id}" for id in (*NEIGHBOURS, "ordered")}
        process = Relay(relay, work, name, broker, urls, secret, ordered=frozenset({"ordered"}) if ordered else frozenset(),
                        schedule=SCHEDULE)
        # Until all 2xx arrived, or the neighbours' did and nothing happened for 3 s (an ordered
        # delivery the schedule gave up on is dead-lettered, not answered).
        deadline, quiet, seen = time.monotonic() + 300, time.monotonic(), 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            lines = nginx.lines()
            if len(lines) != seen:
                seen, quiet = len(lines), time.monotonic()
            done = sum(1 for line in lines if 200 <= line[1] < 300)
            if done >= total or (done >= neighbours and time.monotonic() - quiet > 3):
                break
        process.stop()
        nginx.stop()
        lines = nginx.lines()
        delivered, per_second = rate(lines, keep=lambda uri, webhook_id: uri != "/ordered")
        accepted = [webhook_id for t, status, uri, webhook_id in lines if uri == "/ordered" and 200 <= status < 300]
        failed = sum(1 for t, status, uri, webhook_id in lines if uri == "/ordered" and status == 500)
        own, own_per_second = rate(lines, keep=lambda uri, webhook_id: uri == "/ordered")
        return dict(case=name, neighbours_delivered=delivered, neighbours_per_second=round(per_second),
                    ordered_accepted=own, ordered_failed_attempts=failed,
                    # Every accepted one once, in produced order (one the schedule gave up on is missing).
                    ordered_in_order=accepted == [w for w in expected if w in set(accepted)],
                    ordered_per_second=round(own_per_second))
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("relay")
    parser.add_argument("output")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--neighbours", type=int, default=20_000)
    parser.add_argument("--ordered", type=int, default=100)
    args = parser.parse_args()
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    runs = []
    with open(args.output, "a") as out, tempfile.TemporaryDirectory() as directory:
        for number in range(args.runs):
            cases = {}
            for ordered in (False, True):
                work = Path(directory) / f"run{number}-{ordered}"
                work.mkdir()
                cases["ordered" if ordered else "control"] = run_case(args.relay, work, secret, ordered, args.neighbours, args.ordered)
            result = dict(run=number, control=cases["control"], ordered=cases["ordered"],
                          neighbours_ratio=round(cases["ordered"]["neighbours_per_second"] / max(1, cases["control"]["neighbours_per_second"]), 2))
            log(f"run {number}: neighbours {cases['control']['neighbours_per_second']}/s alone, "
                f"{cases['ordered']['neighbours_per_second']}/s beside the failing ordered endpoint (ratio {result['neighbours_ratio']}); "
                f"ordered {cases['ordered']['ordered_accepted']} accepted, in order: {cases['ordered']['ordered_in_order']}")
            runs.append(result)
            out.write(json.dumps(result) + "\n")
            out.flush()
        lines = ["", "| run | neighbours/s, control | neighbours/s, beside ordered | ratio | ordered accepted | failed attempts | in order | ordered/s |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in runs:
            o = r["ordered"]
            lines.append(f"| {r['run']} | {r['control']['neighbours_per_second']:,} | {o['neighbours_per_second']:,} | {r['neighbours_ratio']} | "
                         f"{o['ordered_accepted']} | {o['ordered_failed_attempts']} | {o['ordered_in_order']} | {o['ordered_per_second']} |")
        lines.append(f"\nmedian neighbours ratio: {statistics.median(r['neighbours_ratio'] for r in runs)}")
        out.write("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
