"""Stats aggregation (spec §11): per metric and tag set, 300 s and 3600 s windows with a short
history, fed by the agent's own samples and by level-10 statsd messages of jobs. Pure.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any
from ._errors import StatsdError

WINDOWS = (300, 3600)
HISTORY = 5


@dataclasses.dataclass
class Sample:
    start: int
    total: float = 0.0
    max: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.max = value if self.count == 0 else max(self.max, value)
        self.total += value
        self.count += 1

    def as_dict(self) -> dict[str, Any]:
        avg = self.total / self.count if self.count else 0.0
        return {"avg": avg, "total": self.total, "max": self.max, "count": self.count, "start": self.start}


@dataclasses.dataclass
class Metric:
    key: str
    op: str
    tags: dict[str, str]
    last_value: float = 0.0
    last_time: int = 0
    raw_value: float | None = None   # for D: the previous counter reading
    raw_time: float = 0.0
    current: dict[int, Sample] = dataclasses.field(default_factory=dict)
    history: dict[int, collections.deque] = dataclasses.field(
        default_factory=lambda: {w: collections.deque(maxlen=HISTORY) for w in WINDOWS})


def parse_statsd(text: str) -> tuple[str, float, str, dict[str, str]]:
    """`key:value|OP[|k=v,k2=v2]` ⇒ (key, value, op, tags)."""
    head, _, rest = text.partition("|")
    key, sep, raw = head.rpartition(":")
    if not sep or not key:
        raise StatsdError(f"statsd message '{text}' has no 'key:value'")
    try:
        value = float(raw)
    except ValueError:
        raise StatsdError(f"statsd message '{text}': value '{raw}' is not a number") from None
    op, _, tag_text = rest.partition("|")
    if op not in ("A", "D"):
        raise StatsdError(f"statsd message '{text}': operation '{op}' is not A or D")
    tags = {}
    for pair in filter(None, tag_text.split(",")):
        k, _, v = pair.partition("=")
        tags[k] = v
    return key, value, op, tags


class Aggregator:
    def __init__(self) -> None:
        self.metrics: dict[tuple[str, tuple[tuple[str, str], ...]], Metric] = {}

    def feed(self, key: str, value: float, op: str = "A", tags: dict[str, str] | None = None,
             now: float | None = None) -> None:
        now = time.time() if now is None else now
        tags = dict(tags or {})
        identity = key + (f"/{tags['id']}" if "id" in tags else "")
        slot = (identity, tuple(sorted(tags.items())))
        metric = self.metrics.get(slot)
        if metric is None:
            metric = self.metrics[slot] = Metric(identity, op, tags)
        if op == "D":
            previous, at = metric.raw_value, metric.raw_time
            metric.raw_value, metric.raw_time = value, now
            if previous is None or now <= at:
                return
            value = (value - previous) / (now - at)
        metric.last_value, metric.last_time = value, int(now)
        for window in WINDOWS:
            start = int(now) // window * window
            sample = metric.current.get(window)
            if sample is None or sample.start != start:
                if sample is not None:
                    metric.history[window].append(sample)
                sample = metric.current[window] = Sample(start)
            sample.add(value)

    def query(self, key: str | None = None, tags: dict[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric in self.metrics.values():
            if key and metric.key != key and metric.key.split("/")[0] != key:
                continue
            if tags and any(metric.tags.get(k) != v for k, v in tags.items()):
                continue
            out[metric.key] = {
                "op": metric.op, "last_value": metric.last_value, "last_time": metric.last_time,
                "tags": [{"key": k, "value": v} for k, v in sorted(metric.tags.items())],
                "current": {str(w): s.as_dict() for w, s in metric.current.items()},
                "history": {str(w): [s.as_dict() for s in metric.history[w]] for w in WINDOWS}}
        return out
