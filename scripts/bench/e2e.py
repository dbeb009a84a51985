#!/usr/bin/env python3
"""End-to-end benchmark of webhook-relay on 127.0.0.1 (BENCHMARKS.md). Run by scripts/bench/e2e.sh,
which installs nginx, wrk and this script's Python packages and builds the release binary.

Each run, with fresh embedded brokers (64 partitions; an endpoint's records on one partition, so no
partition passes the mock broker's 5 MiB retention) and nginx answering 204 as the receiver:
  throughput  RECORDS records of 512 B over 100 endpoints produced first, then the relay drains
              them: deliveries/s from the first to the last 2xx in nginx's access log, the relay's
              CPU seconds per 1,000 deliveries, its peak RSS (VmHWM);
  wrk         the same nginx under wrk (POST 512 B, 64 connections, 10 s): the receiver's limit;
  python      scripts/bench/baseline.py on the same records: what a user would otherwise write;
  go          scripts/bench/gopeer (sarama, a goroutine per record, 64 in flight): what a Go team
              writes in an afternoon; like python, with its CPU per delivery (when built: e2e.sh);
  latency     the relay running, records produced at a steady 10,000/s for 20 s; each record's
              webhook-id carries its produce time (µs), nginx logs the arrival ($msec, 1 ms
              resolution): p50/p90/p99/max after a 2 s warm-up;
  isolation   10 endpoints × 6,000 records, once all healthy, once with one endpoint a socket that
              never answers (attempts time out after the default 10 s): the 9 healthy endpoints'
              deliveries/s in both, and the relay's RSS each 0.5 s over 40 s with the stall going
              on (new records for every endpoint each second).
Writes one JSON line per run and a summary (median, min–max over runs, ratios per run).

Usage: e2e.py RELAY_BINARY OUTPUT_FILE [--runs N] [--records N] [--go-peer BINARY]
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer

HERE = Path(__file__).resolve().parent
PARTITIONS = 64
SIZE = 512
BENCH_EVENT = b"bench.event"


# The signing secret of the benchmarks that need a fixed one (fanout, ordered, instructions).
BENCH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def scenario_arguments(**defaults: int) -> argparse.Namespace:
    """A benchmark's command line: RELAY_BINARY OUTPUT_FILE [--runs N] and an integer option per
    keyword (`deliveries=100_000` → `--deliveries N`, that default)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("relay")
    parser.add_argument("output")
    parser.add_argument("--runs", type=int, default=3)
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Broker:
    """`webhook-relay broker` with the relay's topics under `prefix`."""

    def __init__(self, relay: str, work: Path, prefix: str, schedule: str = "1s,5s"):
        self.prefix = prefix
        out = open(work / f"broker-{prefix}.out", "w+")
        self.process = subprocess.Popen(
            [relay, "broker", "--relay-topics", "--topic-prefix", prefix, "--partitions", str(PARTITIONS),
             "--retry-schedule", schedule, "--log-level", "error"],
            stdout=out, stderr=open(work / f"broker-{prefix}.log", "w"), stdin=subprocess.DEVNULL,
        )
        for _ in range(100):
            out.seek(0)
            line = out.readline().strip()
            if line:
                self.bootstrap = line
                return
            time.sleep(0.1)
        raise RuntimeError("the broker did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class Nginx:
    """nginx answering 204 to everything (but `failing`: a path prefix under which it answers 500 to
    30 % of the requests at random); access log lines `$msec $status $uri $http_webhook_id`."""

    def __init__(self, work: Path, name: str, failing: str | None = None):
        self.dir = work / f"nginx-{name}"
        self.dir.mkdir()
        self.port = free_port()
        self.log = self.dir / "access.log"
        (self.dir / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format bench '$msec $status $uri $http_webhook_id';
    access_log {self.log} bench buffer=256k flush=200ms;
    keepalive_requests 1000000;
    client_body_buffer_size 16k;
    split_clients "${{request_id}}" $fail {{ 30% 1; * 0; }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ return 204; }}
        {f"location {failing} {{ if ($fail) {{ return 500; }} return 204; }}" if failing else ""}
    }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)])
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(30)

    def lines(self):
        """(time s, status, uri, webhook id) of every request logged so far."""
        result = []
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                parts = line.split(" ")
                if len(parts) == 4:
                    result.append((float(parts[0]), int(parts[1]), parts[2], parts[3]))
        return result

    def count_2xx(self) -> int:
        if not self.log.exists():
            return 0
        with open(self.log, "rb") as f:
            return sum(1 for line in f if b" 204 " in line)

    def wait_for(self, count: int, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.count_2xx() < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # the log's flush interval


def rate(lines, keep=lambda uri, webhook_id: True, trim: float = 0.0) -> tuple[int, float]:
    """(2xx count, 2xx per second from the first to the last) of the lines that pass `keep`;
    with `trim`, per second between the arrivals at that fraction and at 1 − trim of the count."""
    times = sorted(t for t, status, uri, webhook_id in lines if 200 <= status < 300 and keep(uri, webhook_id))
    first, last = int(trim * (len(times) - 1)), int((1 - trim) * (len(times) - 1))
    if last - first < 1 or times[last] == times[first]:
        return len(times), 0.0
    return len(times), (last - first) / (times[last] - times[first])


class Relay:
    """`webhook-relay run` (release build) for the endpoints in `urls` (id → URL)."""

    def __init__(self, relay: str, work: Path, name: str, broker: Broker, urls: dict[str, str], secret: str,
                 extra: tuple[str, ...] = (), tenants: dict[str, str] | None = None, fields: dict[str, str] | None = None,
                 schedule: str = "1s,5s"):
        """`fields`: more YAML lines of some endpoints (id → lines, each ending in a newline)."""
        endpoints = work / f"endpoints-{name}.yaml"
        endpoints.write_text("endpoints:\n" + "".join(
            f"  - id: {id}\n    url: {url}\n    secrets: [\"env:BENCH_SECRET\"]\n"
            + (f"    tenant: {tenants[id]}\n" if tenants else "") + (fields or {}).get(id, "")
            for id, url in urls.items()
        ))
        self.admin = free_port()
        self.process = subprocess.Popen(
            [relay, "run", "--brokers", broker.bootstrap, "--endpoints", str(endpoints), "--topic-prefix", broker.prefix,
             "--retry-schedule", schedule, "--allow-private-network", "--admin-port", str(self.admin),
             "--log-level", "warning", "--group", f"relay-{name}", *extra],
            env={**os.environ, "BENCH_SECRET": secret}, stdout=subprocess.DEVNULL,
            stderr=open(work / f"relay-{name}.log", "w"),
        )
        self.rss_samples: list[tuple[float, int]] = []
        self._sampling = False

    def wait_ready(self, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the relay did not become ready")

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start_sampling(self) -> None:
        self._sampling = True

        def sample() -> None:
            started = time.monotonic()
            while self._sampling and self.process.poll() is None:
                self.rss_samples.append((time.monotonic() - started, self.status("VmRSS")))
                time.sleep(0.5)

        threading.Thread(target=sample, daemon=True).start()

    def stop(self) -> None:
        self._sampling = False
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def producer(bootstrap: str, linger_ms: int) -> Producer:
    return Producer({
        "bootstrap.servers": bootstrap, "linger.ms": linger_ms, "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000, "enable.idempotence": True, "acks": "all",
    })


def body(index: int) -> bytes:
    prefix = '{"n":%d,"p":"' % index
    return (prefix + "x" * (SIZE - len(prefix) - 2) + '"}').encode()


def send(p: Producer, topic: str, endpoint: int, webhook_id: bytes, index: int) -> None:
    while True:
        try:
            p.produce(topic, value=body(index), key=b"ep%03d" % endpoint, partition=endpoint % PARTITIONS,
                      headers=[("webhook-event", BENCH_EVENT), ("webhook-id", webhook_id)])
            return
        except BufferError:
            p.poll(0.05)


def produce_backlog(bootstrap: str, topic: str, count: int, endpoints: int) -> None:
    p = producer(bootstrap, 20)
    for index in range(count):
        send(p, topic, index % endpoints, b"bench_%d" % index, index)
        if index % 10000 == 0:
            p.poll(0)
    if p.flush(120):
        raise RuntimeError("records not acknowledged")


def produce_steady(bootstrap: str, topic: str, per_second: int, seconds: float, endpoints: int, tag: str) -> int:
    """Produces at a fixed rate (in 1 ms steps); each webhook-id holds its produce time in µs."""
    p = producer(bootstrap, 1)
    started = time.monotonic()
    index = 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            break
        due = int(elapsed * per_second)
        while index < due:
            send(p, topic, index % endpoints, b"%s_%d_%d" % (tag.encode(), time.time_ns() // 1000, index), index)
            index += 1
        p.poll(0)
        time.sleep(0.001)
    if p.flush(60):
        raise RuntimeError("records not acknowledged")
    return index


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_peer(name: str, command: list[str], work: Path, records: int, secret: str) -> dict:
    """Runs a comparison worker on the backlog until nginx logged `records` 2xx: its deliveries/s
    (first to last 2xx) and CPU per 1,000 deliveries."""
    nginx = Nginx(work, name)
    peer = subprocess.Popen([*command, f"http://127.0.0.1:{nginx.port}", str(records), secret], stderr=open(work / f"{name}.log", "w"))
    try:
        nginx.wait_for(records, 900)
        cpu = cpu_seconds(peer.pid)
    finally:
        peer.kill()
        peer.wait()
        nginx.stop()
    count, per_second = rate(nginx.lines())
    log(f"{name}: {count} delivered, {per_second:.0f}/s, {cpu / max(1, count) * 1000:.4f} CPU s/1000")
    return {f"{name}_delivered": count, f"{name}_per_second": round(per_second), f"{name}_cpu_s_per_1000": round(cpu / max(1, count) * 1000, 4)}


def drain_relay(relay: str, work: Path, broker: Broker, secret: str, records: int,
                measure: Callable[[Relay], dict] | None = None) -> dict:
    """The relay alone drains `records` already produced to `broker`'s deliveries topic (100
    endpoints) into nginx: delivered count, rate, CPU seconds and peak RSS (`VmHWM`, KiB), and
    whatever `measure` reads from the running relay before it stops."""
    nginx = Nginx(work, "relay")
    urls = {f"ep{i:03d}": f"http://127.0.0.1:{nginx.port}/ep{i:03d}" for i in range(100)}
    process = Relay(relay, work, "throughput", broker, urls, secret)
    try:
        nginx.wait_for(records, 600)
        result = {"cpu_s": process.cpu_seconds(), "peak_rss_kib": process.status("VmHWM")}
        if measure:
            result.update(measure(process))
    finally:
        process.stop()
        nginx.stop()
    count, per_second = rate(nginx.lines())
    return {"count": count, "per_second": per_second, **result}


def run_throughput(relay: str, work: Path, secret: str, records: int, go_peer: str | None = None) -> dict:
    result = {}
    broker = Broker(relay, work, "bench")
    try:
        started = time.monotonic()
        produce_backlog(broker.bootstrap, "bench.deliveries", records, 100)
        log(f"produced {records} records in {time.monotonic() - started:.1f} s")

        drained = drain_relay(relay, work, broker, secret, records)
        count, per_second, cpu, hwm = drained["count"], drained["per_second"], drained["cpu_s"], drained["peak_rss_kib"]
        result.update(relay_delivered=count, relay_per_second=round(per_second),
                      relay_cpu_s_per_1000=round(cpu / max(1, count) * 1000, 4), relay_peak_rss_mib=round(hwm / 1024, 1))
        log(f"relay: {count} delivered, {per_second:.0f}/s, {result['relay_cpu_s_per_1000']} CPU s/1000, "
            f"peak RSS {result['relay_peak_rss_mib']} MiB")

        nginx = Nginx(work, "wrk")
        output = subprocess.run(
            ["wrk", "-t2", "-c64", "-d10s", "-s", str(HERE / "post.lua"), f"http://127.0.0.1:{nginx.port}/ep000"],
            capture_output=True, text=True, check=True,
        ).stdout
        nginx.stop()
        result["wrk_per_second"] = round(float(next(l.split()[1] for l in output.splitlines() if l.startswith("Requests/sec"))))
        log(f"wrk: {result['wrk_per_second']}/s")

        # Each peer in a consumer group of its own: all the records again. Arguments: BOOTSTRAP TOPIC URL N SECRET.
        def peer(command: list[str]) -> list[str]:
            return [*command, broker.bootstrap, "bench.deliveries"]

        result.update(run_peer("python", peer([sys.executable, str(HERE / "baseline.py")]), work, records, secret))
        if go_peer:
            result.update(run_peer("go", peer([go_peer]), work, records, secret))
    finally:
        broker.stop()
    return result


def run_latency(relay: str, work: Path, secret: str, per_second: int = 10_000, seconds: float = 20) -> dict:
    broker = Broker(relay, work, "latency")
    nginx = Nginx(work, "latency")
    urls = {f"ep{i:03d}": f"http://127.0.0.1:{nginx.port}/ep{i:03d}" for i in range(100)}
    # librdkafka's mock broker answers a fetch that found no data only after fetch.wait.max.ms
    # (500 ms by default), even when records arrive meanwhile; Kafka answers as soon as they do.
    # 5 ms stands in for Kafka's long poll here (BENCHMARKS.md).
    process = Relay(relay, work, "latency", broker, urls, secret, extra=("--kafka", "fetch.wait.max.ms=5"))
    own = InternalLatency(process.admin)
    try:
        process.wait_ready()
        time.sleep(1)
        own.start()
        produced = produce_steady(broker.bootstrap, "latency.deliveries", per_second, seconds, 100, "lat")
        own.stop()
        nginx.wait_for(produced, 120)
    finally:
        own.stop()
        process.stop()
        nginx.stop()
        broker.stop()
    latencies, first = [], None
    for arrived, status, _, webhook_id in nginx.lines():
        parts = webhook_id.split("_")
        if not (200 <= status < 300) or len(parts) != 3 or parts[0] != "lat":
            continue
        produced_at = int(parts[1]) / 1e6
        first = produced_at if first is None else min(first, produced_at)
        latencies.append((produced_at, (arrived - produced_at) * 1000))
    measured = [latency for produced_at, latency in latencies if first is not None and produced_at - first >= 2]
    result = {"latency_records": produced, "latency_delivered": len(latencies)}
    if measured:
        result.update({f"latency_{name}_ms": round(percentile(measured, q), 1)
                       for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))})
        result["latency_max_ms"] = round(max(measured), 1)
    result.update(own.result())
    log(f"latency: {result}")
    return result


class InternalLatency:
    """The relay's own latency (`webhook_relay_internal_latency_*` at /metrics: librdkafka handing a
    record over → request written, → response read; quantiles of the last complete 10-second window).
    Polled while the steady load runs; the window that measured the most records is reported."""

    def __init__(self, admin_port: int):
        self.url = f"http://127.0.0.1:{admin_port}/metrics"
        self.best: dict[str, float] = {}
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread:
            self._thread.join()
            self._thread = None

    def _poll(self) -> None:
        while self._running:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    values = self.parse(response.read().decode())
                if values.get("answered_records", 0) > self.best.get("answered_records", 0):
                    self.best = values
            except OSError:
                pass
            time.sleep(0.5)

    @staticmethod
    def parse(exposition: str) -> dict[str, float]:
        values = {}
        for line in exposition.splitlines():
            if not line.startswith("webhook_relay_internal_latency_"):
                continue
            name, _, value = line.rpartition(" ")
            labels = dict(part.split("=", 1) for part in name[name.index("{") + 1:-1].split(","))
            stage = labels["stage"].strip('"')
            if name.startswith("webhook_relay_internal_latency_records"):
                values[f"{stage}_records"] = float(value)
            else:
                values[f"{stage}_{labels['quantile'].strip(chr(34))}"] = float(value)
        return values

    def result(self) -> dict:
        if not self.best:
            return {}
        out = {"own_records": int(self.best.get("answered_records", 0))}
        for stage in ("written", "answered"):
            for quantile, name in (("0.5", "p50"), ("0.99", "p99"), ("0.999", "p999")):
                if f"{stage}_{quantile}" in self.best:
                    out[f"own_{stage}_{name}_ms"] = round(self.best[f"{stage}_{quantile}"] * 1000, 3)
        return out


def run_isolation(relay: str, work: Path, secret: str, stalled: bool, per_endpoint: int = 6_000) -> dict:
    name = "stalled" if stalled else "healthy"
    broker = Broker(relay, work, name)
    listener = None
    try:
        produce_backlog(broker.bootstrap, f"{name}.deliveries", 10 * per_endpoint, 10)
        nginx = Nginx(work, f"isolation-{name}")
        urls = {f"ep{i:03d}": f"http://127.0.0.1:{nginx.port}/ep{i:03d}" for i in range(10)}
        if stalled:
            # Accepts connections (the kernel does) and never answers.
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4096)
            urls["ep009"] = f"http://127.0.0.1:{listener.getsockname()[1]}/ep009"
        process = Relay(relay, work, f"isolation-{name}", broker, urls, secret)
        process.start_sampling()
        healthy = 9 * per_endpoint
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if sum(1 for _, status, uri, _ in nginx.lines() if status == 204 and uri != "/ep009") >= healthy:
                break
            time.sleep(0.5)
        result = {}
        if stalled:
            # The stall goes on: new records for every endpoint each second, RSS sampled throughout.
            produce_steady(broker.bootstrap, f"{name}.deliveries", 100, max(10.0, 40 - process.rss_samples[-1][0]), 10, "iso")
            samples = process.rss_samples
            early = [rss for t, rss in samples if 5 <= t < 15]
            late = [rss for t, rss in samples if t >= samples[-1][0] - 10]
            result.update(stalled_rss_early_mib=round(max(early) / 1024, 1) if early else None,
                          stalled_rss_late_mib=round(max(late) / 1024, 1), stalled_rss_max_mib=round(max(r for _, r in samples) / 1024, 1),
                          stalled_window_s=round(samples[-1][0], 1))
        process.stop()
        nginx.stop()
        # The backlog only (ids bench_N): the records produced during the stall window come at 100/s.
        # The backlog drains in 2–3 s, so its first and last 5 % (start-up, stragglers) are left out.
        count, per_second = rate(nginx.lines(), keep=lambda uri, webhook_id: uri != "/ep009" and webhook_id.startswith("bench_"), trim=0.05)
        result.update({f"isolation_{name}_9_per_second": round(per_second), f"isolation_{name}_9_delivered": count})
        log(f"isolation {name}: {result}")
        return result
    finally:
        if listener:
            listener.close()
        broker.stop()


def add_ratios(run: dict) -> None:
    """The goals' ratios, each from figures of the same run."""
    if run.get("wrk_per_second") and run.get("python_per_second"):
        run["ratio_relay_wrk"] = round(run["relay_per_second"] / run["wrk_per_second"], 3)
        run["ratio_relay_python"] = round(run["relay_per_second"] / run["python_per_second"], 3)
    if run.get("go_per_second"):
        run["ratio_relay_go"] = round(run["relay_per_second"] / run["go_per_second"], 3)
    if run.get("isolation_healthy_9_per_second"):
        run["ratio_isolation"] = round(run["isolation_stalled_9_per_second"] / run["isolation_healthy_9_per_second"], 3)


def summarize(runs: list[dict]) -> list[str]:
    lines = [f"{'metric':36} {'median':>10} {'min':>10} {'max':>10} {'spread':>8}   runs"]
    for key in runs[0]:
        values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
        if not values:
            continue
        median = statistics.median(values)
        spread = f"±{(max(values) - min(values)) / 2 / median * 100:.1f}%" if median else "-"
        lines.append(f"{key:36} {median:>10g} {min(values):>10g} {max(values):>10g} {spread:>8}   {' / '.join(f'{v:g}' for v in values)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("relay")
    parser.add_argument("output")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--go-peer", help="the Go worker's binary (scripts/bench/gopeer); none: not compared")
    args = parser.parse_args()
    secret = subprocess.run([args.relay, "secret", "generate", "--scheme", "standard"], capture_output=True, text=True,
                            check=True).stdout.split()[0]
    output = Path(args.output)
    runs = []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="webhook-relay-e2e.") as directory:
            work = Path(directory)
            log(f"run {number} of {args.runs}")
            run = {"run": number}
            run.update(run_throughput(args.relay, work, secret, args.records, args.go_peer))
            run.update(run_latency(args.relay, work, secret))
            run.update(run_isolation(args.relay, work, secret, stalled=False))
            run.update(run_isolation(args.relay, work, secret, stalled=True))
            add_ratios(run)
            runs.append(run)
            with open(output, "a") as f:
                f.write(json.dumps(run) + "\n")
    summary = summarize(runs)
    with open(output, "a") as f:
        f.write("\n".join(summary) + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
