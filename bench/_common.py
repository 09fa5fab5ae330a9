"""Shared bits of the benchmarks: a broker for the run, timing, and the ratio table."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator

from zos.bus import EmbeddedBroker


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """A fresh nats-server on a free loopback port for one benchmark run."""
    with tempfile.TemporaryDirectory(prefix="zos-bench-") as tmp:
        with EmbeddedBroker(tmp) as running:
            yield running.url


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def table(title: str, rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (what, ours, peer, unit) → a Markdown table with the ratio ours/peer."""
    lines = [f"### {title}", "", "| what | zos | peer | unit | ratio |", "|---|---:|---:|---|---:|"]
    for what, ours, peer, unit in rows:
        lines.append(f"| {what} | {ours:,.0f} | {peer:,.0f} | {unit} | {ours / peer:.2f} |")
    return "\n".join(lines)
