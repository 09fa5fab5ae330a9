"""Open vdisks of one disk server: one shared device per vdisk, reference counted (spec §5.6).

All NBD connections to a vdisk share its device (cache, WAL queue, sequence counter), which
is what makes `CAN_MULTI_CONN` true. The storage opens with the first connection and is
flushed and closed with the last, so tools can use an idle embedded store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from zos.bus import Bus
from zos.events import new_event

from ._backend import BlockStore, TemplateFilter
from ._device import BlockDevice, IoCounters
from ._errors import VdiskNotFound
from ._registry import Registry
from ._stores import open_store
from ._tlog import TlogFilter

log = logging.getLogger("zos.disk")


@dataclasses.dataclass
class TlogSettings:
    batch_blocks: int = 128
    interval: float = 0.2
    max_queue_bytes: int = 256 << 20
    retry: float = 30.0


@dataclasses.dataclass
class _Open:
    device: BlockDevice
    refs: int
    storage: str
    template: str | None


class VdiskPool:
    def __init__(self, registry: Registry, bus: Bus, data_dir: Path, *, server_id: str,
                 node: str | None = None, tlog: TlogSettings | None = None,
                 address: str | None = None) -> None:
        self.registry = registry
        self.bus = bus
        self.data_dir = data_dir
        self.server_id = server_id
        self.node = node
        self.tlog = tlog or TlogSettings()
        self.address = address
        self._open: dict[str, _Open] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Counters outlive a device: I/O of a connection that closed before the next
        # statistics sample is still reported.
        self._counters: dict[str, tuple[str, IoCounters]] = {}
        registry.listeners.append(self._on_event)

    def _on_event(self, event) -> None:
        entry = self._open.get(event.data.get("name", ""))
        if event.type == "vdisk.resized" and entry is not None:
            entry.device.size = event.data["size"]
        if event.type == "vdisk.deleted":
            self._counters.pop(event.data["name"], None)

    async def _announce(self, type: str, name: str, **data) -> None:
        try:
            await self.bus.append(new_event(type, "vdisk", name, {"name": name, **data},
                                            actor=f"disk:{self.server_id}"))
        except Exception as exc:  # events about use are informative; serving goes on
            log.warning("cannot record %s for %s: %s", type, name, exc)

    def error_reporter(self, name: str):
        async def report(message: str) -> None:
            await self._announce("vdisk.error", name, status=422, message=message[:1000],
                                 server=self.server_id)
        return report

    async def acquire(self, name: str) -> BlockDevice:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            entry = self._open.get(name)
            if entry is not None:
                entry.refs += 1
                return entry.device
            config = self.registry.vdisks.get(name)
            if config is None:
                raise VdiskNotFound(f"vdisk '{name}' does not exist")
            report = self.error_reporter(name)
            store: BlockStore = await open_store(config, data_dir=self.data_dir,
                                                 clusters=self.registry.clusters, on_error=report)
            template_name = None
            try:
                if config.template and config.template in self.registry.vdisks:
                    template = await self.acquire(config.template)
                    template_name = config.template
                    store = TemplateFilter(store, template.store)
                if config.has_tlog:
                    store = TlogFilter(store, self.bus, name, batch_blocks=self.tlog.batch_blocks,
                                       interval=self.tlog.interval,
                                       max_queue_bytes=self.tlog.max_queue_bytes,
                                       retry=self.tlog.retry, on_error=report)
                    await store.start()
            except BaseException:
                await store.close()
                if template_name:
                    await self.release(template_name)
                raise
            device = BlockDevice(store, config.size, read_only=config.read_only)
            device.counters = self._counters.setdefault(name, (config.storage, IoCounters()))[1]
            self._open[name] = _Open(device, 1, config.storage, template_name)
        await self._announce("vdisk.attached", name, server=self.server_id, node=self.node,
                             address=self.address)
        return device

    async def release(self, name: str) -> None:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            entry = self._open[name]
            entry.refs -= 1
            if entry.refs:
                return
            del self._open[name]
            try:
                await entry.device.close()
            finally:
                if entry.template:
                    await self.release(entry.template)
        await self._announce("vdisk.detached", name, server=self.server_id, node=self.node)

    def counters(self):
        """(vdisk, storage, counters) of every open vdisk, for the statistics publisher."""
        return [(name, storage, counters) for name, (storage, counters) in self._counters.items()]

    async def close(self) -> None:
        for name in list(self._open):
            entry = self._open.pop(name)
            try:
                await entry.device.close()
            except Exception:
                log.exception("closing vdisk %s failed", name)
