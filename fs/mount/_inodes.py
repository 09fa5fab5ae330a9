"""Stable inode numbers (spec §10.3): a hash of the relpath, so the same path has the same
number across lookups, mounts, remounts and flist versions, and `stat`/`fstat` agree."""

from __future__ import annotations

import hashlib
import logging
import threading

ROOT_INODE = 1
log = logging.getLogger("zos.fs.mount")


def path_inode(rel: bytes, salt: int = 0) -> int:
    """B2-64 of the relpath (little endian, 63 bits); numbers below 2 are moved up by 2."""
    data = rel if salt == 0 else rel + b"\0" + str(salt).encode()
    number = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & (2**63 - 1)
    return number + 2 if number < 2 else number


class InodeTable:
    """ino <-> relpath for every path the kernel has seen (kept for the mount's life: paths
    are short and the numbers must never change under the kernel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[int, bytes] = {ROOT_INODE: b""}
        self._inos: dict[bytes, int] = {b"": ROOT_INODE}

    def inode(self, rel: bytes) -> int:
        with self._lock:
            known = self._inos.get(rel)
            if known is not None:
                return known
            salt = 0
            while True:
                number = path_inode(rel, salt)
                other = self._paths.get(number)
                if other is None:
                    break
                log.warning("inode collision: %r and %r hash to %d; rehashing", rel, other, number)
                salt += 1
            self._paths[number] = rel
            self._inos[rel] = number
            return number

    def path(self, ino: int) -> bytes | None:
        with self._lock:
            return self._paths.get(ino)

    def __len__(self) -> int:
        return len(self._paths)
