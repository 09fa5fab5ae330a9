"""Send a command, wait for its `job.finished`: the one waiter every part uses (the CLI's
`--wait`, the API's read-your-writes, the Redis bridge, tests and benchmarks).

    result = await call(bus, "n1", "core.system", {"name": "ls"}, max_time=5)
    assert result.ok, result.stderr
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from zos.events import Command, Event, JobResult, new_id

from ._bus import Delivered
from ._errors import ResultTimeout
from ._headers import TYPE_HEADER
from ._subjects import event_subject

FINISHED = "job.finished"


@dataclasses.dataclass(frozen=True)
class Finished:
    """A job's `job.finished` as stored: its result, the event and its stream sequence
    (what a projection's checkpoint must pass for read-your-writes)."""

    result: JobResult
    event: Event
    seq: int


def _finished(item: Delivered | None) -> Delivered | None:
    if item is None or item.event is None or item.headers.get(TYPE_HEADER) != FINISHED:
        return None
    return item


async def wait_finished(bus: Any, job_id: str, timeout: float = 60.0, *,
                        need_seq: bool = True) -> Finished:
    """The job's `job.finished`, as soon as the node records it.

    Listens on the job's subject first, then looks at the last stored event: `job.finished`
    is always a job's last event, so a result stored before the listener is found there and
    one stored after reaches the listener. No consumer is created. A live message carries no
    stream sequence; with `need_seq` it is read back from the stream (one more round trip).
    """
    subject = event_subject("job", job_id)
    found: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()

    def on_live(item: Delivered) -> None:
        if _finished(item) is not None and not found.done():
            found.set_result(item)

    async with bus.listening(subject, on_live):
        stored = _finished(await bus.last_message(subject))
        if stored is not None and not found.done():
            found.set_result(stored)
        try:
            async with asyncio.timeout(timeout):
                item = await found
                if need_seq and not item.seq:
                    item = _finished(await bus.last_message(subject)) or item
        except TimeoutError:
            raise ResultTimeout(job_id, timeout) from None
    assert item.event is not None
    return Finished(JobResult.from_wire(item.event.data.get("result")), item.event, item.seq)


async def wait_result(bus: Any, job_id: str, timeout: float = 60.0) -> JobResult:
    """The 0-core result of `job_id`, as soon as the node records it."""
    return (await wait_finished(bus, job_id, timeout, need_seq=False)).result


async def send_and_wait(bus: Any, cmd: Command, node: str, timeout: float = 60.0, *,
                        need_seq: bool = False) -> Finished:
    """Send `cmd` to `node` and wait for its `job.finished` (listening before sending)."""
    waiter = asyncio.ensure_future(wait_finished(bus, cmd.id, timeout, need_seq=need_seq))
    try:
        await bus.send_command(cmd, node)
        return await waiter
    finally:
        if not waiter.done():
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)


async def call(bus: Any, node: str, command: str, arguments: dict[str, Any] | None = None, *,
               timeout: float = 60.0, **fields: Any) -> JobResult:
    """Run `command` on `node` and return its 0-core result.

    `fields` are the other command fields (`id`, `queue`, `max_time`, `max_restart`,
    `recurring_period`, `stream`, `tags`).
    """
    cmd = Command.from_dict({"id": fields.pop("id", None) or new_id(), "command": command,
                             "arguments": arguments or {}, **fields})
    return (await send_and_wait(bus, cmd, node, timeout)).result
