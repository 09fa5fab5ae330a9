"""The 0-core Redis bridge: a RESP2 endpoint that lets the original 0-core clients drive a
node whose commands and results travel on the bus (spec core0-protocol §2, §4, §9, §10).

    await run_bridge(bus, "n1", "127.0.0.1", 6379, ready=ready)   # serves until cancelled

Layout: `_resp` wire format · `_store` lists, TTLs, blocked clients · `_commands` the Redis
commands · `_server` connections · `_intake` core:default → bus · `_feed` bus → result/stream
keys · `_tls` the self-signed certificate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from zos.bus import Bus

from ._commands import AUTH_INVALID, AUTH_REQUIRED, Block, Dispatcher, Session
from ._feed import Feed, store_record, store_result
from ._intake import CommandIntake
from ._resp import ProtocolError, RequestParser
from ._server import BridgeServer
from ._store import Store, StoreError
from ._tls import TLSSetupError, make_self_signed, server_context

log = logging.getLogger("zos.node.bridge")

__all__ = [
    "AUTH_INVALID",
    "AUTH_REQUIRED",
    "Block",
    "BridgeServer",
    "CommandIntake",
    "Dispatcher",
    "Feed",
    "ProtocolError",
    "RequestParser",
    "Session",
    "Store",
    "StoreError",
    "TLSSetupError",
    "make_self_signed",
    "run_bridge",
    "server_context",
    "store_record",
    "store_result",
]


async def run_bridge(bus: Bus, node_id: str, host: str, port: int, *, password: str | None = None,
                     tls: bool = False, data_dir: Path | None = None,
                     ready: asyncio.Event | None = None) -> None:
    """Serve the 0-core Redis protocol for `node_id` on host:port until cancelled.

    `password` enables AUTH (the single-argument form; 0-core's error texts); `tls` serves TLS
    only, with `<data_dir>/bridge.crt` + `bridge.key` if present, else a self-signed certificate
    made now. `ready` is set once the port listens.
    """
    store = Store()
    feed = Feed(bus, store, node_id)
    intake = CommandIntake(store, node_id, on_route=feed.watch)
    ssl_context = await server_context(data_dir) if tls else None
    server: BridgeServer
    dispatcher = Dispatcher(store, intake, password=password, info=lambda: server.info())
    server = BridgeServer(store, dispatcher)
    async with asyncio.TaskGroup() as tg:
        tasks: list[asyncio.Task] = []

        def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task:
            task = tg.create_task(coro)
            tasks.append(task)
            return task
        feed.start(spawn)
        spawn(intake.run(bus))
        spawn(server.sweep_expired())
        spawn(server.serve(host, port, ssl_context=ssl_context, ready=ready))
        tg.create_task(_repeat_cancellation(tasks))


async def _repeat_cancellation(tasks: list[asyncio.Task], attempts: int = 200) -> None:
    """When the group is cancelled, cancel again whatever still runs.

    A cancellation that lands while nats-py sets up a subscription can be swallowed there (the
    follower then waits forever and the group never exits); a second one gets through.
    """
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        for _ in range(attempts):
            await asyncio.sleep(0.05)
            alive = [task for task in tasks if not task.done()]
            if not alive:
                break
            for task in alive:
                task.cancel()
        else:
            log.error("bridge: %d tasks ignored cancellation", sum(not t.done() for t in tasks))
        raise
