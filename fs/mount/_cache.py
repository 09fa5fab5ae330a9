"""The chunk cache: verified plaintext chunks in one directory shared by every mount (spec §10.5).

Layout `<dir>/<hex[0:2]>/<hex[2:4]>/<hex id>` (as rfs v1). A chunk is written to a temporary
`.<id>.<pid>.<tid>.tmp` in the same directory, then renamed: a crash leaves at most a temporary
file, which is never taken as a chunk (the start-up scan removes stale ones). A hit is checked
against the chunk's plaintext key (`B2-128(P) == key`, about 1 ms per 512 KiB) and a file that
fails (torn by a power loss, damaged on disk) is deleted and fetched again - so a partial chunk
is never served, without paying an fsync per chunk (5 ms each here: four minutes for a standard
library tree). `fsync=True` adds the fsync before the rename as well.
Size-bounded: when an insert passes `max_bytes`, least recently used chunks are deleted down to
`low_water * max_bytes`, skipping chunks pinned by in-flight reads. Another process deleting a
chunk we index is harmless: the next `get` is a miss.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("zos.fs.mount")

DEFAULT_CACHE_SIZE = 10 << 30
_STALE_TEMP = 3600.0


class ChunkCache:
    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_CACHE_SIZE,
                 low_water: float = 0.9, fsync: bool = False) -> None:
        if max_bytes <= 0:
            raise ValueError(f"cache size must be positive, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.low_water = low_water
        self.fsync = fsync
        self.rejected = 0  # hits that failed verification
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # plaintext of private flists
        self._lock = threading.Lock()
        self._index: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._pins: collections.Counter[str] = collections.Counter()
        self.total = 0
        self.evictions = 0
        self._scan()

    def path_of(self, name: str) -> Path:
        return self.root / name[0:2] / name[2:4] / name

    def _scan(self) -> None:
        """Index what is on disk, oldest access first; remove stale temporary files."""
        found = []
        now = time.time()
        for top in self.root.iterdir() if self.root.exists() else ():
            if not top.is_dir() or len(top.name) != 2:
                continue
            for folder in top.iterdir():
                if not folder.is_dir():
                    continue
                for item in os.scandir(folder):
                    st = item.stat(follow_symlinks=False)
                    if item.name.startswith("."):
                        if item.name.endswith(".tmp") and now - st.st_mtime > _STALE_TEMP:
                            _unlink(item.path)
                        continue
                    found.append((max(st.st_atime, st.st_mtime), item.name, st.st_size))
        found.sort()
        with self._lock:
            for _, name, size in found:
                self._index[name] = size
                self.total += size

    def _forget(self, name: str) -> None:
        with self._lock:
            size = self._index.pop(name, None)
            if size is not None:
                self.total -= size

    def get(self, chunk_id: bytes, key: bytes | None = None) -> bytes | None:
        """The cached plaintext, or None. With `key`, a file whose B2-128 is not `key` is
        deleted and reported as a miss."""
        name = chunk_id.hex()
        try:
            with open(self.path_of(name), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            self._forget(name)
            return None
        # 16-byte keys are B2-128 of the plaintext (G1/G2); legacy G0 keys (hex sha256) are not checked
        if key is not None and len(key) == 16 and hashlib.blake2b(data, digest_size=16).digest() != key:
            log.warning("cached chunk %s does not match its key; dropping it", name)
            self._forget(name)
            _unlink(self.path_of(name))
            self.rejected += 1
            return None
        with self._lock:
            if name in self._index:
                self._index.move_to_end(name)
            else:  # written by another mount sharing the directory
                self._index[name] = len(data)
                self.total += len(data)
        return data

    def put(self, chunk_id: bytes, data: bytes) -> None:
        """Store a verified plaintext chunk (crash-safe). Room is made first (the size is
        reserved, then LRU chunks are evicted), so the directory never holds more than the
        bound. A full disk is not an error: the caller still has the bytes."""
        name = chunk_id.hex()
        path = self.path_of(name)
        size = len(data)
        with self._lock:
            old = self._index.pop(name, None)
            if old is not None:
                self.total -= old
            self.total += size
            over = self.total > self.max_bytes
        if over:
            self.evict(int(self.max_bytes * self.low_water))
        temp = path.parent / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                handle.write(data)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, path)
        except OSError as exc:
            _unlink(temp)
            with self._lock:
                self.total -= size
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.evict(self.max_bytes // 2)
                log.warning("chunk cache %s is full; chunk %s served from memory", self.root, name)
                return
            raise
        with self._lock:
            self._index[name] = size

    def evict(self, target: int) -> int:
        """Delete least recently used, unpinned chunks until the total is at most `target`."""
        count = 0
        with self._lock:  # unlinks are quick; doing them here keeps the disk within the bound
            for name, size in list(self._index.items()):
                if self.total <= target:
                    break
                if self._pins[name]:
                    continue
                del self._index[name]
                self.total -= size
                _unlink(self.path_of(name))
                count += 1
            self.evictions += count
        return count

    @contextmanager
    def pinned(self, chunk_id: bytes) -> Iterator[None]:
        """Keep `chunk_id` from eviction while a read uses it."""
        name = chunk_id.hex()
        with self._lock:
            self._pins[name] += 1
        try:
            yield
        finally:
            with self._lock:
                self._pins[name] -= 1
                if not self._pins[name]:
                    del self._pins[name]

    def __contains__(self, chunk_id: bytes) -> bool:
        with self._lock:
            return chunk_id.hex() in self._index

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)


def _unlink(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
