"""The one chunk-store interface: every backend stores ciphertext under its 16-byte id."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence


class ChunkStore(abc.ABC):
    """get / set / exists_many / delete on ciphertext chunks keyed by raw id bytes.

    Methods block (sockets, disk): call them from a thread, never on an event loop.
    """

    url: str = ""

    @abc.abstractmethod
    def get(self, chunk_id: bytes) -> bytes | None:
        """The stored bytes, or None when the store does not hold `chunk_id`."""

    @abc.abstractmethod
    def set(self, chunk_id: bytes, data: bytes) -> None:
        """Store `data` under `chunk_id` (replacing is harmless: content-addressed)."""

    @abc.abstractmethod
    def exists_many(self, chunk_ids: Sequence[bytes]) -> list[bool]:
        """One bool per id, in order."""

    @abc.abstractmethod
    def delete(self, chunk_id: bytes) -> None:
        """Remove `chunk_id` if present."""

    def exists(self, chunk_id: bytes) -> bool:
        return self.exists_many([chunk_id])[0]

    def set_many(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        for chunk_id, data in items:
            self.set(chunk_id, data)

    def put_missing(self, items: Sequence[tuple[bytes, bytes]]) -> int:
        """EXISTS-then-SET (spec §8.1 step 6) for a batch; returns how many were new."""
        if not items:
            return 0
        present = self.exists_many([chunk_id for chunk_id, _ in items])
        missing = [item for item, there in zip(items, present, strict=True) if not there]
        self.set_many(missing)
        return len(missing)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store object is not used afterwards."""

    def __enter__(self) -> ChunkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
