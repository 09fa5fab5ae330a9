"""Read-ahead in the background, so that the next reads find their chunks in memory (fetched
from a store, or loaded from the disk cache - several at once, which hides disk latency too):
- within a file: when a handle reads sequentially, its next `readahead` chunks (spec §10.5,
  default 2);
- across files: on the first read of a file that reaches us (not served by the page cache),
  the first chunk of the next `readahead_files` files of
  its directory, in listing order (default 8) - what `tar`, `cp -r` or an interpreter importing
  a package read next."""

from __future__ import annotations

import concurrent.futures
import logging
import threading

from zos.fs import Entry

from ._dircache import Listing
from ._router import ChunkFetchError, Router

log = logging.getLogger("zos.fs.mount")


class Prefetcher:
    def __init__(self, router: Router, readahead: int = 2, workers: int = 4, readahead_files: int = 8) -> None:
        self.router = router
        self.readahead = readahead
        self.readahead_files = readahead_files
        self._pool = concurrent.futures.ThreadPoolExecutor(max(1, workers), thread_name_prefix="zos-fs-prefetch")
        self._lock = threading.Lock()
        self._queued: set[bytes] = set()

    def after_read(self, entry: Entry, layer: int, last_chunk: int) -> None:
        """Queue the `readahead` chunks after `last_chunk` that are not cached yet."""
        for index in range(last_chunk + 1, min(len(entry.blocks), last_chunk + 1 + self.readahead)):
            self._queue(entry, layer, index)

    def after_open(self, listing: Listing, name: bytes) -> None:
        """Queue the first chunk of the next `readahead_files` regular files after `name` (called
        on the first read of `name` that reaches the filesystem)."""
        if self.readahead_files <= 0:
            return
        position = listing.positions.get(name)
        if position is None:
            return
        for sibling in listing.names[position + 1:position + 1 + self.readahead_files]:
            entry, layer = listing.children[sibling]
            if entry.kind == "file" and entry.blocks and len(entry.blocks) == -(-entry.size // entry.chunk_size):
                self._queue(entry, layer, 0)

    def _queue(self, entry: Entry, layer: int, index: int) -> None:
        block = entry.blocks[index]
        expected = min(entry.chunk_size, entry.size - index * entry.chunk_size)
        with self._lock:
            if block.id in self._queued:
                return
        if self.router.in_memory(block.id):  # cached on disk still gets loaded: parallel disk reads
            return
        with self._lock:
            self._queued.add(block.id)
        self._pool.submit(self._one, block, layer, expected)

    def _one(self, block, layer: int, expected: int) -> None:
        try:
            self.router.chunk(block, layer, expected, prefetch=True)
        except ChunkFetchError as exc:
            log.debug("prefetch of %s failed: %s", block.id.hex(), exc)
        finally:
            with self._lock:
                self._queued.discard(block.id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
