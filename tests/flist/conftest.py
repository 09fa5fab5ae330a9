"""Fixtures for the flist library: a source tree with every kind of entry, built by the test."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from zos.fs import CHUNK_SIZE, DirStore


def make_tree(root: Path) -> Path:
    """Empty/small/CS/CS+1/multi-chunk files, both symlink kinds, a hardlink, a fifo, suid/sgid/
    sticky, a non-UTF-8 name, a deep path, and (as root) a char and a block device."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2018)  # the same contents every run
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_bytes(b"box\n")
    (root / "empty").write_bytes(b"")
    (root / "exact").write_bytes(rng.randbytes(CHUNK_SIZE))
    (root / "plus1").write_bytes(rng.randbytes(CHUNK_SIZE + 1))
    (root / "multi").write_bytes(rng.randbytes(3 * CHUNK_SIZE + 12345))
    (root / "same").write_bytes((root / "etc" / "hostname").read_bytes())  # dedup with hostname
    os.symlink("etc/hostname", root / "rel-link")
    os.symlink("/etc/passwd", root / "abs-link")
    os.link(root / "multi", root / "multi-hardlink")
    os.mkfifo(root / "fifo")
    (root / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "suid", 0o4755)
    (root / "sgid-dir").mkdir()
    os.chmod(root / "sgid-dir", 0o2775)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / os.fsdecode(b"caf\xe9-latin1")).write_bytes(b"raw name\n")
    deep = root.joinpath(*[f"d{i}" for i in range(30)])
    deep.mkdir(parents=True)
    (deep / "leaf").write_bytes(b"deep\n")
    if os.geteuid() == 0:
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(root / "loop0", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
        os.mknod(root / "bigminor", 0o600 | stat.S_IFCHR, os.makedev(4, 300))
        os.chown(root / "etc" / "hostname", 1234, 5678, follow_symlinks=False)
        os.chown(root / "abs-link", 42, 43, follow_symlinks=False)
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data directory a test hands to the library (default store, archive copies)."""
    return tmp_path / "zos-data"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src")


@pytest.fixture
def store(tmp_path: Path) -> DirStore:
    return DirStore(tmp_path / "chunks")
