"""The pieces of a mount that need no FUSE: chunk cache, inode numbers, size parsing."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings, strategies as st

from zos.commands.fs import parse_size
from zos.fs.mount import ChunkCache, InodeTable, path_inode
from zos.settings import SettingsError


def _id(n: int) -> bytes:
    return n.to_bytes(16, "big")


def test_cache_evicts_least_recently_used_but_never_a_pinned_chunk(tmp_path) -> None:
    cache = ChunkCache(tmp_path / "c", max_bytes=1000, low_water=0.5)
    for n in range(4):
        cache.put(_id(n), bytes([n]) * 200)
    assert cache.get(_id(0)) == bytes([0]) * 200  # 0 becomes most recently used
    with cache.pinned(_id(1)):
        cache.put(_id(9), b"x" * 300)             # 1100 > 1000: evict down to 500
        assert cache.get(_id(1)) == bytes([1]) * 200
    assert cache.total <= 1000
    assert cache.get(_id(2)) is None and cache.get(_id(3)) is None
    assert cache.get(_id(9)) == b"x" * 300
    assert cache.evictions >= 2
    assert oct(os.stat(tmp_path / "c").st_mode & 0o777) == "0o700"


def test_cache_never_takes_a_partial_file(tmp_path) -> None:
    root = tmp_path / "c"
    cache = ChunkCache(root, max_bytes=1 << 20)
    cache.put(_id(1), b"complete")
    name = _id(2).hex()
    folder = root / name[0:2] / name[2:4]
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / f".{name}.123.456.tmp"      # what a crash mid-write leaves
    stale.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = ChunkCache(root, max_bytes=1 << 20)   # a restart scans the directory
    assert fresh.get(_id(2)) is None
    assert not stale.exists()
    assert fresh.get(_id(1)) == b"complete" and len(fresh) == 1
    (root / _id(1).hex()[0:2] / _id(1).hex()[2:4] / _id(1).hex()).unlink()  # another mount evicted it
    assert fresh.get(_id(1)) is None and fresh.total == 0


def test_inode_numbers_are_stable_and_collisions_rehash() -> None:
    table = InodeTable()
    assert table.inode(b"") == 1
    number = table.inode(b"usr/bin/ls")
    assert number == path_inode(b"usr/bin/ls") == InodeTable().inode(b"usr/bin/ls")
    assert table.path(number) == b"usr/bin/ls"
    assert 2 <= number < 2**63
    table._paths[path_inode(b"x")] = b"someone-else"  # force a collision
    assert table.inode(b"x") == path_inode(b"x", 1)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_parse_size_accepts_sizes_or_says_why(text: str) -> None:
    try:
        value = parse_size(text)
    except SettingsError as exc:
        assert text in str(exc)
    else:
        assert value > 0


@pytest.mark.parametrize("text,value", [("1024", 1024), ("512M", 512 << 20), ("10G", 10 << 30),
                                        ("10GiB", 10 << 30), ("1.5k", 1536)])
def test_parse_size_units(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["inf", "1e999", "nan", "-1", "0", "", "G", "12Q"])
def test_parse_size_refuses_nonsense(text: str) -> None:
    with pytest.raises(SettingsError):
        parse_size(text)


def test_cache_hit_that_fails_its_key_is_dropped_not_served(tmp_path) -> None:
    import hashlib

    cache = ChunkCache(tmp_path / "c", max_bytes=1 << 20)
    data = b"plaintext chunk"
    key = hashlib.blake2b(data, digest_size=16).digest()
    cache.put(_id(5), data)
    assert cache.get(_id(5), key) == data
    name = _id(5).hex()
    path = tmp_path / "c" / name[0:2] / name[2:4] / name
    path.write_bytes(data[:7])                      # torn by a power loss
    assert cache.get(_id(5), key) is None
    assert not path.exists() and cache.rejected == 1 and len(cache) == 0
