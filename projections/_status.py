"""Status (lag per projector) and rebuild, the operations behind `zos projections`."""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zos.bus import Bus

from ._projector import Projector
from ._runner import CHECKPOINTS, BatchDone, Runner, read_checkpoints, reset_projector


async def projector_status(engine: Engine, bus: Bus,
                           projectors: Sequence[Projector]) -> list[dict[str, Any]]:
    """Per projector: position, events behind the stream's end, and seconds behind it."""
    import asyncio

    def load() -> dict[tuple[str, str], Any]:
        read_checkpoints(engine, projectors)
        with engine.connect() as conn:
            return {(r.name, r.stream): r for r in conn.execute(sa.select(CHECKPOINTS))}
    stored = await asyncio.to_thread(load)
    ends = {s["stream"]: s for s in await bus.streams()}
    rows = []
    for projector in projectors:
        cp = stored[(projector.name, projector.stream)]
        end = ends.get(projector.stream, {})
        last = int(end.get("last_seq") or 0)
        behind = max(0, last - cp.last_seq)
        lag_s = 0.0
        if behind and cp.last_time:
            lag_s = max(0.0, time.time() - cp.last_time / 1e9)
        rows.append({"name": projector.name, "stream": projector.stream, "last_seq": cp.last_seq,
                     "stream_last_seq": last, "lag_events": behind, "lag_seconds": round(lag_s, 3),
                     "applied": cp.applied, "skipped": cp.skipped, "tables": list(projector.tables)})
    return rows


async def rebuild(engine: Engine, bus: Bus, projector: Projector,
                  progress: Callable[[BatchDone], None] | None = None) -> int:
    """Drop the projector's tables, reset its checkpoint, replay from sequence 1.

    Returns the sequence it caught up to.
    """
    import asyncio

    await asyncio.to_thread(reset_projector, engine, projector)
    runner = Runner(engine, bus, [projector])
    await runner.run(follow=False, on_batch=progress)
    return runner.positions.get(projector.name, 0)
