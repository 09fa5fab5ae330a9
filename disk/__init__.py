"""`zos.disk`: vdisks served over NBD, stored as blocks, logged on JetStream (0-Disk).

The request path reads like the file list: `nbd/` (handshake, protocol, server) →
`_serve.VdiskExports` → `_pool.VdiskPool` (one shared device per vdisk) →
`_device.BlockDevice` (bytes → blocks) → filters (`_tlog.TlogFilter`,
`_backend.TemplateFilter`) → storage (`_storage_rocks`, `_storage_redis`). `_registry` learns
vdisks from the event log; `_tools` and `_export` are the `zos disk` verbs.
"""

from ._backend import Block, BlockStore, TemplateFilter
from ._cluster import StorageCluster, StorageServer, jump_hash
from ._device import BlockDevice, IoCounters
from ._errors import (DiskError, RestoreError, StorageBusy, StorageError, TlogError, VdiskConfigError,
                      VdiskExists, VdiskNotFound)
from ._export import SnapshotError, export_vdisk, import_vdisk, read_header
from ._pool import TlogSettings, VdiskPool
from ._registry import Registry, load_registry
from ._serve import ServeOptions, VdiskExports, serve
from ._stats import io_sample, publish_stats
from ._storage_redis import RedisStore
from ._storage_rocks import RocksStore
from ._stores import check_storage, open_store, rocks_path
from ._tlog import TlogFilter, read_records, state_at
from ._tools import (copy_vdisk, create_cluster, create_vdisk, delete_vdisk, export_snapshot,
                     import_snapshot, opened, resize_vdisk, restore_vdisk, vdisk_info)
from ._vdisk import TYPES, VdiskConfig, make_vdisk, parse_size

__all__ = [
    "Block",
    "BlockDevice",
    "BlockStore",
    "DiskError",
    "IoCounters",
    "RedisStore",
    "Registry",
    "RestoreError",
    "RocksStore",
    "ServeOptions",
    "SnapshotError",
    "StorageBusy",
    "StorageCluster",
    "StorageError",
    "StorageServer",
    "TYPES",
    "TemplateFilter",
    "TlogError",
    "TlogFilter",
    "TlogSettings",
    "VdiskConfig",
    "VdiskConfigError",
    "VdiskExists",
    "VdiskExports",
    "VdiskNotFound",
    "VdiskPool",
    "check_storage",
    "copy_vdisk",
    "create_cluster",
    "create_vdisk",
    "delete_vdisk",
    "export_snapshot",
    "export_vdisk",
    "import_snapshot",
    "import_vdisk",
    "io_sample",
    "jump_hash",
    "load_registry",
    "make_vdisk",
    "open_store",
    "opened",
    "parse_size",
    "publish_stats",
    "read_header",
    "read_records",
    "resize_vdisk",
    "restore_vdisk",
    "rocks_path",
    "serve",
    "state_at",
    "vdisk_info",
]
