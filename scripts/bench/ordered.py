#!/usr/bin/env python3
"""Ordered-endpoint benchmark of webhook-relay on 127.0.0.1 (BENCHMARKS.md, "Ordered endpoints").
Run by scripts/bench/ordered.sh after e2e.sh (same virtualenv, nginx and release binary).

Partition 0 carries NEIGHBOURS / 2 records for two ordinary endpoints (n0, n1) and, spread evenly
among them, ORDERED records for a fifth endpoint (fewer than the 128 an ordered endpoint keeps
waiting); partition 1 carries NEIGHBOURS / 2 records for two more (n2, n3). 64 B bodies, produced
first. Two cases per run, each with a fresh embedded broker and nginx:
  control   the fifth endpoint is an ordinary one and nginx answers it 204;
  ordered   it is `ordered: true` and nginx fails 30 % of its requests at random (500); retries
            in place on the schedule 50ms,100ms,200ms,400ms,800ms.
Measured at nginx, between the 5th and 95th percentile of their 2xx arrivals: the deliveries/s of
the neighbours on the ordered endpoint's partition (n0, n1) and of those on the other (n2, n3), in
the same relay at the same time. Their ratio (same / other) says whether the ordered endpoint held
its partition's neighbours back; the control gives the same ratio without it. For the ordered
endpoint: its accepted deliveries, whether they arrived in produced order, its own deliveries/s.
Writes one JSON line per run and prints a table.

Usage: ordered.py RELAY_BINARY OUTPUT_FILE [--runs N] [--neighbours N] [--ordered N]
"""
import json
import statistics
import tempfile
import time
from pathlib import Path

from e2e import BENCH_SECRET, Broker, Nginx, Relay, log, producer, rate, scenario_arguments

SCHEDULE = "50ms,100ms,200ms,400ms,800ms"
SAME, OTHER = ("n0", "n1"), ("n2", "n3")


def run_case(relay: str, work: Path, secret: str, ordered: bool, neighbours: int, count: int) -> dict:
    name = "ordered" if ordered else "control"
    broker = Broker(relay, work, name, schedule=SCHEDULE)
    try:
        p = producer(broker.bootstrap, 20)
        expected = []
        half = neighbours // 2
        every = (half + count) // count
        records = []
        for index in range(half + count):
            key = "ordered" if index % every == 0 and len(expected) < count else SAME[index % 2]
            if key == "ordered":
                expected.append(f"{key}_{index}")
            records.append((0, key, index))
        records += [(1, OTHER[index % 2], index) for index in range(half)]
        total = len(records)
        for partition, key, index in records:
            while True:
                try:
                    p.produce(f"{broker.prefix}.deliveries", value=b'{"n":%d,"pad":"0123456789012345678901234567890123"}' % index,
                              key=key.encode(), partition=partition,
                              headers=[("webhook-event", b"bench.event"), ("webhook-id", f"{key}_{index}".encode())])
                    break
                except BufferError:
                    p.poll(0.05)
        if p.flush(120):
            raise RuntimeError("records not acknowledged")
        nginx = Nginx(work, name, failing="/ordered" if ordered else None)
        urls = {id: f"http://127.0.0.1:{nginx.port}/{id}" for id in (*SAME, *OTHER, "ordered")}
        # A receiver failing 30 % at random fails 5 times in a row now and then, which would open
        # the circuit for its default 10 minutes: this one opens only for a receiver that is down.
        fields = {"ordered": "    ordered: true\n    circuit_failure_threshold: 20\n"} if ordered else None
        process = Relay(relay, work, name, broker, urls, secret, fields=fields, schedule=SCHEDULE)
        # Until all 2xx arrived, or the neighbours' did and nothing happened for 3 s (an ordered
        # delivery the schedule gave up on is dead-lettered, not answered).
        deadline, quiet, seen = time.monotonic() + 300, time.monotonic(), 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            lines = nginx.lines()
            if len(lines) != seen:
                seen, quiet = len(lines), time.monotonic()
            done = sum(1 for line in lines if 200 <= line[1] < 300)
            if done >= total or (done >= 2 * half and time.monotonic() - quiet > 3):
                break
        process.stop()
        nginx.stop()
        lines = nginx.lines()
        # Between the 5th and 95th percentile of each group's arrivals: its steady rate.
        same, same_per_second = rate(lines, keep=lambda uri, webhook_id: uri[1:] in SAME, trim=0.05)
        other, other_per_second = rate(lines, keep=lambda uri, webhook_id: uri[1:] in OTHER, trim=0.05)
        accepted = [webhook_id for t, status, uri, webhook_id in lines if uri == "/ordered" and 200 <= status < 300]
        failed = sum(1 for t, status, uri, webhook_id in lines if uri == "/ordered" and status == 500)
        own, own_per_second = rate(lines, keep=lambda uri, webhook_id: uri == "/ordered")
        return dict(case=name, same_delivered=same, same_per_second=round(same_per_second), other_delivered=other,
                    other_per_second=round(other_per_second), same_over_other=round(same_per_second / max(1.0, other_per_second), 2),
                    ordered_accepted=own, ordered_failed_attempts=failed,
                    # Every accepted one once, in produced order (one the schedule gave up on is missing).
                    ordered_in_order=accepted == [w for w in expected if w in set(accepted)],
                    ordered_per_second=round(own_per_second))
    finally:
        broker.stop()


def main() -> None:
    args = scenario_arguments(neighbours=40_000, ordered=100)
    secret = BENCH_SECRET
    runs = []
    with open(args.output, "a") as out, tempfile.TemporaryDirectory() as directory:
        for number in range(args.runs):
            cases = {}
            for ordered in (False, True):
                work = Path(directory) / f"run{number}-{ordered}"
                work.mkdir()
                cases["ordered" if ordered else "control"] = run_case(args.relay, work, secret, ordered, args.neighbours, args.ordered)
            result = dict(run=number, control=cases["control"], ordered=cases["ordered"])
            c, o = cases["control"], cases["ordered"]
            log(f"run {number}: neighbours same/other partition {c['same_per_second']}/{c['other_per_second']} = {c['same_over_other']} "
                f"(control), {o['same_per_second']}/{o['other_per_second']} = {o['same_over_other']} (beside the failing ordered "
                f"endpoint); ordered {o['ordered_accepted']} accepted, in order: {o['ordered_in_order']}")
            runs.append(result)
            out.write(json.dumps(result) + "\n")
            out.flush()
        lines = ["", "| run | control: same / other partition (deliveries/s) | ratio | beside the failing ordered endpoint: same / other | ratio "
                 "| ordered accepted | failed attempts | in order | ordered/s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in runs:
            c, o = r["control"], r["ordered"]
            lines.append(f"| {r['run']} | {c['same_per_second']:,} / {c['other_per_second']:,} | {c['same_over_other']} | "
                         f"{o['same_per_second']:,} / {o['other_per_second']:,} | {o['same_over_other']} | "
                         f"{o['ordered_accepted']} | {o['ordered_failed_attempts']} | {o['ordered_in_order']} | {o['ordered_per_second']} |")
        lines.append(f"\nmedian same/other ratio: control {statistics.median(r['control']['same_over_other'] for r in runs)}, "
                     f"beside the ordered endpoint {statistics.median(r['ordered']['same_over_other'] for r in runs)}")
        out.write("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
