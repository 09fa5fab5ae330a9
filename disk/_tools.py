"""Vdisk tools (upstream `zeroctl`, spec §8): create, delete, resize, copy, restore.

Each tool does its storage work first and then records the event that says so, with
optimistic concurrency on the vdisk's subject, so two tools racing on one name cannot both
win. Tools that fill a vdisk (copy, restore, import) write through the vdisk's transaction
log when it has one, so the new vdisk's own history is complete and restorable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from collections.abc import AsyncIterator, Callable, Sequence

from zos.bus import Bus, event_subject
from zos.events import new_event

from ._backend import Block, BlockStore
from ._cluster import StorageCluster, StorageServer
from ._export import DEFAULT_SNAPSHOT_BLOCK, export_vdisk, import_vdisk, read_header
from ._errors import DiskError, VdiskConfigError, VdiskExists, VdiskNotFound
from ._registry import Registry, load_registry
from ._stores import check_storage, open_store
from ._tlog import TlogFilter, purge_log, state_at
from ._vdisk import VdiskConfig

Progress = Callable[[int, int], None]
CHUNK = 256


async def _append(bus: Bus, type: str, name: str, data: dict, actor: str, expected: int | None = None) -> int:
    return await bus.append(new_event(type, "vdisk", name, data, actor=actor), expected_seq=expected)


def _require(registry: Registry, name: str) -> VdiskConfig:
    config = registry.vdisks.get(name)
    if config is None:
        raise VdiskNotFound(f"vdisk '{name}' does not exist")
    return config


async def create_vdisk(bus: Bus, config: VdiskConfig, *, server: str | None = None,
                       node: str | None = None, source: str | None = None,
                       actor: str = "zos disk", registry: Registry | None = None) -> int:
    """Record `vdisk.created`; every disk server (or `server`) exports it from then on."""
    registry = registry or await load_registry(bus)
    if config.name in registry.vdisks:
        raise VdiskExists(f"vdisk '{config.name}' already exists")
    check_storage(config.storage, registry.clusters)
    if config.template:
        template = registry.vdisks.get(config.template)
        if template is None:
            raise VdiskConfigError(f"template vdisk '{config.template}' does not exist")
        if template.block_size != config.block_size:
            raise VdiskConfigError(f"template '{config.template}' has block size {template.block_size}, "
                                   f"vdisk '{config.name}' has {config.block_size}")
    data = config.to_event_data()
    for key, value in (("server", server), ("node", node), ("source", source)):
        if value:
            data[key] = value
    expected = await bus.last_seq(event_subject("vdisk", config.name))
    return await _append(bus, "vdisk.created", config.name, data, actor, expected)


async def resize_vdisk(bus: Bus, name: str, size: int, *, actor: str = "zos disk") -> VdiskConfig:
    """Grow a vdisk (upstream refused shrinking too); returns the new config."""
    registry = await load_registry(bus)
    config = _require(registry, name)
    if size < config.size:
        raise VdiskConfigError(f"vdisk '{name}' is {config.size} bytes; shrinking to {size} is refused")
    grown = dataclasses.replace(config, size=-(-size // config.block_size) * config.block_size)
    expected = await bus.last_seq(event_subject("vdisk", name))
    await _append(bus, "vdisk.resized", name, {"name": name, "size": grown.size,
                                               "old_size": config.size}, actor, expected)
    return grown


async def delete_vdisk(bus: Bus, name: str, *, data_dir: Path, actor: str = "zos disk") -> None:
    """Delete the blocks on every server, then the log (last, after storage succeeded),
    then record `vdisk.deleted`."""
    registry = await load_registry(bus)
    config = _require(registry, name)
    store = await open_store(config, data_dir=data_dir, clusters=registry.clusters)
    await store.destroy()
    if config.has_tlog:
        await purge_log(bus, name)
    expected = await bus.last_seq(event_subject("vdisk", name))
    await _append(bus, "vdisk.deleted", name, {"name": name, "storage": config.storage}, actor, expected)


@contextlib.asynccontextmanager
async def opened(bus: Bus, config: VdiskConfig, *, data_dir: Path, registry: Registry,
                 logged: bool = True) -> AsyncIterator[BlockStore]:
    """The vdisk's store for a tool; through its log (and its start-up replay) when it has one."""
    store: BlockStore = await open_store(config, data_dir=data_dir, clusters=registry.clusters)
    if config.has_tlog and logged:
        store = TlogFilter(store, bus, config.name)
        try:
            await store.start()
        except BaseException:
            await store.close()
            raise
    try:
        yield store
    finally:
        await store.close()


async def _fill(store: BlockStore, items: AsyncIterator[tuple[int, Block]] | Sequence[tuple[int, Block]],
                total: int, progress: Progress | None) -> int:
    done = 0
    batch: list[tuple[int, Block]] = []

    async def push() -> None:
        nonlocal done
        await store.set_blocks(batch)
        done += len(batch)
        batch.clear()
        if progress:
            progress(done, total)
    if isinstance(items, Sequence):
        for item in items:
            batch.append(item)
            if len(batch) >= CHUNK:
                await push()
    else:
        async for item in items:
            batch.append(item)
            if len(batch) >= CHUNK:
                await push()
    if batch:
        await push()
    await store.flush()
    return done


async def copy_vdisk(bus: Bus, source: str, target: str, *, data_dir: Path, storage: str | None = None,
                     progress: Progress | None = None, actor: str = "zos disk") -> int:
    """Copy every block of `source` into a new vdisk `target` (same type and block size)."""
    registry = await load_registry(bus)
    src = _require(registry, source)
    if target in registry.vdisks:
        raise VdiskExists(f"vdisk '{target}' already exists")
    dst = dataclasses.replace(src, name=target, storage=storage or src.storage)
    check_storage(dst.storage, registry.clusters)
    async with opened(bus, src, data_dir=data_dir, registry=registry) as src_store:
        present = await _count(src_store, src)
        async with opened(bus, dst, data_dir=data_dir, registry=registry) as dst_store:
            copied = await _fill(dst_store, src_store.scan(), present, progress)
    await create_vdisk(bus, dst, source=source, actor=actor, registry=registry)
    await _append(bus, "vdisk.copied", target, {"name": target, "source": source, "blocks": copied}, actor)
    return copied


async def _count(store: BlockStore, config: VdiskConfig, step: int = 65536) -> int:
    total = 0
    for start in range(0, config.blocks, step):
        total += len(await store.allocated(start, min(config.blocks, start + step)))
    return total


async def restore_vdisk(bus: Bus, source: str, to_ns: int, target: str, *, data_dir: Path,
                        progress: Progress | None = None, force: bool = False,
                        actor: str = "zos disk") -> int:
    """Rebuild `source` as it was at `to_ns` into the new vdisk `target` from the log alone.

    The source and its log are only read; `force` replaces an existing target (never the
    source). Returns the number of blocks written.
    """
    if source == target:
        raise DiskError("restore writes into a new vdisk; pick another --into name")
    registry = await load_registry(bus)
    src = _require(registry, source)
    if target in registry.vdisks:
        if not force:
            raise VdiskExists(f"vdisk '{target}' already exists (use --force to replace it)")
        await delete_vdisk(bus, target, data_dir=data_dir, actor=actor)
        registry = await load_registry(bus)
    state, last_seq = await state_at(bus, source, until_ns=to_ns)
    dst = dataclasses.replace(src, name=target)
    async with opened(bus, dst, data_dir=data_dir, registry=registry) as store:
        written = await _fill(store, sorted(state.items()), len(state), progress)
    await create_vdisk(bus, dst, source=source, actor=actor, registry=registry)
    await _append(bus, "vdisk.restored", target, {"name": target, "source": source, "to_time": to_ns,
                                                  "source_seq": last_seq, "blocks": written}, actor)
    return written


def vdisk_info(registry: Registry, name: str) -> dict:
    config = _require(registry, name)
    info = registry.sources.get(name, {}) | config.to_event_data()
    info["blocks"] = config.blocks
    return info


def now_ns() -> int:
    return time.time_ns()


async def export_snapshot(bus: Bus, name: str, root: Path, snapshot_id: str | None = None, *,
                          data_dir: Path, key: bytes | None = None, compression: str = "lz4",
                          block_size: int = DEFAULT_SNAPSHOT_BLOCK, progress: Progress | None = None,
                          actor: str = "zos disk") -> tuple[str, int]:
    """Export a vdisk to a snapshot directory; returns (snapshot id, blocks stored)."""
    registry = await load_registry(bus)
    config = _require(registry, name)
    snapshot_id = snapshot_id or f"{name}_{int(time.time())}"
    async with opened(bus, config, data_dir=data_dir, registry=registry) as store:
        count = await export_vdisk(store, config, root, snapshot_id, key=key, compression=compression,
                                   block_size=block_size, progress=progress)
    await _append(bus, "vdisk.exported", name, {"name": name, "snapshot": snapshot_id,
                                                "target": str(root), "blocks": count,
                                                "block_size": block_size}, actor)
    return snapshot_id, count


async def import_snapshot(bus: Bus, name: str, root: Path, snapshot_id: str, *, data_dir: Path,
                          key: bytes | None = None, type: str = "db", storage: str = "rocksdb",
                          block_size: int | None = None, size: int | None = None,
                          force: bool = False, progress: Progress | None = None,
                          actor: str = "zos disk") -> int:
    """Create vdisk `name` from a snapshot (geometry from the snapshot unless given)."""
    registry = await load_registry(bus)
    if name in registry.vdisks:
        if not force:
            raise VdiskExists(f"vdisk '{name}' already exists (use --force to overwrite it)")
        await delete_vdisk(bus, name, data_dir=data_dir, actor=actor)
        registry = await load_registry(bus)
    header = await read_header(root, snapshot_id, key)
    src = header["meta"]["src"]
    bs = block_size or int(src["bs"])
    config = VdiskConfig(name=name, size=-(-(size or int(src["sz"])) // bs) * bs, type=type,
                         block_size=bs, storage=storage)
    async with opened(bus, config, data_dir=data_dir, registry=registry) as store:
        count = await import_vdisk(store, config, root, snapshot_id, key=key, progress=progress)
    await create_vdisk(bus, config, source=snapshot_id, actor=actor, registry=registry)
    await _append(bus, "vdisk.imported", name, {"name": name, "snapshot": snapshot_id,
                                                "source": str(root), "blocks": count}, actor)
    return count


async def create_cluster(bus: Bus, label: str, servers: Sequence[str], *, actor: str = "zos disk") -> int:
    """Declare a storage cluster: `servers` as `host:port[/db][@state]`, in shard order."""
    parsed = []
    for spec in servers:
        spec, _, state = spec.partition("@")
        address, _, db = spec.partition("/")
        parsed.append(StorageServer(address, int(db or 0), state or "online").to_dict())
    StorageCluster.from_dicts(parsed)
    subject = event_subject("storagecluster", label)
    expected = await bus.last_seq(subject)
    return await bus.append(new_event("storagecluster.created", "storagecluster", label,
                                      {"label": label, "servers": parsed}, actor=actor),
                            expected_seq=expected)
