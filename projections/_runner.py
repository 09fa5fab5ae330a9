"""The runner: replay the log into the projectors, one transaction per batch.

Each batch's rows and the checkpoint rows of the projectors it touched are written in one
transaction, so a crash anywhere restarts from the checkpoint with nothing applied twice or
lost. The checkpoint update is conditional (`WHERE last_seq = <what we read>`): a second
runner on the same database, or a rebuild that reset the checkpoint, makes it fail with
`CheckpointMoved`, and the runner starts over from what is stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zos.bus import Bus, Delivered
from zos.events import get_type

from ._errors import CheckpointMoved
from ._models import Checkpoint, metadata
from ._projector import Projector
from ._rows import SqlRows, insert_missing

log = logging.getLogger("zos.projections")
CHECKPOINTS = Checkpoint.__table__


@dataclasses.dataclass
class BatchDone:
    """What one committed batch did; given to `on_batch` (progress lines, benchmarks)."""

    stream: str
    first_seq: int
    last_seq: int
    events: int
    num_pending: int


def read_checkpoints(engine: Engine, projectors: Sequence[Projector]) -> dict[str, int]:
    """The stored positions, creating a zero row for projectors seen the first time."""
    with engine.begin() as conn:
        stored = {(r.name, r.stream): r.last_seq for r in conn.execute(sa.select(CHECKPOINTS))}
        missing = [{"name": p.name, "stream": p.stream, "last_seq": 0, "last_time": 0, "applied": 0,
                    "skipped": 0, "updated_ns": time.time_ns()}
                   for p in projectors if (p.name, p.stream) not in stored]
        if missing:
            insert_missing(conn, CHECKPOINTS.name, missing)
    return {p.name: stored.get((p.name, p.stream), 0) for p in projectors}


def reset_projector(engine: Engine, projector: Projector) -> None:
    """Drop and recreate the projector's tables and put its checkpoint back to 0, atomically
    where the database allows it (SQLite and PostgreSQL both have transactional DDL)."""
    read_checkpoints(engine, [projector])
    with engine.begin() as conn:
        for name in reversed(projector.tables):
            metadata.tables[name].drop(conn, checkfirst=True)
        for name in projector.tables:
            metadata.tables[name].create(conn)
        conn.execute(CHECKPOINTS.update()
                     .where(CHECKPOINTS.c.name == projector.name,
                            CHECKPOINTS.c.stream == projector.stream)
                     .values(last_seq=0, last_time=0, applied=0, skipped=0,
                             updated_ns=time.time_ns()))


def _replay_subject(projectors: Sequence[Projector]) -> str:
    subjects = {s for p in projectors for s in p.subjects}
    if len(subjects) == 1:
        return next(iter(subjects))
    prefix = {s.split(".")[1] for s in subjects}
    return f"zos.{prefix.pop()}.>" if len(prefix) == 1 else ">"


class Runner:
    """Feeds the log to projectors. `run()` for the service, `run(follow=False)` to catch up."""

    def __init__(self, engine: Engine, bus: Bus, projectors: Sequence[Projector],
                 batch_size: int = 2000) -> None:
        self.engine = engine
        self.bus = bus
        self.projectors = list(projectors)
        self.batch_size = batch_size
        self.positions: dict[str, int] = {}
        self.changed = asyncio.Condition()

    async def run(self, follow: bool = True,
                  on_batch: Callable[[BatchDone], None] | None = None) -> None:
        """Apply every event after the checkpoints; with `follow`, keep going until cancelled."""
        streams: dict[str, list[Projector]] = {}
        for projector in self.projectors:
            streams.setdefault(projector.stream, []).append(projector)
        await asyncio.gather(*(self._run_stream(stream, group, follow, on_batch)
                               for stream, group in streams.items()))

    async def _run_stream(self, stream: str, projectors: list[Projector], follow: bool,
                          on_batch: Callable[[BatchDone], None] | None) -> None:
        while True:
            self.positions.update(await asyncio.to_thread(read_checkpoints, self.engine, projectors))
            start = min(self.positions[p.name] for p in projectors) + 1
            try:
                await self._pump(stream, projectors, start, follow, on_batch)
                return
            except CheckpointMoved as exc:
                log.warning("%s; re-reading checkpoints", exc)

    async def _pump(self, stream: str, projectors: list[Projector], start: int, follow: bool,
                    on_batch: Callable[[BatchDone], None] | None) -> None:
        pending: asyncio.Task | None = None
        batch: list[Delivered] = []
        subject = _replay_subject(projectors)
        try:
            async for item in self.bus.replay(subject, from_seq=start, follow=follow):
                batch.append(item)
                if len(batch) >= self.batch_size or item.num_pending == 0:
                    if pending is not None:
                        await pending
                    pending = asyncio.create_task(self._commit(stream, projectors, batch, on_batch))
                    batch = []
            if batch:
                if pending is not None:
                    await pending
                pending = asyncio.create_task(self._commit(stream, projectors, batch, on_batch))
            if pending is not None:
                await pending
                pending = None
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    async def _commit(self, stream: str, projectors: list[Projector], batch: list[Delivered],
                      on_batch: Callable[[BatchDone], None] | None) -> None:
        await asyncio.to_thread(self._apply, stream, projectors, batch)
        async with self.changed:
            self.changed.notify_all()
        if on_batch is not None:
            on_batch(BatchDone(stream, batch[0].seq, batch[-1].seq, len(batch),
                               batch[-1].num_pending))

    def _apply(self, stream: str, projectors: list[Projector], batch: list[Delivered]) -> None:
        counts = {p.name: [0, 0] for p in projectors}
        last = batch[-1]
        with self.engine.begin() as conn:
            rows = SqlRows(conn)
            for item in batch:
                event = item.event
                for projector in projectors:
                    if item.seq <= self.positions[projector.name] or not projector.wants(item.subject):
                        continue
                    if event is None or get_type(event.type) is None:
                        counts[projector.name][1] += 1
                        continue
                    try:
                        handled = projector.apply(rows, event, item.seq)
                    except Exception:  # a fold that cannot take this event must not stop the log
                        log.exception("projector %s could not fold %s seq %s; skipped",
                                      projector.name, event.type, item.seq)
                        counts[projector.name][1] += 1
                        continue
                    counts[projector.name][0] += handled
            for projector in projectors:
                expected = self.positions[projector.name]
                if last.seq <= expected:
                    continue
                applied, skipped = counts[projector.name]
                done = conn.execute(
                    CHECKPOINTS.update()
                    .where(CHECKPOINTS.c.name == projector.name, CHECKPOINTS.c.stream == stream,
                           CHECKPOINTS.c.last_seq == expected)
                    .values(last_seq=last.seq, last_time=int(last.time.timestamp() * 1e9),
                            applied=CHECKPOINTS.c.applied + applied,
                            skipped=CHECKPOINTS.c.skipped + skipped, updated_ns=time.time_ns()))
                if done.rowcount != 1:
                    raise CheckpointMoved(projector.name, stream, expected)
            rows.flush()
        for projector in projectors:
            self.positions[projector.name] = max(self.positions[projector.name], last.seq)

    async def wait_for(self, seq: int, names: Sequence[str] | None = None,
                       timeout: float = 30.0) -> bool:
        """Until every named projector (all by default) applied `seq`; False on timeout."""
        names = list(names or [p.name for p in self.projectors])

        def reached() -> bool:
            return all(self.positions.get(n, 0) >= seq for n in names)
        try:
            async with asyncio.timeout(timeout):
                async with self.changed:
                    await self.changed.wait_for(reached)
        except TimeoutError:
            return False
        return True
