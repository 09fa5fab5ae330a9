"""Errors of the chunk stores and the chunk pipeline.

    StoreError
    ├── StoreURLError          a store URL that cannot be used
    └── StoreUnavailableError  the server did not answer (connection, timeout, 5xx)
    ChunkError
    ├── ChunkMissingError      no store holds the chunk
    └── ChunkCorruptError      the bytes do not verify (id, key or length word)
"""

from __future__ import annotations


class StoreError(Exception):
    """A chunk store could not do what was asked."""


class StoreURLError(StoreError, ValueError):
    """A store URL with an unknown scheme or missing parts."""


class StoreUnavailableError(StoreError):
    """The store's server could not be reached or failed."""


class ChunkError(Exception):
    """A chunk could not be produced."""


class ChunkMissingError(ChunkError):
    """No store holds the chunk `id`."""

    def __init__(self, chunk_id: bytes, tried: list[str]) -> None:
        self.chunk_id = chunk_id
        self.tried = tried
        where = ", ".join(tried) or "no store configured"
        super().__init__(f"chunk {chunk_id.hex()} is in no store (tried: {where})")


class ChunkCorruptError(ChunkError):
    """The chunk's bytes fail a check: the id hash, the length word or the key hash."""

    def __init__(self, chunk_id: bytes, reason: str) -> None:
        self.chunk_id = chunk_id
        self.reason = reason
        super().__init__(f"chunk {chunk_id.hex()} is corrupt: {reason}")
