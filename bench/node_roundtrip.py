"""Command round trip through the bus to a real node agent vs a bare nats-py request/reply.

    .venv/bin/python -m bench.node_roundtrip [--per-publisher N]

Ours: `zos.bus.call()` of `core.ping` and of `core.system true` (publish on ZOS_COMMANDS, the
agent accepts with an OCC append, runs, records job.started / job.finished, the caller gets
job.finished). Peer: the same number of nats-py `request()` calls answered by a bare
responder process (no JetStream, no persistence): the floor any bus round trip stands on.
Both peers are separate processes, measured in the same run, with 1 and 16 publishers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats

from zos.bus import connect
from zos.bus import call

from ._common import broker

RESPONDER = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def echo(msg):
        await msg.respond(msg.data)
    await nc.subscribe("bench.echo", cb=echo)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(publishers: int, per_publisher: int, one) -> dict[str, float]:
    """Run `one(i)` per_publisher times in each of `publishers` concurrent loops."""
    latencies: list[float] = []

    async def loop(p: int) -> None:
        for _ in range(per_publisher):
            start = time.perf_counter()
            await one(p)
            latencies.append(time.perf_counter() - start)
    began = time.perf_counter()
    await asyncio.gather(*(loop(p) for p in range(publishers)))
    elapsed = time.perf_counter() - began
    return {"rate": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": _percentile(latencies, 0.99) * 1000}


async def run(url: str, per_publisher: int, data: Path) -> list[str]:
    node = "bench-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "ZOS_DATA": str(data)}
    agent = subprocess.Popen([sys.executable, "-m", "zos", "node", "run", "--node-id", node, "--nats", url,
                              "--stats-interval", "0"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    responder = subprocess.Popen([sys.executable, "-c", RESPONDER, url], stdout=subprocess.PIPE, text=True)
    buses = []
    ncs = []
    try:
        ready = data / "node" / node / "ready"
        deadline = time.monotonic() + 60
        while not ready.exists():
            if time.monotonic() > deadline or agent.poll() is not None:
                raise RuntimeError("the node agent did not start")
            await asyncio.sleep(0.05)
        assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
        buses = [await connect(url, actor="bench") for _ in range(16)]
        ncs = [await nats.connect(url) for _ in range(16)]

        async def ping(p: int) -> None:
            result = await call(buses[p], node, "core.ping", timeout=60)
            assert result.state == "SUCCESS", result

        async def system(p: int) -> None:
            result = await call(buses[p], node, "core.system", {"name": "true"}, timeout=60)
            assert result.state == "SUCCESS", result

        async def raw(p: int) -> None:
            await ncs[p].request("bench.echo", b"ping", timeout=60)

        await _measure(4, 20, ping)  # warm up: consumer, caches, imports
        rows = ["| what | publishers | zos cmd/s | zos p50 ms | zos p99 ms | raw req/s | raw p50 ms | raw p99 ms | ratio |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for publishers in (1, 16):
            count = max(1, per_publisher if publishers == 1 else per_publisher // 4)
            peer = await _measure(publishers, count * 2, raw)
            for what, one in (("core.ping", ping), ("core.system true", system)):
                n = count if what == "core.ping" else max(1, count // 3)
                ours = await _measure(publishers, n, one)
                rows.append(f"| {what} | {publishers} | {ours['rate']:,.0f} | {ours['p50']:.2f} | "
                            f"{ours['p99']:.2f} | {peer['rate']:,.0f} | {peer['p50']:.2f} | "
                            f"{peer['p99']:.2f} | {ours['rate'] / peer['rate']:.3f} |")
                print(rows[-1], flush=True)
        return rows
    finally:
        for bus in buses:
            await bus.close(drain=False)
        for nc in ncs:
            await nc.close()
        agent.terminate()
        responder.terminate()
        agent.wait(30)
        responder.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-publisher", type=int, default=400,
                        help="core.ping calls per publisher with 1 publisher (16 publishers do a quarter each)")
    args = parser.parse_args()
    with broker() as url, tempfile.TemporaryDirectory(prefix="zos-bench-node-") as data:
        rows = asyncio.run(run(url, args.per_publisher, Path(data)))
    print("\n### node: command round trip (ratio = zos cmd/s ÷ raw nats request/s)\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
