"""What the NBD layer needs to know about an export, independent of vdisks."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    name: str
    size: int
    block_size: int
    read_only: bool = False
    description: str = ""
    multi_conn: bool = True


class Device(Protocol):
    """A byte-addressed device as `zos.disk.BlockDevice` provides it."""

    size: int
    block_size: int

    async def read_extents(self, offset: int, length: int) -> list[tuple[int, int, list[bytes] | None]]: ...
    async def pread_parts(self, offset: int, length: int) -> list[bytes]: ...
    async def pwrite(self, offset: int, data: bytes, fua: bool = False) -> None: ...
    async def zero(self, offset: int, length: int, fua: bool = False, fast: bool = False) -> None: ...
    async def trim(self, offset: int, length: int, fua: bool = False) -> None: ...
    async def flush(self) -> None: ...
    async def block_status(self, offset: int, length: int, max_blocks: int = 1024,
                           one: bool = False) -> list[tuple[int, int]]: ...


class Exports(Protocol):
    """The export list of one server and a way to open an export's shared device."""

    def names(self) -> list[str]: ...

    def info(self, name: str) -> ExportInfo | None: ...

    async def open(self, name: str) -> Any:
        """Acquire the shared device of an export (reference counted)."""

    async def release(self, name: str) -> None: ...
