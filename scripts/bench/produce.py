#!/usr/bin/env python3
"""Produces the end-to-end benchmark's records: N records of SIZE bytes over E endpoints.

Endpoint i's records all go to partition i % P (the relay keeps an endpoint's state on the owner of
its partition, so one endpoint = one partition; explicit partitions also keep every partition under
the mock broker's 5 MiB retention). Usage: produce.py BOOTSTRAP TOPIC N SIZE ENDPOINTS PARTITIONS
"""
import sys
import time

from confluent_kafka import Producer


def main() -> None:
    bootstrap, topic = sys.argv[1], sys.argv[2]
    count, size, endpoints, partitions = (int(value) for value in sys.argv[3:7])
    producer = Producer({
        "bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000, "enable.idempotence": True, "acks": "all",
    })
    padding = "x" * size
    started = time.monotonic()
    for index in range(count):
        endpoint = index % endpoints
        prefix = '{"n":%d,"p":"' % index
        body = (prefix + padding[: max(0, size - len(prefix) - 2)] + '"}').encode()
        while True:
            try:
                producer.produce(
                    topic, value=body, key=b"ep%03d" % endpoint, partition=endpoint % partitions,
                    headers=[("webhook-event", b"bench.event"), ("webhook-id", b"bench_%d" % index)],
                )
                break
            except BufferError:
                producer.poll(0.05)
        if index % 10000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        sys.exit(f"produce.py: {remaining} records not acknowledged")
    print(f"produced {count} records of {size} B in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
