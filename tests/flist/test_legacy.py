"""Legacy RocksDB-era flists (G0/G1, spec §3.4, §8.6), read-only and best effort. The fixtures
are re-keyed from our own writer's output: B2-256 directory keys, ACIs without ids, G0 blocks."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import subprocess
import zlib
from pathlib import Path

import cramjam
import xxtea

from zos.fs import Block, DirStore, FlistBuilder, fetch_chunk, open_flist
from zos.fs.flist import Aci, decode_aci, decode_dir, dirkey, encode_aci, encode_dir, legacy_dirkey
from zos.fs.flist._db import RocksWriter


def g0_block(plain: bytes) -> tuple[bytes, bytes, bytes]:
    """(hash, key, stored value) of a G0 block, built from the spec's description."""
    key = hashlib.sha256(plain).hexdigest().encode()
    compressed = bytes(cramjam.snappy.compress_raw(plain))
    buf = compressed + b"\0" * (-len(compressed) % 4) + struct.pack("<I", len(compressed))
    cipher = xxtea.encrypt(buf, key[:16], padding=False)
    header = (b"10000000" + f"{zlib.crc32(cipher):08x}".encode())[:16].ljust(16, b"\0")
    return hashlib.sha256(cipher).hexdigest().encode(), key, header + cipher


def legacy_copy(source: Path, out: Path, g0_files: dict[bytes, list[Block]] | None = None) -> None:
    """Re-key a flist into G0/G1 shape: dir keys B2-256(relpath), ACIs without uid/gid."""
    with open_flist(source) as fl:
        sink = RocksWriter(out)
        stack = [b""]
        while stack:
            rel = stack.pop()
            d = decode_dir(fl.db.get(dirkey(rel)))
            for inode in d.contents:
                child = rel + b"/" + inode.name if rel else inode.name
                if inode.subdir:
                    inode.subdir = legacy_dirkey(child)
                    stack.append(child)
                if g0_files and child in g0_files:
                    inode.blocks = tuple(g0_files[child])
            d.parent = legacy_dirkey(rel.rpartition(b"/")[0]) if rel else legacy_dirkey(b"")
            sink.put(legacy_dirkey(rel), encode_dir(d))
        for key, value in fl.db.items():
            if len(key) == 16:  # ACI: drop the ids, as before 2020-07
                aci = decode_aci(value)
                sink.put(key, encode_aci(dataclasses.replace(aci, uid=-1, gid=-1)))
        sink.finish()


def test_g1_rocksdb_directory_and_archive(tmp_path: Path, store: DirStore) -> None:
    builder = FlistBuilder(store)
    builder.add_file("etc/motd", b"legacy hello\n", uid=0, gid=0, uname="1234", gname="root", mode=0o4711)
    builder.add_symlink("etc/link", "motd")
    builder.write(tmp_path / "new.flist")
    legacy_copy(tmp_path / "new.flist", tmp_path / "g1")
    with open_flist(tmp_path / "g1") as fl:
        assert fl.format == "legacy"
        motd = fl.lookup("etc/motd")
        assert motd.uid == 1234 and motd.gid == 0  # decimal name, then host group "root"
        assert motd.mode == 0o4711
        assert fl.read(motd, 0, 100, [store]) == b"legacy hello\n"
        assert fl.readlink("etc/link") == b"motd"
    # the same database as a tar.gz of its files, without a ./ prefix
    archive = tmp_path / "g1.flist"
    files = sorted(p.name for p in (tmp_path / "g1").iterdir())
    subprocess.run(["tar", "-czf", str(archive), "-C", str(tmp_path / "g1"), *files], check=True)
    with open_flist(archive) as fl:
        assert fl.format == "legacy" and fl.read("etc/motd", 0, 6, [store]) == b"legacy"


def test_g0_blocks(tmp_path: Path, store: DirStore) -> None:
    plain = b"from 2017 " * 1000
    block_hash, key, stored = g0_block(plain)
    store.set(block_hash, stored)
    assert fetch_chunk([store], block_hash, key) == plain
    builder = FlistBuilder(store)
    builder.add_file("old", plain)
    builder.write(tmp_path / "new.flist")
    legacy_copy(tmp_path / "new.flist", tmp_path / "g0", {b"old": [Block(block_hash, key)]})
    with open_flist(tmp_path / "g0") as fl:
        assert fl.read("old", 5, 10, [store]) == plain[5:15]


def test_root_found_by_scan(tmp_path: Path, store: DirStore) -> None:
    """Some tools prefixed keys: without the known root key, the root is found by scanning."""
    builder = FlistBuilder(store)
    builder.add_file("a", b"x")
    builder.write(tmp_path / "new.flist")
    with open_flist(tmp_path / "new.flist") as fl:
        rows = list(fl.db.items())
    sink = RocksWriter(tmp_path / "prefixed")
    for key, value in rows:
        if len(key) == 32:
            d = decode_dir(value)
            d.parent = "ns:" + d.parent
            sink.put("ns:" + key, encode_dir(d))
        else:
            sink.put(key, value)
    sink.finish()
    with open_flist(tmp_path / "prefixed") as fl:
        assert fl.root_key == "ns:" + dirkey(b"")
        assert fl.read("a", 0, 1, [store]) == b"x"


def test_aci_without_ids_uses_names() -> None:
    aci = decode_aci(encode_aci(Aci("root", "root", 0o755)))
    assert (aci.uid, aci.gid) == (-1, -1)
