"""The embedded block store: one RocksDB (rocksdict) directory per vdisk.

Keys (raw bytes): `n<index:u64be>` → block (non-deduped); `l<index:u64be>` → 32-byte
BLAKE2b-256 and `c<hash>` → block (deduped: identical blocks stored once); `m<name>` → metadata
such as `lfseq`. Big-endian indexes keep keys in block order, so `allocated` and `scan` are
range walks. Every RocksDB call runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import struct
import threading
from pathlib import Path
from collections.abc import AsyncIterator, Sequence

from rocksdict import DBCompressionType, Options, Rdict, WriteBatch

from ._backend import Block
from ._errors import StorageBusy, StorageError
from ._worker import BatchWorker

_U64 = struct.Struct(">Q")
SCAN_CHUNK = 256


def _open(path: Path) -> Rdict:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    # Block data is often incompressible and RocksDB calls hold the GIL: spend no CPU on it.
    options.set_compression_type(DBCompressionType.none())
    options.set_write_buffer_size(64 << 20)
    options.set_max_background_jobs(2)
    try:
        return Rdict(str(path), options)
    except Exception as exc:  # rocksdict raises plain Exception for every RocksDB status
        if "lock" in str(exc).lower():
            raise StorageBusy(f"embedded store {path} is open in another process "
                              f"(a disk server serving it?): {exc}") from exc
        raise StorageError(f"cannot open embedded store {path}: {exc}") from exc


class RocksStore:
    """`BlockStore` over one RocksDB directory."""

    # Writes reach the WAL in call order and recovery keeps a prefix of it, so metadata
    # written after blocks never survives without them (the tlog checkpoint relies on it).
    ordered = True

    def __init__(self, path: Path, block_size: int, deduped: bool) -> None:
        self.path = path
        self.block_size = block_size
        self.deduped = deduped
        self._db = _open(path)
        self._prefix = b"l" if deduped else b"n"
        self._closed = False
        # rocksdict holds the GIL while RocksDB works, so more threads add only switching:
        # one batching worker per store keeps the loop free without thrashing.
        self._worker = BatchWorker(f"rocks-{path.name}")
        # RocksDB is thread-safe; the condition only lets close() wait for running calls.
        self._cond = threading.Condition()
        self._active = 0

    async def _run(self, fn, *args):
        try:
            return await self._worker.run(self._call, fn, *args)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"embedded store {self.path}: {exc}") from exc

    def _call(self, fn, *args):
        with self._cond:
            if self._closed:
                raise StorageError(f"embedded store {self.path} is closed")
            self._active += 1
        try:
            return fn(*args)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    # -- blocks --------------------------------------------------------------------------
    def _get(self, indices: Sequence[int]) -> list[Block]:
        if not self.deduped and len(indices) > 4 and indices[-1] - indices[0] == len(indices) - 1:
            return self._get_range(indices[0], len(indices))
        keys = [self._prefix + _U64.pack(i) for i in indices]
        values = self._db[keys]
        if not self.deduped:
            return list(values)
        hashes = [v for v in values if v is not None]
        contents = iter(self._db[[b"c" + h for h in hashes]] if hashes else [])
        return [None if v is None else next(contents) for v in values]

    def _get_range(self, first: int, count: int) -> list[Block]:
        # Sequential reads: one range walk is much cheaper than `count` point lookups.
        out: list[Block] = [None] * count
        it = self._db.iter()
        it.seek(self._prefix + _U64.pack(first))
        end = self._prefix + _U64.pack(first + count)
        while it.valid():
            key = it.key()
            if key >= end:
                break
            out[_U64.unpack_from(key, 1)[0] - first] = it.value()
            it.next()
        return out

    def _set(self, items: Sequence[tuple[int, Block]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for index, data in items:
            key = self._prefix + _U64.pack(index)
            if data is None:
                batch.delete(key)
            elif self.deduped:
                digest = hashlib.blake2b(data, digest_size=32).digest()
                batch.put(b"c" + digest, data)
                batch.put(key, digest)
            else:
                batch.put(key, data)
        self._db.write(batch)

    def _allocated(self, start: int, stop: int) -> set[int]:
        found = set()
        it = self._db.iter()
        it.seek(self._prefix + _U64.pack(start))
        end = self._prefix + _U64.pack(stop)
        while it.valid():
            key = it.key()
            if key >= end or not key.startswith(self._prefix):
                break
            found.add(_U64.unpack(key[1:])[0])
            it.next()
        return found

    def _scan_from(self, start: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        it = self._db.iter()
        it.seek(self._prefix + _U64.pack(start))
        while it.valid() and len(out) < SCAN_CHUNK:
            key = it.key()
            if not key.startswith(self._prefix):
                break
            value = it.value()
            if self.deduped:
                value = self._db[b"c" + value]
            out.append((_U64.unpack(key[1:])[0], value))
            it.next()
        return out

    async def get_blocks(self, indices: Sequence[int]) -> list[Block]:
        return await self._run(self._get, indices)

    async def set_blocks(self, items: Sequence[tuple[int, Block]]) -> None:
        if items:
            await self._run(self._set, items)

    async def allocated(self, start: int, stop: int) -> set[int]:
        return await self._run(self._allocated, start, stop)

    async def scan(self) -> AsyncIterator[tuple[int, bytes]]:
        start = 0
        while True:
            chunk = await self._run(self._scan_from, start)
            for item in chunk:
                yield item
            if len(chunk) < SCAN_CHUNK:
                return
            start = chunk[-1][0] + 1

    def content_count(self) -> int:
        """How many distinct content blocks a deduped store holds (for tools and tests)."""
        count = 0
        it = self._db.iter()
        it.seek(b"c")
        while it.valid() and it.key().startswith(b"c"):
            count += 1
            it.next()
        return count

    # -- metadata and lifecycle ------------------------------------------------------------
    async def get_meta(self, key: str) -> bytes | None:
        return await self._run(self._db.get, b"m" + key.encode())

    async def set_meta(self, key: str, value: bytes) -> None:
        await self._run(self._db.put, b"m" + key.encode(), value)

    async def flush(self) -> None:
        await self._run(self._db.flush_wal, True)

    def _close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._active:
                self._cond.wait()
        self._db.flush_wal(True)
        self._db.close()

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self._worker.run(self._close)
        finally:
            self._worker.stop()

    async def destroy(self) -> None:
        await self.close()
        await asyncio.to_thread(shutil.rmtree, self.path, True)
