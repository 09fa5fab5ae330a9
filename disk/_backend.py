"""The block backend contract and its filters (the nbdkit plugin/filter shape).

A `BlockStore` holds whole blocks of one vdisk, addressed by block index; `None` means the
block is absent (reads as zeros, reported as a hole). Storages (`_storage_rocks`,
`_storage_redis`) implement it; filters wrap another `BlockStore` and implement it too:
`TemplateFilter` here (lazy copy-on-read), `TlogFilter` in `_tlog.py` (write-ahead log).
`BlockDevice` in `_device.py` turns byte ranges into block calls above all of them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable
from collections.abc import AsyncIterator, Sequence

from ._errors import StorageError

log = logging.getLogger("zos.disk")

Block = bytes | None


@runtime_checkable
class BlockStore(Protocol):
    """Whole-block storage of one vdisk. Every method may raise `StorageError`."""

    block_size: int
    # True when completed writes can never be lost while later ones survive (no write-back
    # cache in the store), so a checkpoint needs no flush() first.
    ordered: bool

    async def get_blocks(self, indices: Sequence[int]) -> list[Block]:
        """The blocks at `indices`, in that order; `None` for absent ones."""

    async def set_blocks(self, items: Sequence[tuple[int, Block]]) -> None:
        """Store each `(index, data)`; `data=None` deletes the block. Applied in order."""

    async def allocated(self, start: int, stop: int) -> set[int]:
        """Indices in `[start, stop)` that hold data."""

    async def flush(self) -> None:
        """Make every completed `set_blocks` durable in the storage."""

    async def get_meta(self, key: str) -> bytes | None: ...

    async def set_meta(self, key: str, value: bytes) -> None: ...

    def scan(self) -> AsyncIterator[tuple[int, bytes]]:
        """Every present block as `(index, data)`, for copy and export."""

    async def destroy(self) -> None:
        """Delete all data of the vdisk (blocks and metadata) and close."""

    async def close(self) -> None: ...


class TemplateFilter:
    """Lazy copy-on-read from a template vdisk (spec §3 "Template").

    A block absent from the primary is read from the template and written back to the
    primary in the background, so the next read is local. A template that does not answer
    within `timeout` fails the read with `StorageError` instead of hanging the vdisk.
    """

    def __init__(self, primary: BlockStore, template: BlockStore, timeout: float = 30.0) -> None:
        self.inner = primary
        self.template = template
        self.ordered = getattr(primary, "ordered", False)
        self.block_size = primary.block_size
        self.timeout = timeout
        self._copies: set[asyncio.Task] = set()
        # Indices the primary has written or deleted itself: the template must not show through.
        self._owned: set[int] = set()

    async def get_blocks(self, indices: Sequence[int]) -> list[Block]:
        blocks = await self.inner.get_blocks(indices)
        missing = [i for i, b in zip(indices, blocks, strict=True) if b is None and i not in self._owned]
        if not missing:
            return blocks
        try:
            async with asyncio.timeout(self.timeout):
                found = await self.template.get_blocks(missing)
        except TimeoutError:
            raise StorageError(f"template did not answer within {self.timeout} s") from None
        fetched = {i: b for i, b in zip(missing, found, strict=True) if b is not None}
        if fetched:
            task = asyncio.create_task(self._copy_back(fetched))
            self._copies.add(task)
            task.add_done_callback(self._copies.discard)
        return [fetched.get(i, b) if b is None else b for i, b in zip(indices, blocks, strict=True)]

    async def _copy_back(self, fetched: dict[int, bytes]) -> None:
        # Only blocks the primary still lacks: a write that raced us wins.
        todo = [(i, d) for i, d in fetched.items() if i not in self._owned]
        try:
            await self.inner.set_blocks(todo)
        except StorageError:
            log.warning("copy-on-read of %d template blocks failed; will retry on next read",
                        len(todo), exc_info=True)

    async def set_blocks(self, items: Sequence[tuple[int, Block]]) -> None:
        self._owned.update(i for i, _ in items)
        await self.inner.set_blocks(items)

    async def allocated(self, start: int, stop: int) -> set[int]:
        mine = await self.inner.allocated(start, stop)
        theirs = await self.template.allocated(start, stop)
        return mine | {i for i in theirs if i not in self._owned}

    async def flush(self) -> None:
        if self._copies:
            await asyncio.gather(*list(self._copies), return_exceptions=True)
        await self.inner.flush()

    async def get_meta(self, key: str) -> bytes | None:
        return await self.inner.get_meta(key)

    async def set_meta(self, key: str, value: bytes) -> None:
        await self.inner.set_meta(key, value)

    async def scan(self) -> AsyncIterator[tuple[int, bytes]]:
        seen: set[int] = set()
        async for index, data in self.inner.scan():
            seen.add(index)
            yield index, data
        async for index, data in self.template.scan():
            if index not in seen and index not in self._owned:
                yield index, data

    async def destroy(self) -> None:
        await self.flush()
        await self.inner.destroy()

    async def close(self) -> None:
        await self.flush()
        await self.inner.close()
