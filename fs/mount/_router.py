"""Storage routing: where a chunk comes from (spec §9.3, issue 7).

Order: the shared plaintext cache, then per layer the local default store (`DATA/chunks`), the
flist's `metadata.backend`, then the `--storage` fallbacks. Each store gets a few attempts with
backoff, all within one deadline per chunk (`timeout`): a store that hangs costs at most the
deadline, then the read fails with EIO instead of hanging. A miss or a chunk that does not verify
(id or key hash, length) moves on to the next store and is never cached. One fetch per chunk at a
time (single-flight): concurrent readers of a chunk wait for the same fetch.

Every method here blocks: call from worker threads, never from the event loop.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence

from zos.fs import Block, ChunkCorruptError, ChunkStore, StoreError, decode_chunk

from ._cache import ChunkCache
from ._stats import MountStats

log = logging.getLogger("zos.fs.mount")


class ChunkFetchError(Exception):
    """No store gave a good copy of a chunk: read fails with EIO. `kind` is missing, corrupt
    or timeout (the worst seen); `tried` says what each store answered."""

    def __init__(self, chunk_id: bytes, kind: str, tried: list[str]) -> None:
        self.chunk_id = chunk_id
        self.kind = kind
        self.tried = tried
        super().__init__(f"chunk {chunk_id.hex()} unavailable ({kind}): " + ("; ".join(tried) or "no store"))


class Router:
    def __init__(self, cache: ChunkCache, stores: Sequence[Sequence[ChunkStore]], stats: MountStats, *,
                 timeout: float = 30.0, attempts: int = 3, verify_id: bool = True, verify_cache: bool = True,
                 memory_bytes: int = 32 << 20, workers: int = 16,
                 on_error: Callable[[ChunkFetchError], None] | None = None) -> None:
        self.cache = cache
        self.stores = [list(layer) for layer in stores]
        self.stats = stats
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.verify_id = verify_id
        self.verify_cache = verify_cache  # re-hash hits: what makes the cache crash-safe without fsync
        self.on_error = on_error
        self.memory_bytes = memory_bytes
        self._memory: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._memory_total = 0
        self._lock = threading.Lock()
        self._inflight: dict[bytes, concurrent.futures.Future[bytes]] = {}
        # Store calls run here so that a hung socket cannot hold a read past its deadline.
        self._io = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="zos-fs-store")
        self._evictions_seen = cache.evictions

    def in_memory(self, chunk_id: bytes) -> bool:
        with self._lock:
            return chunk_id in self._memory

    def from_memory(self, chunk_id: bytes) -> bytes | None:
        """The chunk if it is in the in-memory LRU (never blocks: usable on the event loop)."""
        with self._lock:
            data = self._memory.get(chunk_id)
            if data is not None:
                self._memory.move_to_end(chunk_id)
        if data is not None:
            self.stats.add(cache_hits=1)
        return data

    def chunk(self, block: Block, layer: int, expected: int | None = None, prefetch: bool = False) -> bytes:
        """Verified plaintext of `block` (of a file in layer `layer`); ChunkFetchError if none."""
        with self._lock:
            data = self._memory.get(block.id)
            if data is not None:
                self._memory.move_to_end(block.id)
        if data is not None:
            if not prefetch:
                self.stats.add(cache_hits=1)
            return data
        with self.cache.pinned(block.id):
            data = self.cache.get(block.id, block.key if self.verify_cache else None)
        if data is not None and (expected is None or len(data) == expected):
            if not prefetch:
                self.stats.add(cache_hits=1)
            self._remember(block.id, data)
            return data
        with self._lock:
            future = self._inflight.get(block.id)
            owner = future is None
            if owner:
                future = concurrent.futures.Future()
                self._inflight[block.id] = future
        assert future is not None
        if not owner:
            return future.result()
        if not prefetch:
            self.stats.add(cache_misses=1)
        try:
            data = self._fetch(block, layer, expected)
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(block.id, None)
            future.set_exception(exc)
            # (errors are counted once per failed request by the FUSE layer, not here)
            if isinstance(exc, ChunkFetchError) and not prefetch and self.on_error is not None:
                self.on_error(exc)
            raise
        self.stats.add(chunks_fetched=1, fetched_bytes=len(data), prefetched=1 if prefetch else 0)
        # Make the chunk findable (memory, then disk) before leaving single-flight, so a
        # reader arriving in between never fetches it a second time.
        self._remember(block.id, data)
        with self.cache.pinned(block.id):
            try:
                self.cache.put(block.id, data)
            except OSError as exc:
                log.warning("cannot write chunk %s to the cache: %s", block.id.hex(), exc)
        with self._lock:
            self._inflight.pop(block.id, None)
        future.set_result(data)
        evictions = self.cache.evictions
        if evictions != self._evictions_seen:
            self.stats.add(evictions=evictions - self._evictions_seen)
            self._evictions_seen = evictions
        return data

    def _remember(self, chunk_id: bytes, data: bytes) -> None:
        with self._lock:
            if chunk_id in self._memory:
                return
            self._memory[chunk_id] = data
            self._memory_total += len(data)
            while self._memory_total > self.memory_bytes and self._memory:
                _, old = self._memory.popitem(last=False)
                self._memory_total -= len(old)

    def _fetch(self, block: Block, layer: int, expected: int | None) -> bytes:
        started = time.monotonic_ns()
        deadline = time.monotonic() + self.timeout
        tried: list[str] = []
        kind = "missing"
        for store in self.stores[layer]:
            delay = 0.1
            for attempt in range(self.attempts):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                future = self._io.submit(store.get, block.id)
                try:
                    cipher = future.result(timeout=remaining)
                except concurrent.futures.TimeoutError:
                    tried.append(f"{store.url}: no answer within {self.timeout:g}s")
                    kind = "timeout"
                    break
                except StoreError as exc:
                    if attempt == self.attempts - 1:
                        tried.append(f"{store.url}: {exc}")
                        kind = "unavailable" if kind == "missing" else kind
                    else:
                        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                        delay *= 4
                    continue
                if cipher is None:
                    tried.append(f"{store.url}: absent")
                    break
                try:
                    plain = decode_chunk(cipher, block.id, block.key, self.verify_id)
                except ChunkCorruptError as exc:
                    tried.append(f"{store.url}: corrupt ({exc.reason})")
                    kind = "corrupt"
                    break
                if expected is not None and len(plain) != expected:
                    tried.append(f"{store.url}: {len(plain)} bytes, expected {expected}")
                    kind = "corrupt"
                    break
                self.stats.latency(time.monotonic_ns() - started)
                return plain
            if deadline - time.monotonic() <= 0:
                if kind == "missing":
                    kind = "timeout"
                break
        raise ChunkFetchError(block.id, kind, tried)

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)
        for layer in self.stores:
            for store in layer:
                try:
                    store.close()
                except Exception:  # closing is best effort at unmount
                    pass
