"""Node statistics: one sample per interval on `zos.io.node.<node>` (msgpack map), also fed
to the aggregator under 0-core's metric keys (spec §11)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psutil

from zos.bus import BusError, io_subject
from zos.events import encode_value

log = logging.getLogger("zos.node.stats")


def sample() -> dict[str, Any]:
    """Counters and gauges of the whole machine right now (blocking: /proc reads)."""
    cpu = psutil.cpu_times()
    ctx = psutil.cpu_stats()
    mem = psutil.virtual_memory()
    swap = psutil.swap_memory()
    disk = psutil.disk_io_counters()
    net = psutil.net_io_counters()
    try:
        root = psutil.disk_usage("/")
        size = {"free": root.free, "total": root.total}
    except OSError:
        size = {"free": 0, "total": 0}
    busy = cpu.user + cpu.system + cpu.nice + getattr(cpu, "irq", 0) + getattr(cpu, "softirq", 0)
    return {
        "time": time.time(), "cpu_busy": busy, "cpu_total": busy + cpu.idle + getattr(cpu, "iowait", 0),
        "ctx_switches": ctx.ctx_switches, "interrupts": ctx.interrupts,
        "mem_available": mem.available, "mem_total": mem.total,
        "swap_free": swap.free, "swap_used": swap.used,
        "disk_read_count": disk.read_count if disk else 0, "disk_write_count": disk.write_count if disk else 0,
        "disk_read_bytes": disk.read_bytes if disk else 0, "disk_write_bytes": disk.write_bytes if disk else 0,
        "disk_free": size["free"], "disk_total": size["total"],
        "net_packets_rx": net.packets_recv, "net_packets_tx": net.packets_sent,
        "net_bytes_rx": net.bytes_recv, "net_bytes_tx": net.bytes_sent,
        "threads": _threads(),
    }


def _threads() -> int:
    total = 0
    for proc in psutil.process_iter(["num_threads"]):
        total += proc.info.get("num_threads") or 0
    return total


class StatsSampler:
    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.previous: dict[str, Any] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.agent.config.stats_interval
        if interval <= 0:
            return
        while not stop.is_set():
            try:
                await self.tick()
            except BusError as exc:
                log.warning("node statistics not published: %s", exc)
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                pass

    async def tick(self) -> dict[str, Any]:
        now = await asyncio.to_thread(sample)
        prev, self.previous = self.previous, now
        record = {"node": self.agent.node_id, **now}
        if prev is not None:
            spent = now["cpu_total"] - prev["cpu_total"]
            record["cpu_percent"] = 100.0 * (now["cpu_busy"] - prev["cpu_busy"]) / spent if spent > 0 else 0.0
            record["interval"] = now["time"] - prev["time"]
        self._aggregate(now, record.get("cpu_percent"))
        await self.agent.bus.publish(io_subject("node", self.agent.node_id), encode_value(record))
        return record

    def _aggregate(self, now: dict[str, Any], cpu_percent: float | None) -> None:
        feed = self.agent.aggregator.feed
        t = now["time"]
        if cpu_percent is not None:
            feed("machine.CPU.percent", cpu_percent, "A", now=t)
        feed("machine.CPU.contextswitch", now["ctx_switches"], "D", now=t)
        feed("machine.CPU.interrupts", now["interrupts"], "D", now=t)
        feed("machine.memory.ram.available", now["mem_available"] / 1048576, "A", now=t)
        feed("machine.memory.swap.left", now["swap_free"] / 1048576, "A", now=t)
        feed("machine.memory.swap.used", now["swap_used"] / 1048576, "A", now=t)
        feed("machine.process.threads", now["threads"], "A", now=t)
        feed("disk.iops.read", now["disk_read_count"], "D", now=t)
        feed("disk.iops.write", now["disk_write_count"], "D", now=t)
        feed("disk.throughput.read", now["disk_read_bytes"] / 1024, "D", now=t)
        feed("disk.throughput.write", now["disk_write_bytes"] / 1024, "D", now=t)
        feed("disk.size.free", now["disk_free"], "A", now=t)
        feed("disk.size.total", now["disk_total"], "A", now=t)
        feed("network.packets.rx", now["net_packets_rx"], "D", now=t)
        feed("network.packets.tx", now["net_packets_tx"], "D", now=t)
        feed("network.throughput.incoming", now["net_bytes_rx"] / 1024, "D", now=t)
        feed("network.throughput.outgoing", now["net_bytes_tx"] / 1024, "D", now=t)
