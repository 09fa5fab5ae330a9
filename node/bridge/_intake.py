"""Keys → bus: `RPUSH core:default <json>` accepted exactly as 0-core did (spec §4 steps 1-4),
then handed to the node agent as a command on the bus.

The flag is created before RPUSH replies, so the client's next command always sees it (Q1).
Sending is a separate task: a slow or briefly absent bus delays commands, never loses them
(a resend of the same id is deduplicated by the bus).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable

from zos.bus import Bus, BusError, BusUnavailable
from zos.events import ERROR, Command, JobResult, ValidationError

from ._feed import flag_key, store_result
from ._store import Store, StoreError

log = logging.getLogger("zos.node.bridge")

MAX_PENDING = 10_000


class CommandIntake:
    """Validates pushed commands, flags them, and sends them to their node in push order.

    `core:default` is this node; `core:<node>` routes to another node (one bridge in front of
    a pool), and `on_route(node)` tells the feed to mirror that node's results.
    """

    def __init__(self, store: Store, node_id: str, *, max_pending: int = MAX_PENDING,
                 on_route: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.node_id = node_id
        self.max_pending = max_pending
        self.on_route = on_route
        self._outbox: collections.deque[tuple[str, Command]] = collections.deque()
        self._wakeup = asyncio.Event()
        self.accepted = 0
        self.dropped = 0

    def pending(self) -> int:
        return len(self._outbox)

    def push(self, key: bytes, values: list[bytes]) -> None:
        if len(self._outbox) + len(values) > self.max_pending:
            raise StoreError(f"BUSY {len(self._outbox)} commands are waiting for the bus; retry later")
        queue = key[len(b"core:"):].decode("utf-8", "replace")
        node = self.node_id if queue in ("", "default") else queue
        for raw in values:
            self.accept(node, raw)

    def accept(self, node: str, raw: bytes) -> Command | None:
        """One pushed command: dropped (and logged) or flagged and queued for the bus."""
        try:
            cmd = Command.from_dict(json.loads(raw))
        except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            return self._drop(f"malformed command ({exc}): {raw[:200]!r}")
        if not cmd.id:
            return self._drop(f"command without id: {raw[:200]!r}")
        if self.store.exists(flag_key(cmd.id)):
            return self._drop(f"duplicate job id {cmd.id!r}", level=logging.INFO)
        if not cmd.command:
            return self._drop(f"command {cmd.id!r} has no command name")
        self.store.push(flag_key(cmd.id), [b""], force=True)
        if node != self.node_id and self.on_route:
            self.on_route(node)
        self._outbox.append((node, cmd))
        self._wakeup.set()
        self.accepted += 1
        return cmd

    def _drop(self, why: str, level: int = logging.WARNING) -> None:
        self.dropped += 1
        log.log(level, "bridge: dropped %s", why)
        return None

    async def run(self, bus: Bus) -> None:
        """Send queued commands until cancelled; waits out bus outages with backoff."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                node, cmd = self._outbox[0]
                await self._send(bus, node, cmd)
                self._outbox.popleft()

    async def _send(self, bus: Bus, node: str, cmd: Command) -> None:
        delay = 0.1
        while True:
            try:
                await bus.send_command(cmd, node)
                return
            except BusUnavailable as exc:
                log.warning("bridge: bus unavailable sending %s (%s); retry in %.1f s", cmd.id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except (BusError, ValidationError) as exc:
                # The bus refused it for good (e.g. larger than the server's max payload): the
                # client is waiting on the flag, so answer with an error result instead of silence.
                log.error("bridge: bus refused command %s: %s", cmd.id, exc)
                store_result(self.store, JobResult(
                    id=cmd.id, command=cmd.command, state=ERROR, code=503, level=20,
                    data=json.dumps(f"bus refused the command: {exc}"), tags=cmd.tags))
                return
