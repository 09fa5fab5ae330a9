"""What every request handler shares: the engine, the bus, the runner, and the two waits
that make writes read-your-writes (the job's result, then the projection catching up)."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from typing import Any, TypeVar
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.engine import Engine

from zos.bus import Bus, ResultTimeout, send_and_wait
from zos.events import UNKNOWN_CMD, Command, JobResult, new_id

from .._models import Checkpoint
from .._runner import Runner
from ._config import ApiConfig
from ._errors import ApiError

T = TypeVar("T")
NODE_ERRORS = {400: 400, 404: 404, 406: 400, 409: 409, 412: 409}
WAIT_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("wait_limit", default=None)


@dataclasses.dataclass
class Outcome:
    """A finished command: its job id, the 0-core result and `data` decoded from JSON."""

    job: str
    result: JobResult
    value: Any
    seq: int


class ApiContext:
    def __init__(self, config: ApiConfig, engine: Engine, bus: Bus, runner: Runner | None) -> None:
        self.config = config
        self.engine = engine
        self.bus = bus
        self.runner = runner

    @property
    def wait(self) -> float:
        """This request's bound on waits: the configured one, lowered by `Prefer: wait=N`."""
        limit = WAIT_LIMIT.get()
        return self.config.wait if limit is None else min(self.config.wait, limit)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A projection query, off the event loop."""
        return await asyncio.to_thread(fn, self.engine, *args)

    async def wait_applied(self, seq: int, names: Sequence[str], timeout: float) -> bool:
        if self.runner is not None:
            return await self.runner.wait_for(seq, names, timeout)
        deadline = time.monotonic() + timeout
        while True:  # the projectors run elsewhere: watch their checkpoint rows
            positions = await asyncio.to_thread(_positions, self.engine, list(names))
            if len(positions) == len(names) and min(positions.values()) >= seq:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def command(self, node: str, name: str, arguments: dict[str, Any] | None = None,
                      projectors: Sequence[str] = ()) -> Outcome:
        """Send a command to `node`, wait for its `job.finished` and (when `projectors` are
        named) for them to apply it. A failed job becomes an `ApiError` with the node's
        message; a timeout is 504 with the job id."""
        job = new_id()
        wait = self.wait
        deadline = time.monotonic() + wait
        try:
            finished = await send_and_wait(self.bus, Command(id=job, command=name,
                                                             arguments=arguments or {}),
                                           node, wait, need_seq=True)
        except ResultTimeout:
            raise ApiError(504, f"node '{node}' did not finish {name} job {job} within "
                                f"{wait} s", details={"job": job}) from None
        if projectors and not await self.wait_applied(
                finished.seq, projectors, max(0.0, deadline - time.monotonic())):
            raise ApiError(504, f"job {job} finished but the projection did not apply it within "
                                f"{wait} s", details={"job": job, "seq": finished.seq})
        result = finished.result
        value = result.value()
        if result.state == UNKNOWN_CMD:
            raise ApiError(501, f"node '{node}' does not know command {name}",
                           details={"job": job})
        if not result.ok:
            message = value if isinstance(value, str) else (result.data or result.state)
            raise ApiError(NODE_ERRORS.get(result.code, 500),
                           f"node '{node}': {name} failed: {message}", code="node_error",
                           details={"job": job, "state": result.state, "code": result.code})
        return Outcome(job, result, value, finished.seq)


async def context(request: Request) -> ApiContext:
    """The shared context; also applies `Prefer: wait=N` (RFC 7240) to this request's waits."""
    prefer = request.headers.get("prefer", "")
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value)
            except ValueError:
                raise ApiError(400, f"header 'Prefer': wait={value!r} is not a number") from None
            if not 0 < seconds < 1e6:
                raise ApiError(400, f"header 'Prefer': wait={value} is out of range")
            WAIT_LIMIT.set(seconds)
    return request.app.state.ctx


def _positions(engine: Engine, names: list[str]) -> dict[str, int]:
    table = Checkpoint.__table__
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.name, table.c.last_seq)
                            .where(table.c.name.in_(names))).all()
    return {name: seq for name, seq in rows}
