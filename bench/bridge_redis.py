"""The 0-core Redis bridge against redis-server, and core.ping through the bridge against the bus.

    .venv/bin/python -m bench.bridge_redis [--requests 50000] [--pings 300]

1. redis-benchmark (Debian redis-tools), 50 clients, PING / RPUSH / LPOP / LRANGE_100 against a
   `zos bridge serve` process and a redis-server started in the same run, alternating per test;
   prints requests/s of both and the ratio (goal >= 0.3).
2. `core.ping` round trips on a real node agent (`zos node run --redis-listen`): the original
   0-core client (`Client.ping()`: RPUSH, BRPOPLPUSH flag, EXISTS, BRPOPLPUSH result) through
   the bridge vs `zos.bus.call()` straight on the bus; p50/p90 and the bridge's added p50
   (goal < 1 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from zos.bus import connect, free_port, wait_for_port

from ._common import broker

TESTS = [("PING", "ping", "PING_MBULK"), ("RPUSH", "rpush", "RPUSH"), ("LPOP", "lpop", "LPOP"),
         ("LRANGE_100", "lrange_100", "LRANGE_100 (first 100 elements)")]


def redis_benchmark(port: int, test: str, requests: int) -> dict[str, float]:
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
                          "-n", str(requests), "-t", test, "--csv"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}


def start(argv: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port, 60, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def throughput(nats: str, env: dict[str, str], tmp: Path, requests: int) -> None:
    bridge_port, redis_port = free_port(), free_port()
    bridge = start([sys.executable, "-m", "zos", "bridge", "serve", "--node", "bench-" + uuid.uuid4().hex[:6],
                    "--listen", f"127.0.0.1:{bridge_port}", "--nats", nats], bridge_port, env, tmp / "bridge.log")
    redis = start(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                   "--appendonly", "no", "--dir", str(tmp)], redis_port, env, tmp / "redis.log")
    try:
        print(f"### redis-benchmark -c 50 -n {requests} (requests/s)\n")
        print("| command | bridge | redis-server | ratio |\n|---|---:|---:|---:|")
        for name, test, row in TESTS:
            ours = redis_benchmark(bridge_port, test, requests)[row]
            peer = redis_benchmark(redis_port, test, requests)[row]
            print(f"| {name} | {ours:,.0f} | {peer:,.0f} | {ours / peer:.2f} |", flush=True)
    finally:
        stop(bridge)
        stop(redis)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def round_trips(nats: str, env: dict[str, str], tmp: Path, pings: int) -> None:
    import zeroos.core0.client as core0

    from zos.bus import call

    node, port = "bench-" + uuid.uuid4().hex[:6], free_port()
    agent = start([sys.executable, "-m", "zos", "node", "run", "--node-id", node, "--nats", nats,
                   "--redis-listen", f"127.0.0.1:{port}"], port, {**env, "ZOS_DATA": str(tmp / "node")},
                  tmp / "agent.log")
    try:
        client = core0.Client("127.0.0.1", port=port, ssl=False)
        loop = asyncio.new_event_loop()
        bus = loop.run_until_complete(connect(nats, actor="bench"))
        via_bridge: list[float] = []
        via_bus: list[float] = []
        for _ in range(10):  # warm both paths
            client.ping()
            loop.run_until_complete(call(bus, node, "core.ping"))
        for i in range(pings):  # alternate so machine load hits both alike
            t0 = time.perf_counter()
            assert client.ping().startswith("PONG")
            via_bridge.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assert loop.run_until_complete(call(bus, node, "core.ping")).state == "SUCCESS"
            via_bus.append((time.perf_counter() - t0) * 1000)
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{pings} pings", file=sys.stderr, flush=True)
        loop.run_until_complete(bus.close())
        loop.close()
    finally:
        stop(agent)
    print(f"\n### core.ping round trips, {pings} each (ms)\n")
    print("| path | p50 | p90 | mean |\n|---|---:|---:|---:|")
    for name, values in (("0-core client → bridge → bus → agent", via_bridge),
                         ("zos.bus.call() → bus → agent", via_bus)):
        print(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} | "
              f"{statistics.fmean(values):.2f} |")
    added = statistics.median(via_bridge) - statistics.median(via_bus)
    print(f"\nbridge adds {added:.2f} ms at p50 (goal < 1 ms); ratio bus/bridge p50 "
          f"{statistics.median(via_bus) / statistics.median(via_bridge):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()
    if not shutil.which("redis-benchmark") or not shutil.which("redis-server"):
        sys.exit("redis-benchmark and redis-server are needed (Debian redis-tools, redis-server)")
    with broker() as nats, tempfile.TemporaryDirectory(prefix="zos-bench-bridge-") as tmp:
        env = {**os.environ, "ZOS_NATS": nats, "ZOS_DATA": tmp}
        throughput(nats, env, Path(tmp), args.requests)
        round_trips(nats, env, Path(tmp), args.pings)


if __name__ == "__main__":
    main()
