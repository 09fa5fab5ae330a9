"""The embedded default store: one file per chunk in a content-addressed directory.

Layout `<root>/<hex[0:2]>/<hex id>` (256 folders: few directory creations while writing, at
most a few thousand files per folder up to a million chunks). Each file is written under a
temporary name in its folder and renamed, so readers never see half a chunk and several
processes may share the directory without locks.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._base import ChunkStore

_WRITERS = 4


class DirStore(ChunkStore):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = f"file://{self.root}"
        self._base = os.fspath(self.root)
        self._made: set[str] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _path(self, chunk_id: bytes) -> str:
        name = chunk_id.hex() if len(chunk_id) == 16 else chunk_id.decode("ascii")
        return f"{self._base}/{name[0:2]}/{name}"

    def path_of(self, chunk_id: bytes) -> Path:
        return Path(self._path(chunk_id))

    def get(self, chunk_id: bytes) -> bytes | None:
        try:
            with open(self._path(chunk_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def set(self, chunk_id: bytes, data: bytes) -> None:
        path = self._path(chunk_id)
        folder = path.rpartition("/")[0]
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        temp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)

    def set_many(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Several writers at once: file creation dominates and the syscalls release the GIL."""
        items = list(items)
        if len(items) < 8:
            for chunk_id, data in items:
                self.set(chunk_id, data)
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(_WRITERS, "dirstore")
        for _ in self._pool.map(lambda item: self.set(*item), items):
            pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def exists_many(self, chunk_ids: Sequence[bytes]) -> list[bool]:
        return [os.path.exists(self._path(chunk_id)) for chunk_id in chunk_ids]

    def delete(self, chunk_id: bytes) -> None:
        try:
            os.unlink(self._path(chunk_id))
        except FileNotFoundError:
            pass
