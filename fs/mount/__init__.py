"""zos.fs.mount: 0-FS, an flist mounted with FUSE (spec shared/spec/flist-hub-fs.md §10).

    opts = MountOptions(meta="img.flist", target=Path("/mnt/img"), data_dir=Path("/var/lib/zos"),
                        storage=["redis://127.0.0.1:6379"], read_only=True, bus=BusConfig())
    run(opts)                  # blocks; prints "mount ready"; `umount(target, data_dir)` stops it

Lazy per-chunk reads through a shared, size-bounded plaintext chunk cache (`ChunkCache`),
stores tried in order with a deadline (`Router`), read-ahead (`Prefetcher`), stable inode
numbers, kernel overlayfs for read-write mounts, several flists layered (first wins), I/O
samples per interval on ZOS_IO and fs.mounted/unmounted/error on ZOS_EVENTS (bus optional).
pyfuse3 runs on asyncio; blocking work goes to worker threads (see `_daemon.py`).
"""

from ._cache import DEFAULT_CACHE_SIZE, ChunkCache
from ._daemon import MountOptions, daemonize, read_state, run, serve, state_path, umount
from ._dircache import DirCache, Listing
from ._inodes import InodeTable, path_inode
from ._layers import MountConfigError, fetch_flist, layer_stores, open_layers
from ._ops import FlistOperations
from ._overlay import OverlayError, is_mounted
from ._prefetch import Prefetcher
from ._router import ChunkFetchError, Router
from ._stats import MountStats, io_sample

__all__ = [
    "ChunkCache", "ChunkFetchError", "DEFAULT_CACHE_SIZE", "DirCache", "FlistOperations", "InodeTable",
    "Listing", "MountConfigError", "MountOptions", "MountStats", "OverlayError", "Prefetcher", "Router",
    "daemonize", "fetch_flist", "io_sample", "is_mounted", "layer_stores", "open_layers", "path_inode",
    "read_state", "run", "serve", "state_path", "umount",
]
