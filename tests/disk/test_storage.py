"""One contract, every block store: embedded RocksDB and a Redis-protocol cluster (real
redis-server processes), deduped and not; plus the upstream key layout and sharding."""

from __future__ import annotations

import hashlib
from pathlib import Path
from collections.abc import AsyncIterator, Callable

import pytest
import redis as redis_sync

from zos.disk import (BlockDevice, RedisStore, RocksStore, StorageCluster, StorageError, StorageServer,
                      TemplateFilter, VdiskConfigError, jump_hash)

from .conftest import unique

BS = 4096


@pytest.fixture(scope="module")
def cluster_urls(redis_factory: Callable[[], str]) -> list[str]:
    return [redis_factory() for _ in range(3)]


def cluster_of(urls: list[str]) -> StorageCluster:
    return StorageCluster.from_url("redis://" + ",".join(u[len("redis://"):] for u in urls))


@pytest.fixture(params=["rocks", "rocks-dedup", "redis", "redis-dedup"])
async def store(request, tmp_path: Path, cluster_urls: list[str]) -> AsyncIterator:
    deduped = request.param.endswith("dedup")
    if request.param.startswith("rocks"):
        made = RocksStore(tmp_path / "store", BS, deduped)
    else:
        made = RedisStore(cluster_of(cluster_urls), unique("store"), BS, deduped)
    yield made
    await made.destroy()


def block(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (BS // 32)


async def test_contract_set_get_delete(store) -> None:
    assert await store.get_blocks([0, 1, 500]) == [None, None, None]
    await store.set_blocks([(i, block(i)) for i in range(300)])
    got = await store.get_blocks(list(range(300)))
    assert got == [block(i) for i in range(300)]
    await store.set_blocks([(7, None), (8, block(80)), (8, block(81))])   # applied in order
    assert await store.get_blocks([7, 8, 9]) == [None, block(81), block(9)]
    await store.flush()


async def test_contract_allocated_and_scan(store) -> None:
    await store.set_blocks([(i, block(i)) for i in (3, 4, 130, 131, 1000)])
    await store.set_blocks([(4, None)])
    await store.flush()
    assert await store.allocated(0, 200) == {3, 130, 131}
    assert await store.allocated(131, 1001) == {131, 1000}
    assert dict([item async for item in store.scan()]) == {i: block(i) for i in (3, 130, 131, 1000)}


async def test_contract_meta(store) -> None:
    assert await store.get_meta("lfseq") is None
    await store.set_meta("lfseq", b"42")
    assert await store.get_meta("lfseq") == b"42"


async def test_rocks_store_survives_reopen(tmp_path: Path) -> None:
    store = RocksStore(tmp_path / "s", BS, deduped=True)
    await store.set_blocks([(0, block(1)), (1, block(1)), (2, block(2))])
    await store.close()
    store = RocksStore(tmp_path / "s", BS, deduped=True)
    assert await store.get_blocks([0, 1, 2, 3]) == [block(1), block(1), block(2), None]
    assert store.content_count() == 2                     # identical blocks stored once
    await store.destroy()
    assert not (tmp_path / "s").exists()


async def test_redis_nondeduped_layout_and_modulo_sharding(cluster_urls: list[str]) -> None:
    name = unique("layout")
    store = RedisStore(cluster_of(cluster_urls), name, BS, deduped=False)
    await store.set_blocks([(i, block(i)) for i in range(9)])
    await store.set_meta("lfseq", b"7")
    clients = [redis_sync.Redis.from_url(u) for u in cluster_urls]
    for i in range(9):
        for n, client in enumerate(clients):     # HSET nondedup:<vdisk> <index> on server index % 3
            assert client.hexists(f"nondedup:{name}", str(i)) == (i % 3 == n)
    assert clients[0].hget(f"tlog:{name}", "lfseq") == b"7"
    await store.set_blocks([(4, None)])
    assert not clients[1].hexists(f"nondedup:{name}", "4")
    await store.destroy()
    assert not any(c.exists(f"nondedup:{name}", f"tlog:{name}") for c in clients)


async def test_redis_dedup_stores_identical_blocks_once(cluster_urls: list[str]) -> None:
    name = unique("dedup")
    store = RedisStore(cluster_of(cluster_urls), name, BS, deduped=True)
    same = b"\xab" * BS
    await store.set_blocks([(i, same) for i in range(200)] + [(500, block(1))])
    await store.flush()
    clients = [redis_sync.Redis.from_url(u) for u in cluster_urls]
    digest = hashlib.blake2b(same, digest_size=32).digest()
    holders = [c for c in clients if c.exists(digest)]
    assert len(holders) == 1 and holders[0] is clients[digest[0] % 3]    # sharded by hash[0]
    assert holders[0].get(digest) == same
    # LBA: sector = 128 raw hashes; sector 0 on server 0, sector 1 on server 1 (sectorIndex % 3)
    sector0 = clients[0].hget(f"lba:{name}", "0")
    assert len(sector0) == 4096 and sector0[:32] == digest and sector0[32:64] == digest
    assert clients[1].hget(f"lba:{name}", "1")[:32] == digest
    at = (500 % 128) * 32                                  # block 500 lives in sector 3, on server 0
    assert clients[0].hget(f"lba:{name}", "3")[at:at + 32] == hashlib.blake2b(block(1), digest_size=32).digest()
    # a fresh store (empty sector cache) reads it all back
    again = RedisStore(cluster_of(cluster_urls), name, BS, deduped=True)
    assert await again.get_blocks([0, 199, 200, 500]) == [same, same, None, block(1)]
    await again.close()
    await store.destroy()


def test_cluster_rules() -> None:
    servers = tuple(StorageServer(f"127.0.0.1:{7000 + n}") for n in range(4))
    cluster = StorageCluster(servers)
    assert [cluster.shard(i) for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    rip = StorageCluster(servers[:2] + (StorageServer("", state="rip"),) + servers[3:])
    for i in range(200):
        assert rip.shard(i) != 2
        if i % 4 != 2:
            assert rip.shard(i) == i % 4           # only a rip server's objects move
    offline = StorageCluster(servers[:1] + (StorageServer("127.0.0.1:1", state="offline"),))
    with pytest.raises(StorageError, match="offline"):
        offline.shard(1)
    assert offline.shard(2) == 0
    with pytest.raises(VdiskConfigError):
        StorageCluster.from_url("redis://nohost")
    with pytest.raises(VdiskConfigError):
        StorageServer("127.0.0.1:1", state="gone")
    # Go's jump.Hash reference values (github.com/dgryski/go-jump tests)
    assert [jump_hash(1, 1), jump_hash(42, 57), jump_hash(0xDEAD10CC, 1), jump_hash(0xDEAD10CC, 666),
            jump_hash(256, 1024)] == [0, 43, 0, 361, 520]


async def test_template_copy_on_read(tmp_path: Path, cluster_urls: list[str]) -> None:
    image = RedisStore(cluster_of(cluster_urls[:2]), unique("image"), BS, deduped=False)
    await image.set_blocks([(i, block(i)) for i in range(10)])
    primary = RocksStore(tmp_path / "p", BS, deduped=False)
    vdisk = TemplateFilter(primary, image)
    device = BlockDevice(vdisk, 64 * BS)
    assert await device.pread(BS, 2 * BS) == block(1) + block(2)
    await vdisk.flush()                                # background copy-back has landed
    assert await primary.get_blocks([1, 2, 3]) == [block(1), block(2), None]
    await device.pwrite(3 * BS, b"\x01" * BS)
    await device.trim(4 * BS, BS)                       # trimmed: the template must not show through
    assert await device.pread(3 * BS, 2 * BS) == b"\x01" * BS + bytes(BS)
    assert await vdisk.allocated(0, 12) == {0, 1, 2, 3, 5, 6, 7, 8, 9}
    await vdisk.close()
    await image.destroy()


async def test_unreachable_storage_is_a_storage_error() -> None:
    store = RedisStore(StorageCluster.from_url("redis://127.0.0.1:1"), unique("down"), BS, False)
    with pytest.raises(StorageError, match="127.0.0.1:1|Connect"):
        await store.get_blocks([0])
    await store.close()
