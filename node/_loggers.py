"""Logger queues (spec §10): a ring of the last 1000 records of every job, and named queues that
receive the records of the levels they asked for. Each queue is a subject on ZOS_LOGS that the
Redis bridge turns into the list `logger:<name>` (headers `Zos-Redis-Key`, `Zos-Trim`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any
from collections.abc import Awaitable, Callable

from zos.bus import REDIS_KEY_HEADER, TRIM_HEADER

from ._messages import MAX_LINE, Message

RING = 1000

Publish = Callable[[str, bytes, dict[str, str]], Awaitable[Any]]


@dataclasses.dataclass
class LoggerQueue:
    name: str
    levels: frozenset[int]

    @property
    def key(self) -> str:
        return f"logger:{self.name}"

    def wants(self, message: Message) -> bool:
        return not self.levels or message.level in self.levels or message.is_exit


class Loggers:
    """Every message passes here; subscribed queues get the ones they want, in order."""

    def __init__(self, publish: Publish, subject: Callable[[str], str], size: int = 50000,
                 levels: tuple[int, ...] = ()) -> None:
        self.publish = publish
        self.subject = subject          # queue key -> subject
        self.size = size
        self.levels = frozenset(levels)  # the global [logging.ledis] filter
        self.ring: collections.deque[tuple[str, int, Message]] = collections.deque(maxlen=RING)
        self.queues: dict[str, LoggerQueue] = {}

    def _passes(self, message: Message) -> bool:
        return not self.levels or message.level in self.levels or message.is_exit

    async def feed(self, job_id: str, container: int, message: Message) -> None:
        if not self._passes(message):
            return
        # The ring seeds new queues; its entries are cut to one line's size so that 1000 of
        # them stay small whatever jobs print.
        kept = message if len(message.text) <= MAX_LINE else dataclasses.replace(message, text=message.text[:MAX_LINE])
        self.ring.append((job_id, container, kept))
        for queue in list(self.queues.values()):
            if queue.wants(message):
                await self._push(queue, job_id, container, message)

    async def subscribe(self, name: str, levels: list[int]) -> str:
        """Start a queue (seeded with the ring); re-subscribing a name updates its levels."""
        queue = LoggerQueue(name, frozenset(levels))
        fresh = name not in self.queues
        self.queues[name] = queue
        if fresh:
            for job_id, container, message in list(self.ring):
                if queue.wants(message):
                    await self._push(queue, job_id, container, message)
        return queue.key

    def unsubscribe(self, key: str) -> bool:
        name = key.removeprefix("logger:")
        return self.queues.pop(name, None) is not None

    async def _push(self, queue: LoggerQueue, job_id: str, container: int, message: Message) -> None:
        record = message.record(job_id, container, stream=False)
        await self.publish(self.subject(queue.key), json.dumps(record).encode(),
                           {REDIS_KEY_HEADER: queue.key, TRIM_HEADER: str(self.size)})
