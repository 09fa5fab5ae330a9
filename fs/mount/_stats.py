"""Per-mount I/O counters, sampled once per interval onto ZOS_IO (`zos.io.fs.<mount>`).

Counters are bumped from worker threads and the event loop (one lock); `take()` returns the
interval's values and starts the next interval. Never an event per read.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any


@dataclasses.dataclass(slots=True)
class Interval:
    reads: int = 0            # FUSE read calls served
    bytes: int = 0            # bytes returned to the kernel
    chunks_fetched: int = 0   # chunks that came from a store
    fetched_bytes: int = 0    # plaintext bytes of those chunks
    cache_hits: int = 0
    cache_misses: int = 0
    evictions: int = 0
    errors: int = 0
    prefetched: int = 0       # chunks fetched ahead by read-ahead
    latencies_ns: list[int] = dataclasses.field(default_factory=list)


def percentile(values: list[int], fraction: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class MountStats:
    _MAX_LATENCIES = 10000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = Interval()
        self.totals = Interval()
        self._started = time.monotonic()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self._now, name, getattr(self._now, name) + value)
                setattr(self.totals, name, getattr(self.totals, name) + value)

    def latency(self, ns: int) -> None:
        with self._lock:
            if len(self._now.latencies_ns) < self._MAX_LATENCIES:
                self._now.latencies_ns.append(ns)

    def take(self) -> tuple[Interval, float]:
        with self._lock:
            taken, self._now = self._now, Interval()
            now = time.monotonic()
            elapsed, self._started = now - self._started, now
        return taken, elapsed

    def totals_dict(self) -> dict[str, int]:
        with self._lock:
            values = dataclasses.asdict(self.totals)
        values.pop("latencies_ns")
        return values


def io_sample(name: str, target: str, taken: Interval, elapsed: float) -> dict[str, Any]:
    """One ZOS_IO record for an interval of `elapsed` seconds."""
    return {
        "mount": name, "target": target, "t": time.time_ns(), "interval": elapsed,
        "reads": taken.reads, "bytes": taken.bytes,
        "chunks_fetched": taken.chunks_fetched, "fetched_bytes": taken.fetched_bytes,
        "cache_hits": taken.cache_hits, "cache_misses": taken.cache_misses,
        "evictions": taken.evictions, "errors": taken.errors, "prefetched": taken.prefetched,
        "fetch_p50_ns": percentile(taken.latencies_ns, 0.5),
        "fetch_p99_ns": percentile(taken.latencies_ns, 0.99),
    }


def is_idle(taken: Interval) -> bool:
    return not (taken.reads or taken.chunks_fetched or taken.errors or taken.evictions
                or taken.cache_hits or taken.cache_misses)
