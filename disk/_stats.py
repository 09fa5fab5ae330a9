"""Per-vdisk I/O statistics on ZOS_IO (`zos.io.disk.<vdisk>`), one sample per interval.

Keys keep upstream's metric names (`vdisk.iops.read@virt.<id>` …) next to plain ones so
dashboards built for 0-Disk still find them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from collections.abc import Callable, Iterable

from zos.bus import Bus, io_subject
from zos.events import encode_value

from ._device import IoCounters

log = logging.getLogger("zos.disk.stats")


def _percentile(values: list[int], fraction: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def io_sample(vdisk: str, counters: IoCounters, interval: float, *, server: str,
              storage: str) -> dict[str, Any]:
    """One statistics record for `interval` seconds of `counters`."""
    rate = 1.0 / interval if interval > 0 else 0.0
    sample = {
        "vdisk": vdisk, "server": server, "storage": storage, "t": time.time_ns(),
        "interval": interval,
        "read_ops": counters.read_ops, "write_ops": counters.write_ops,
        "read_bytes": counters.read_bytes, "write_bytes": counters.write_bytes,
        "read_iops": counters.read_ops * rate, "write_iops": counters.write_ops * rate,
        "read_bps": counters.read_bytes * rate, "write_bps": counters.write_bytes * rate,
        "flushes": counters.flushes,
        "flush_p50_ns": _percentile(counters.flush_ns, 0.5),
        "flush_p99_ns": _percentile(counters.flush_ns, 0.99),
    }
    sample[f"vdisk.iops.read@virt.{vdisk}"] = sample["read_iops"]
    sample[f"vdisk.iops.write@virt.{vdisk}"] = sample["write_iops"]
    sample[f"vdisk.throughput.read@virt.{vdisk}"] = sample["read_bps"]
    sample[f"vdisk.throughput.write@virt.{vdisk}"] = sample["write_bps"]
    return sample


async def publish_stats(bus: Bus, sources: Callable[[], Iterable[tuple[str, str, IoCounters]]], *,
                        server: str, interval: float = 10.0) -> None:
    """Every `interval`, publish one sample per open vdisk that saw I/O. Runs until cancelled."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        elapsed, last = now - last, now
        for vdisk, storage, counters in list(sources()):
            taken = counters.take()
            if not (taken.read_ops or taken.write_ops or taken.flushes):
                continue
            sample = io_sample(vdisk, taken, elapsed, server=server, storage=storage)
            try:
                await bus.publish(io_subject("disk", vdisk), encode_value(sample),
                                  type="io.disk")
            except Exception as exc:  # statistics are best effort; the I/O path never waits on them
                log.warning("cannot publish I/O statistics of %s: %s", vdisk, exc)
