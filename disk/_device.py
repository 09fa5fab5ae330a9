"""Byte ranges to blocks: the layer the NBD server talks to (spec §3 "Writes", §5.4, §5.5).

`BlockDevice` splits requests at block boundaries, does read-modify-write of partial blocks
under a per-block lock, turns all-zero blocks into deletes (so they stay holes) and counts
I/O for the statistics publisher. Below it sits any `BlockStore` (storage plus filters).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from ._backend import Block, BlockStore
from .nbd import Unsupported

HOLE = 0x1
ZERO = 0x2


class FastZeroUnsupported(Unsupported):
    """A fast zero would need a read-modify-write of a partial block."""


@dataclasses.dataclass
class IoCounters:
    """What happened since the last statistics sample (reset by `take`)."""

    read_ops: int = 0
    read_bytes: int = 0
    write_ops: int = 0
    write_bytes: int = 0
    flushes: int = 0
    flush_ns: list[int] = dataclasses.field(default_factory=list)

    def take(self) -> IoCounters:
        taken = dataclasses.replace(self, flush_ns=list(self.flush_ns))
        self.read_ops = self.read_bytes = self.write_ops = self.write_bytes = self.flushes = 0
        self.flush_ns.clear()
        return taken


class BlockDevice:
    """A vdisk as a byte-addressed device of `size` bytes over a `BlockStore`."""

    def __init__(self, store: BlockStore, size: int, *, read_only: bool = False) -> None:
        self.store = store
        self.block_size = store.block_size
        self.size = size
        self.read_only = read_only
        self.counters = IoCounters()
        self._zero = bytes(self.block_size)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}

    # -- per-block locks for read-modify-write ----------------------------------------------
    async def _lock(self, index: int) -> asyncio.Lock:
        lock = self._locks.setdefault(index, asyncio.Lock())
        self._waiters[index] = self._waiters.get(index, 0) + 1
        await lock.acquire()
        return lock

    def _unlock(self, index: int, lock: asyncio.Lock) -> None:
        lock.release()
        self._waiters[index] -= 1
        if not self._waiters[index]:
            del self._waiters[index]
            del self._locks[index]

    def _normalise(self, data: bytes) -> Block:
        return None if data == self._zero else data

    # -- reads ------------------------------------------------------------------------------
    async def read_extents(self, offset: int, length: int) -> list[tuple[int, int, list[bytes] | None]]:
        """The range as runs `(offset, length, parts)`: `parts` is the run's data as a list of
        byte strings (sent with one writev, never joined), `None` for holes (absent blocks)."""
        bs = self.block_size
        first, last = offset // bs, (offset + length - 1) // bs
        blocks = await self.store.get_blocks(range(first, last + 1))
        self.counters.read_ops += 1
        self.counters.read_bytes += length
        if offset % bs == 0 and length % bs == 0 and None not in blocks \
                and sum(map(len, blocks)) == length:
            return [(offset, length, blocks)]     # the common case: whole blocks, all present
        runs: list[tuple[int, int, list[bytes] | None]] = []
        run_start, run_parts, run_hole = offset, [], None
        end = offset + length
        for i, block in zip(range(first, last + 1), blocks, strict=True):
            lo, hi = max(offset, i * bs), min(end, (i + 1) * bs)
            hole = block is None
            if run_hole is not None and hole != run_hole:
                runs.append((run_start, lo - run_start, None if run_hole else run_parts))
                run_start, run_parts = lo, []
            run_hole = hole
            if not hole:
                if len(block) < bs:  # a short stored block reads zero-padded
                    block = block + bytes(bs - len(block))
                run_parts.append(block if hi - lo == bs else block[lo - i * bs:hi - i * bs])
        runs.append((run_start, end - run_start, None if run_hole else run_parts))
        return runs

    async def pread_parts(self, offset: int, length: int) -> list[bytes]:
        """The range's bytes as a list of parts (holes as zero bytes)."""
        parts: list[bytes] = []
        for _, n, data in await self.read_extents(offset, length):
            if data is None:
                parts.append(bytes(n))
            else:
                parts.extend(data)
        return parts

    async def pread(self, offset: int, length: int) -> bytes:
        return b"".join(await self.pread_parts(offset, length))

    # -- writes -----------------------------------------------------------------------------
    async def _apply(self, offset: int, length: int, piece) -> None:
        """Write `piece(lo, hi)` (bytes, or None for zeroes) over [offset, offset+length)."""
        bs = self.block_size
        end = offset + length
        full: list[tuple[int, Block]] = []
        partial: list[tuple[int, int, int]] = []
        for i in range(offset // bs, (end - 1) // bs + 1):
            lo, hi = max(offset, i * bs), min(end, (i + 1) * bs)
            if hi - lo == bs:
                data = piece(lo, hi)
                full.append((i, None if data is None else self._normalise(data)))
            else:
                partial.append((i, lo, hi))
        if full:
            busy = [i for i, _ in full if i in self._locks]
            if busy:  # an RMW of one of these blocks is running: serialise behind it
                locks = [(i, await self._lock(i)) for i in busy]
                try:
                    await self.store.set_blocks(full)
                finally:
                    for i, lock in locks:
                        self._unlock(i, lock)
            else:
                await self.store.set_blocks(full)
        if partial:
            await asyncio.gather(*(self._merge(i, lo, hi, piece) for i, lo, hi in partial))

    async def _merge(self, index: int, lo: int, hi: int, piece) -> None:
        bs = self.block_size
        lock = await self._lock(index)
        try:
            (old,) = await self.store.get_blocks([index])
            data = piece(lo, hi)
            if old is None and data is None:
                return  # zeroing part of a hole: already zero
            block = bytearray(old or self._zero)
            if len(block) < bs:
                block.extend(bytes(bs - len(block)))
            block[lo - index * bs:hi - index * bs] = data if data is not None else bytes(hi - lo)
            await self.store.set_blocks([(index, self._normalise(bytes(block)))])
        finally:
            self._unlock(index, lock)

    async def pwrite(self, offset: int, data: bytes, fua: bool = False) -> None:
        view = memoryview(data)
        await self._apply(offset, len(data), lambda lo, hi: bytes(view[lo - offset:hi - offset]))
        self.counters.write_ops += 1
        self.counters.write_bytes += len(data)
        if fua:
            await self.flush()

    async def zero(self, offset: int, length: int, fua: bool = False, fast: bool = False) -> None:
        """Zero a range; whole blocks become holes (NO_HOLE is satisfied: zeros read back)."""
        bs = self.block_size
        if fast and (offset % bs or (offset + length) % bs and offset + length != self.size):
            raise FastZeroUnsupported(f"fast zero of [{offset}, {offset + length}) touches a partial block")
        await self._apply(offset, length, lambda lo, hi: None)
        self.counters.write_ops += 1
        if fua:
            await self.flush()

    async def trim(self, offset: int, length: int, fua: bool = False) -> None:
        """Drop whole blocks; a partial block is left alone (TRIM is advisory)."""
        bs = self.block_size
        first, stop = -(-offset // bs), (offset + length) // bs
        if stop > first:
            await self.store.set_blocks([(i, None) for i in range(first, stop)])
        self.counters.write_ops += 1
        if fua:
            await self.flush()

    async def flush(self) -> None:
        started = time.monotonic_ns()
        await self.store.flush()
        self.counters.flushes += 1
        self.counters.flush_ns.append(time.monotonic_ns() - started)

    # -- allocation map ---------------------------------------------------------------------
    async def block_status(self, offset: int, length: int, max_blocks: int = 1024,
                           one: bool = False) -> list[tuple[int, int]]:
        """`base:allocation` extents `(length, flags)` from `offset`: absent blocks are
        HOLE|ZERO. Covers at most `max_blocks` blocks (the client asks again for the rest)."""
        bs = self.block_size
        first = offset // bs
        stop = min((offset + length - 1) // bs + 1, first + max_blocks)
        present = await self.store.allocated(first, stop)
        end = min(offset + length, stop * bs)
        extents: list[tuple[int, int]] = []
        pos = offset
        for i in range(first, stop):
            hi = min(end, (i + 1) * bs)
            flags = 0 if i in present else HOLE | ZERO
            if extents and extents[-1][1] == flags:
                extents[-1] = (extents[-1][0] + hi - pos, flags)
            else:
                if one and extents:
                    break
                extents.append((hi - pos, flags))
            pos = hi
        return extents

    async def close(self) -> None:
        await self.store.close()
