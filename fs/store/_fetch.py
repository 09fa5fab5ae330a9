"""Reading a chunk from an ordered list of stores, and writing chunks in verified batches."""

from __future__ import annotations

import collections
import concurrent.futures

from collections.abc import Sequence

from ._base import ChunkStore
from ._codec import decode_chunk, encode_chunk
from ._errors import ChunkCorruptError, ChunkMissingError, StoreError


def fetch_chunk(stores: Sequence[ChunkStore], chunk_id: bytes, key: bytes, verify_id: bool = True) -> bytes:
    """GET -> verify id -> decrypt -> decompress -> verify key, store after store (spec §8.2, §9.3).

    A miss, an unreachable store or bytes that do not verify move on to the next store;
    when none gives a good chunk, ChunkMissingError names every store and why it failed.
    """
    tried: list[str] = []
    for store in stores:
        try:
            cipher = store.get(chunk_id)
        except StoreError as exc:
            tried.append(f"{store.url}: {exc}")
            continue
        if cipher is None:
            tried.append(f"{store.url}: absent")
            continue
        try:
            return decode_chunk(cipher, chunk_id, key, verify_id)
        except ChunkCorruptError as exc:
            tried.append(f"{store.url}: {exc.reason}")
    raise ChunkMissingError(chunk_id, tried)


class ChunkUploader:
    """Encodes plaintext chunks and stores them EXISTS-then-SET in batches (one round trip per
    batch on network stores). Batches are stored by a background thread while the caller goes
    on reading and encoding (at most two batches in flight); `flush()` waits for all of them
    and re-raises a store error."""

    def __init__(self, store: ChunkStore, batch_bytes: int = 8 << 20, batch_count: int = 256,
                 background: bool = True) -> None:
        self.store = store
        self.batch_bytes = batch_bytes
        self.batch_count = batch_count
        self._pending: dict[bytes, bytes] = {}
        self._pending_bytes = 0
        self._seen: set[bytes] = set()
        self.background = background
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: collections.deque[concurrent.futures.Future[int]] = collections.deque()
        self.chunks = 0
        self.chunks_new = 0
        self.bytes_in = 0

    def add(self, plain: bytes) -> tuple[bytes, bytes]:
        """Encode one plaintext chunk; returns (id, key)."""
        chunk_id, key, cipher = encode_chunk(plain)
        self.chunks += 1
        self.bytes_in += len(plain)
        if chunk_id not in self._seen:
            self._seen.add(chunk_id)
            self._pending[chunk_id] = cipher
            self._pending_bytes += len(cipher)
            if self._pending_bytes >= self.batch_bytes or len(self._pending) >= self.batch_count:
                self._submit()
        return chunk_id, key

    def _submit(self) -> None:
        items = list(self._pending.items())
        self._pending.clear()
        self._pending_bytes = 0
        if not items:
            return
        if not self.background:
            self.chunks_new += self.store.put_missing(items)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "chunk-upload")
        self._inflight.append(self._pool.submit(self.store.put_missing, items))
        while len(self._inflight) > 2:
            self.chunks_new += self._inflight.popleft().result()

    def flush(self) -> None:
        """Store everything added so far; returns when it is stored (or raises)."""
        self._submit()
        try:
            while self._inflight:
                self.chunks_new += self._inflight.popleft().result()
        finally:
            for future in self._inflight:
                future.cancel()

    def close(self) -> None:
        """Stop the background thread (a later batch starts a new one)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
