"""Storage URLs to `BlockStore`s: the one place that knows every storage kind.

    rocksdb                      embedded RocksDB under <data>/disk/vdisks/<vdisk>
    rocksdb:/some/dir            embedded RocksDB under /some/dir/<vdisk>
    redis://h:p[/db][,h:p[/db]]  a Redis-protocol cluster, servers in shard order
    cluster:<label>              a cluster declared by a `storagecluster.created` event
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from collections.abc import Awaitable, Callable, Mapping

from zos.bus import token

from ._backend import BlockStore
from ._cluster import StorageCluster
from ._errors import VdiskConfigError
from ._storage_redis import RedisStore
from ._storage_rocks import RocksStore
from ._vdisk import VdiskConfig


def check_storage(storage: str, clusters: Mapping[str, StorageCluster] | None = None) -> None:
    """Raise `VdiskConfigError` unless `storage` names a usable storage."""
    if storage == "rocksdb" or storage.startswith("rocksdb:"):
        return
    if storage.startswith("redis://"):
        StorageCluster.from_url(storage)
        return
    if storage.startswith("cluster:"):
        if clusters is not None and storage[len("cluster:"):] not in clusters:
            raise VdiskConfigError(f"storage cluster '{storage[8:]}' is not declared")
        return
    raise VdiskConfigError(f"storage '{storage}' is not rocksdb[:DIR], redis://HOST:PORT[,…] "
                           f"or cluster:LABEL")


def rocks_path(storage: str, vdisk: str, data_dir: Path) -> Path:
    base = data_dir / "disk" / "vdisks" if storage == "rocksdb" else Path(storage[len("rocksdb:"):])
    return base / token(vdisk)


def cluster_for(storage: str, clusters: Mapping[str, StorageCluster]) -> StorageCluster:
    if storage.startswith("cluster:"):
        label = storage[len("cluster:"):]
        if label not in clusters:
            raise VdiskConfigError(f"storage cluster '{label}' is not declared")
        return clusters[label]
    return StorageCluster.from_url(storage)


async def open_store(config: VdiskConfig, *, data_dir: Path,
                     clusters: Mapping[str, StorageCluster] | None = None,
                     storage: str | None = None,
                     on_error: Callable[[str], Awaitable[None]] | None = None) -> BlockStore:
    """Open the vdisk's storage (`storage` overrides the config's, e.g. for a template)."""
    storage = storage or config.storage
    check_storage(storage, clusters)
    if storage.startswith("rocksdb"):
        path = rocks_path(storage, config.name, data_dir)
        return await asyncio.to_thread(RocksStore, path, config.block_size, config.deduped)
    return RedisStore(cluster_for(storage, clusters or {}), config.name, config.block_size,
                      config.deduped, on_error=on_error)
