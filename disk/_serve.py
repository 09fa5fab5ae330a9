"""`zos disk serve`: a disk server = the registry from the log + the vdisk pool + NBD listeners."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from pathlib import Path
from collections.abc import Sequence

from zos.bus import Bus

from .nbd import ExportInfo, NBDServer
from ._pool import TlogSettings, VdiskPool
from ._registry import Registry
from ._stats import publish_stats

log = logging.getLogger("zos.disk")


class VdiskExports:
    """`nbd.Exports` over the registry (what exists) and the pool (what is open)."""

    def __init__(self, registry: Registry, pool: VdiskPool, shared: bool = True) -> None:
        self.registry = registry
        self.pool = pool
        self.shared = shared

    def names(self) -> list[str]:
        return self.registry.exported()

    def info(self, name: str) -> ExportInfo | None:
        if name not in self.names():
            return None
        config = self.registry.vdisks[name]
        return ExportInfo(name=name, size=config.size, block_size=config.block_size,
                          read_only=config.read_only, description=f"{config.type} vdisk",
                          multi_conn=self.shared)

    async def open(self, name: str):
        return await self.pool.acquire(name)

    async def release(self, name: str) -> None:
        await self.pool.release(name)


@dataclasses.dataclass
class ServeOptions:
    listen: Sequence[str] = ("tcp:127.0.0.1:10809",)
    server_id: str = "default"
    node: str | None = None
    data_dir: Path = Path(".")
    tlog: TlogSettings = dataclasses.field(default_factory=TlogSettings)
    stats_interval: float = 10.0
    max_requests: int = 64
    max_bytes: int = 64 << 20
    shutdown_timeout: float = 60.0
    ready_timeout: float = 60.0


async def serve(bus: Bus, options: ServeOptions, stop: asyncio.Event | None = None,
                on_ready=None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT): learn exports, serve them, then drain."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    registry = Registry(options.server_id)
    ready = asyncio.Event()
    follower = asyncio.create_task(registry.follow(bus, ready), name="disk-registry")

    def followed(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("following the vdisk log stopped; exports are frozen as they are",
                      exc_info=task.exception())
    follower.add_done_callback(followed)
    try:
        async with asyncio.timeout(options.ready_timeout):
            await asyncio.wait([follower, asyncio.create_task(ready.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
        if follower.done():
            follower.result()  # raises what broke the replay
        pool = VdiskPool(registry, bus, options.data_dir, server_id=options.server_id,
                         node=options.node, tlog=options.tlog)
        server = NBDServer(VdiskExports(registry, pool), max_requests=options.max_requests,
                           max_bytes=options.max_bytes)
        uris = [await server.listen(address) for address in options.listen]
        pool.address = uris[0]
        stats = asyncio.create_task(publish_stats(bus, pool.counters, server=options.server_id,
                                                  interval=options.stats_interval))
        log.info("disk server %s serving %d vdisks on %s", options.server_id,
                 len(registry.exported()), ", ".join(uris))
        if on_ready:
            on_ready(uris)
        try:
            await stop.wait()
        finally:
            await server.close(options.shutdown_timeout)
            stats.cancel()
            await asyncio.gather(stats, return_exceptions=True)
            await pool.close()
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
