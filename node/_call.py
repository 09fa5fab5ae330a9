"""Send a command to a node and wait for its result: the one implementation of "wait for
`job.finished`" (the CLI's `zos cmd publish --wait` uses it too)."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js.errors import NotFoundError

from zos.bus import Bus, TYPE_HEADER, event_subject
from zos.events import Command, decode, new_id


class ResultTimeout(TimeoutError):
    """No `job.finished` for the job within the wait."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"no result for job {job_id} after {timeout} s")
        self.job_id = job_id
        self.timeout = timeout


async def wait_result(bus: Bus, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The 0-core result of `job_id`, as soon as the node records it.

    Subscribes to the job's subject first, then looks at the last stored event: `job.finished`
    is always a job's last event, so a result recorded before the subscription is seen there
    and one recorded after reaches the subscription. Nothing is missed, no consumer is created.
    """
    subject = event_subject("job", job_id)
    found: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        if (msg.headers or {}).get(TYPE_HEADER) == "job.finished" and not found.done():
            found.set_result(decode(msg.data).data["result"])

    sub = await bus.nc.subscribe(subject, cb=on_msg)
    try:
        try:
            last = await bus.js.get_last_msg("ZOS_EVENTS", subject)
        except NotFoundError:  # nothing stored yet: the subscription will see it
            last = None
        if last is not None and (last.headers or {}).get(TYPE_HEADER) == "job.finished" \
                and not found.done():
            found.set_result(decode(last.data).data["result"])
        try:
            async with asyncio.timeout(timeout):
                return await found
        except TimeoutError:
            raise ResultTimeout(job_id, timeout) from None
    finally:
        if not bus.nc.is_closed:
            await sub.unsubscribe()


async def call(bus: Bus, node: str, command: str, arguments: dict[str, Any] | None = None, *,
               timeout: float = 60.0, **fields: Any) -> dict[str, Any]:
    """Run `command` on `node` and return its 0-core result object.

        result = await call(bus, "n1", "core.system", {"name": "ls"}, max_time=5)
        assert result["state"] == "SUCCESS"

    `fields` are the other command fields (`id`, `queue`, `max_time`, `max_restart`,
    `recurring_period`, `stream`, `tags`).
    """
    cmd = Command.from_dict({"id": fields.pop("id", None) or new_id(), "command": command,
                             "arguments": arguments or {}, **fields})
    return await send_and_wait(bus, cmd, node, timeout)


async def send_and_wait(bus: Bus, cmd: Command, node: str, timeout: float = 60.0) -> dict[str, Any]:
    waiter = asyncio.ensure_future(wait_result(bus, cmd.id, timeout))
    try:
        await bus.send_command(cmd, node)
        return await waiter
    finally:
        if not waiter.done():
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
