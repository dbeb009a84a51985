#!/usr/bin/env python3
"""The straightforward Python worker the relay is compared with: confluent-kafka consumer, aiohttp
with 64 requests in flight, Standard Webhooks HMAC signing, offsets stored after each send and
committed by the client. Stops after N 2xx answers. Usage: baseline.py BOOTSTRAP TOPIC URL N SECRET
"""
import asyncio
import base64
import hashlib
import hmac
import sys
import time

import aiohttp
from confluent_kafka import Consumer, TopicPartition


async def main() -> None:
    bootstrap, topic, base_url, total, secret = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"python-baseline-{time.time_ns()}", "auto.offset.reset": "earliest",
        "enable.auto.offset.store": False, "enable.auto.commit": True, "session.timeout.ms": 6000,
    })
    consumer.subscribe([topic])
    in_flight = asyncio.Semaphore(64)
    delivered = 0
    done = asyncio.Event()

    async def send(session: aiohttp.ClientSession, message) -> None:
        nonlocal delivered
        try:
            headers = dict((name, value.decode()) for name, value in (message.headers() or []))
            webhook_id = headers.get("webhook-id", f"{message.partition()}_{message.offset()}")
            timestamp = str(int(time.time()))
            body = message.value()
            signature = base64.b64encode(hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
            endpoint = message.key().decode()
            async with session.post(
                f"{base_url}/{endpoint}", data=body,
                headers={"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}",
                         "content-type": "application/json"},
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    delivered += 1
            consumer.store_offsets(offsets=[TopicPartition(message.topic(), message.partition(), message.offset() + 1)])
            if delivered >= total:
                done.set()
        finally:
            in_flight.release()

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            messages = await loop.run_in_executor(None, consumer.consume, 500, 0.1)
            for message in messages:
                if message.error():
                    continue
                await in_flight.acquire()
                asyncio.ensure_future(send(session, message))
        for _ in range(64):
            await in_flight.acquire()
    consumer.close()


if __name__ == "__main__":
    asyncio.run(main())
