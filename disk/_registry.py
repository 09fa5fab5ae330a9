"""The disk server's view of vdisks and storage clusters, folded from the event log.

A server follows `zos.evt.vdisk.*` and `zos.evt.storagecluster.*` from the start and keeps
following, so a vdisk created anywhere is exported without a restart (upstream watched etcd).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from zos.bus import Bus, aggregate_filter
from zos.events import Event

from ._cluster import StorageCluster
from ._errors import VdiskConfigError
from ._vdisk import VdiskConfig

log = logging.getLogger("zos.disk.registry")


class Registry:
    """Vdisks and clusters as of the last applied event."""

    def __init__(self, server_id: str | None = None) -> None:
        self.server_id = server_id
        self.vdisks: dict[str, VdiskConfig] = {}
        self.servers: dict[str, str | None] = {}       # vdisk -> server that exports it
        self.sources: dict[str, dict] = {}              # vdisk -> its vdisk.created data
        self.clusters: dict[str, StorageCluster] = {}
        self.listeners: list[Callable[[Event], None]] = []

    def apply(self, event: Event) -> None:
        data = event.data
        try:
            if event.type == "vdisk.created":
                self.vdisks[data["name"]] = VdiskConfig.from_event_data(data)
                self.servers[data["name"]] = data.get("server")
                self.sources[data["name"]] = dict(data)
            elif event.type == "vdisk.deleted":
                self.vdisks.pop(data["name"], None)
                self.servers.pop(data["name"], None)
                self.sources.pop(data["name"], None)
            elif event.type == "vdisk.resized" and data["name"] in self.vdisks:
                self.vdisks[data["name"]] = dataclasses.replace(self.vdisks[data["name"]],
                                                                size=data["size"])
            elif event.type in ("storagecluster.created", "storagecluster.updated"):
                self.clusters[data["label"]] = StorageCluster.from_dicts(data["servers"])
            elif event.type == "storagecluster.deleted":
                self.clusters.pop(data["label"], None)
            else:
                return
        except (VdiskConfigError, KeyError) as exc:
            # An invalid config is not applied; the previous one keeps serving (spec §2.2).
            log.warning("ignoring %s %s: %s", event.type, event.aggregate_id, exc)
            return
        for listener in self.listeners:
            listener(event)

    def exported(self) -> list[str]:
        """The vdisks this server exports: those for any server or for this one."""
        return sorted(name for name, server in self.servers.items()
                      if server is None or server == self.server_id)

    async def follow(self, bus: Bus, ready: asyncio.Event | None = None) -> None:
        """Apply both aggregates' events forever; `ready` is set once the log is caught up."""
        caught = {"vdisk": False, "storagecluster": False}

        async def one(aggregate: str) -> None:
            last = 0
            async for item in bus.replay(aggregate_filter(aggregate)):
                if item.event is not None:
                    self.apply(item.event)
                last = item.seq
            caught[aggregate] = True
            if ready and all(caught.values()):
                ready.set()
            async for item in bus.replay(aggregate_filter(aggregate), from_seq=last + 1 if last else None,
                                         follow=True):
                if item.event is not None:
                    self.apply(item.event)
        await asyncio.gather(one("vdisk"), one("storagecluster"))


async def load_registry(bus: Bus, server_id: str | None = None) -> Registry:
    """A registry as of now (tools: list, info, create checks)."""
    registry = Registry(server_id)
    for aggregate in ("storagecluster", "vdisk"):
        async for item in bus.replay(aggregate_filter(aggregate)):
            if item.event is not None:
                registry.apply(item.event)
    return registry
