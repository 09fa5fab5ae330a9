"""Block storage on a cluster of Redis-protocol servers, in upstream 0-Disk's key layout.

Non-deduped: `HSET nondedup:<vdisk> <index> <block>`, sharded by block index.
Deduped: content `SET <32-byte BLAKE2b-256> <block>` sharded by the hash's first byte, and
LBA sectors `HSET lba:<vdisk> <sectorIndex> <128 × 32-byte hashes>` sharded by sector index
(spec §3). Sectors are cached in memory and written back on `flush()`. The last flushed tlog
sequence is `HSET tlog:<vdisk> lfseq <n>` on the first online server. Integers are decimal
ASCII, as upstream's redigo sent them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import redis.asyncio as aioredis
import redis.exceptions

from ._backend import Block
from ._cluster import StorageCluster
from ._errors import StorageError

SECTOR_HASHES = 128
HASH_SIZE = 32
SECTOR_SIZE = SECTOR_HASHES * HASH_SIZE
_NO_HASH = bytes(HASH_SIZE)


class RedisStore:
    """`BlockStore` for one vdisk over a `StorageCluster` (one connection pool per server)."""

    def __init__(self, cluster: StorageCluster, vdisk: str, block_size: int, deduped: bool,
                 on_error: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.cluster = cluster
        self.vdisk = vdisk
        self.block_size = block_size
        self.deduped = deduped
        self.on_error = on_error
        self._clients = [aioredis.Redis(host=s.host, port=s.port, db=s.db, socket_timeout=30,
                                        socket_connect_timeout=10)
                         if s.state != "rip" else None for s in cluster.servers]
        self._key = f"{'lba' if deduped else 'nondedup'}:{vdisk}"
        self._sectors: dict[int, bytearray] = {}
        self._dirty: set[int] = set()
        self._sector_lock = asyncio.Lock()
        # Deduped LBA sectors are cached until flush(): the tlog must flush before checkpointing.
        self.ordered = not deduped

    def _client(self, index: int) -> aioredis.Redis:
        client = self._clients[index]
        assert client is not None
        return client

    async def _guard(self, what: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except (redis.exceptions.RedisError, OSError) as exc:
            message = f"storage cluster, {what} of vdisk {self.vdisk}: {exc}"
            if self.on_error:
                await self.on_error(message)
            raise StorageError(message) from exc

    def _group(self, indices: Sequence[int]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for i in indices:
            groups[self.cluster.shard(i)].append(i)
        return groups

    # -- non-deduped -------------------------------------------------------------------------
    async def _hmget(self, key: str, indices: Sequence[int]) -> dict[int, bytes | None]:
        out: dict[int, bytes | None] = {}

        async def one(server: int, part: list[int]) -> None:
            values = await self._client(server).hmget(key, [str(i) for i in part])
            out.update(zip(part, values, strict=True))
        await asyncio.gather(*(one(s, p) for s, p in self._group(indices).items()))
        return out

    async def get_blocks(self, indices: Sequence[int]) -> list[Block]:
        if not indices:
            return []
        if not self.deduped:
            found = await self._guard("read", self._hmget(self._key, indices))
            return [found[i] for i in indices]
        return await self._guard("read", self._get_deduped(indices))

    async def set_blocks(self, items: Sequence[tuple[int, Block]]) -> None:
        if not items:
            return
        if self.deduped:
            await self._guard("write", self._set_deduped(items))
            return
        latest = dict(items)  # later writes of one index win, as applying in order would
        groups = self._group(list(latest))

        async def one(server: int, part: list[int]) -> None:
            pipe = self._client(server).pipeline(transaction=False)
            for i in part:
                if latest[i] is None:
                    pipe.hdel(self._key, str(i))
                else:
                    pipe.hset(self._key, str(i), latest[i])
            await pipe.execute()
        await self._guard("write", asyncio.gather(*(one(s, p) for s, p in groups.items())))

    async def allocated(self, start: int, stop: int) -> set[int]:
        if not self.deduped:
            indices = list(range(start, stop))
            found = await self._guard("block status", self._hexists(indices))
            return {i for i in indices if found[i]}
        hashes = await self._guard("block status", self._hashes(list(range(start, stop))))
        return {i for i, h in hashes.items() if h is not None}

    async def _hexists(self, indices: list[int]) -> dict[int, bool]:
        out: dict[int, bool] = {}

        async def one(server: int, part: list[int]) -> None:
            pipe = self._client(server).pipeline(transaction=False)
            for i in part:
                pipe.hexists(self._key, str(i))
            out.update(zip(part, await pipe.execute(), strict=True))
        await asyncio.gather(*(one(s, p) for s, p in self._group(indices).items()))
        return out

    # -- deduped: LBA sectors + content ---------------------------------------------------
    async def _load_sectors(self, sector_indices: set[int]) -> None:
        missing = [s for s in sector_indices if s not in self._sectors]
        if not missing:
            return
        found = await self._hmget(self._key, missing)
        for s in missing:
            if s not in self._sectors:  # another task may have loaded (and changed) it meanwhile
                raw = found[s]
                self._sectors[s] = bytearray(raw) if raw and len(raw) == SECTOR_SIZE \
                    else bytearray(SECTOR_SIZE)

    async def _hashes(self, indices: Sequence[int]) -> dict[int, bytes | None]:
        await self._load_sectors({i // SECTOR_HASHES for i in indices})
        out: dict[int, bytes | None] = {}
        for i in indices:
            at = (i % SECTOR_HASHES) * HASH_SIZE
            digest = bytes(self._sectors[i // SECTOR_HASHES][at:at + HASH_SIZE])
            out[i] = None if digest == _NO_HASH else digest
        return out

    async def _get_deduped(self, indices: Sequence[int]) -> list[Block]:
        hashes = await self._hashes(indices)
        wanted = sorted({h for h in hashes.values() if h is not None})
        groups: dict[int, list[bytes]] = defaultdict(list)
        for h in wanted:
            groups[self.cluster.shard(h[0])].append(h)
        content: dict[bytes, bytes | None] = {}

        async def one(server: int, part: list[bytes]) -> None:
            content.update(zip(part, await self._client(server).mget(part), strict=True))
        await asyncio.gather(*(one(s, p) for s, p in groups.items()))
        return [None if hashes[i] is None else content.get(hashes[i]) for i in indices]

    async def _set_deduped(self, items: Sequence[tuple[int, Block]]) -> None:
        digests = [(i, None if d is None else hashlib.blake2b(d, digest_size=HASH_SIZE).digest(), d)
                   for i, d in items]
        groups: dict[int, dict[bytes, bytes]] = defaultdict(dict)
        for _, h, d in digests:
            if h is not None:
                groups[self.cluster.shard(h[0])][h] = d

        async def one(server: int, blobs: dict[bytes, bytes]) -> None:
            # Content is immutable under its hash: SET NX skips blocks already stored.
            pipe = self._client(server).pipeline(transaction=False)
            for h, d in blobs.items():
                pipe.set(h, d, nx=True)
            await pipe.execute()
        await asyncio.gather(*(one(s, b) for s, b in groups.items()))
        # The LBA changes only after the content it points to exists.
        async with self._sector_lock:
            await self._load_sectors({i // SECTOR_HASHES for i, _, _ in digests})
            for i, h, _ in digests:
                at = (i % SECTOR_HASHES) * HASH_SIZE
                self._sectors[i // SECTOR_HASHES][at:at + HASH_SIZE] = h or _NO_HASH
                self._dirty.add(i // SECTOR_HASHES)

    async def _flush_sectors(self) -> None:
        async with self._sector_lock:
            dirty, self._dirty = self._dirty, set()
            groups = self._group(sorted(dirty))
            snapshot = {s: bytes(self._sectors[s]) for s in dirty}

        async def one(server: int, part: list[int]) -> None:
            pipe = self._client(server).pipeline(transaction=False)
            for s in part:
                if snapshot[s] == bytes(SECTOR_SIZE):
                    pipe.hdel(self._key, str(s))
                else:
                    pipe.hset(self._key, str(s), snapshot[s])
            await pipe.execute()
        try:
            await asyncio.gather(*(one(s, p) for s, p in groups.items()))
        except BaseException:
            async with self._sector_lock:
                self._dirty |= dirty  # keep them dirty: the next flush retries
            raise

    # -- scan ------------------------------------------------------------------------------
    async def scan(self) -> AsyncIterator[tuple[int, bytes]]:
        for server, client in enumerate(self._clients):
            if client is None:
                continue
            cursor = 0
            while True:
                cursor, fields = await self._guard("scan", client.hscan(self._key, cursor, count=512))
                if self.deduped:
                    indices = []
                    for field in fields:
                        s = int(field)
                        indices.extend(range(s * SECTOR_HASHES, (s + 1) * SECTOR_HASHES))
                    # Sectors must belong to this server's shard to avoid yielding twice.
                    indices = [i for i in indices if self.cluster.shard(i // SECTOR_HASHES) == server]
                    blocks = await self.get_blocks(indices) if indices else []
                    for i, b in zip(indices, blocks, strict=True):
                        if b is not None:
                            yield i, b
                else:
                    for field, value in fields.items():
                        yield int(field), value
                if cursor == 0:
                    break

    # -- metadata and lifecycle --------------------------------------------------------------
    async def get_meta(self, key: str) -> bytes | None:
        client = self._client(self.cluster.first_online())
        return await self._guard("metadata read", client.hget(f"tlog:{self.vdisk}", key))

    async def set_meta(self, key: str, value: bytes) -> None:
        client = self._client(self.cluster.first_online())
        await self._guard("metadata write", client.hset(f"tlog:{self.vdisk}", key, value))

    async def flush(self) -> None:
        if self.deduped and self._dirty:
            await self._guard("flush", self._flush_sectors())

    async def destroy(self) -> None:
        async def one(client: aioredis.Redis) -> None:
            await client.delete(self._key, f"tlog:{self.vdisk}")
        await self._guard("delete", asyncio.gather(*(one(c) for c in self._clients if c is not None)))
        self._sectors.clear()
        self._dirty.clear()
        await self.close()

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            for client in self._clients:
                if client is not None:
                    await client.aclose()
