"""Chunk stores behind one interface, against real servers: redis-server, and URL parsing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from zos.fs import (ChunkUploader, DirStore, FlistBuilder, RedisStore, StoreURLError, StoreUnavailableError,
                    backend_url, encode_chunk, fetch_chunk, open_flist, open_store)


def _exercise(store) -> None:
    items = [encode_chunk(f"chunk {i}".encode() * 50) for i in range(20)]
    assert store.exists_many([i for i, _, _ in items]) == [False] * 20
    store.set(items[0][0], items[0][2])
    assert store.exists_many([items[0][0], items[1][0]]) == [True, False]
    assert store.put_missing([(i, c) for i, _, c in items]) == 19
    for chunk_id, key, cipher in items:
        assert store.get(chunk_id) == cipher
        assert fetch_chunk([store], chunk_id, key).startswith(b"chunk")
    store.delete(items[0][0])
    assert store.get(items[0][0]) is None
    assert store.exists(items[1][0])


def test_dir_store(tmp_path: Path) -> None:
    _exercise(DirStore(tmp_path / "chunks"))


def test_redis_store(redis_factory) -> None:
    with open_store(redis_factory()) as store:
        assert isinstance(store, RedisStore)
        _exercise(store)


def test_redis_hash_mode(redis_factory) -> None:
    url = redis_factory()
    with open_store(url + "?namespace=ns1&mode=hash") as store:
        _exercise(store)
        chunk_id, _, cipher = encode_chunk(b"in the hash")
        store.set(chunk_id, cipher)
        import redis
        raw = redis.Redis.from_url(url)
        assert raw.hget("ns1", chunk_id) == cipher and raw.get(chunk_id) is None


def test_flist_over_redis(redis_factory, tmp_path: Path) -> None:
    store = open_store(redis_factory())
    builder = FlistBuilder(store)
    data = random.Random(1_280_000).randbytes(1_280_000)
    builder.add_file("f", data)
    builder.write(tmp_path / "r.flist")
    assert builder.stats.chunks == 3 and builder.stats.chunks_new == 3
    with open_flist(tmp_path / "r.flist") as fl:
        assert fl.read("f", 100, 600_000, fl.stores([store])) == data[100:600_100]
    uploader = ChunkUploader(store)
    uploader.add(data[:1000])
    uploader.flush()
    assert uploader.chunks_new == 1


def test_unreachable_redis_is_reported(tmp_path: Path) -> None:
    from zos.bus import free_port
    store = open_store(f"redis://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnavailableError, match="failed"):
        store.get(b"x" * 16)


def test_urls() -> None:
    store = open_store("zdb://:secret@127.0.0.1:9900/myns")
    assert isinstance(store, RedisStore) and store.namespace == "myns"
    assert open_store("ardb://pw@127.0.0.1:16379").namespace is None
    assert isinstance(open_store("/tmp/somewhere"), DirStore)
    with pytest.raises(StoreURLError, match="unknown scheme"):
        open_store("ftp://x")
    assert backend_url({"host": "hub.grid.tf", "port": 9900, "namespace": "default"}) == \
        "zdb://hub.grid.tf:9900/default"
    assert backend_url({"host": "h", "port": 1, "namespace": "n", "password": "p"}) == "zdb://:p@h:1/n"
