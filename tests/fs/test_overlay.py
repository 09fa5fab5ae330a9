"""Read-write mounts (overlayfs over the FUSE mount, --backend, --reset) and --layer."""

from __future__ import annotations

import os
import random
from pathlib import Path

from zos.fs import DirStore, FlistBuilder
from zos.fs.mount import is_mounted


def _flist(tmp_path: Path, name: str, files: dict[str, bytes], chunks: Path) -> Path:
    builder = FlistBuilder(DirStore(chunks))
    for path, data in files.items():
        builder.add_file(path, data, mode=0o644, mtime=1_600_000_000)
    out = tmp_path / f"{name}.flist"
    builder.write(out)
    return out


def test_overlay_writes_persist_and_reset_wipes_them(tmp_path, mounter) -> None:
    chunks = tmp_path / "chunks"
    out = _flist(tmp_path, "base", {"etc/conf": b"original\n", "bin/tool": random.Random(23).randbytes(700_000)}, chunks)
    backend = tmp_path / "backend"
    args = ("--storage", f"file://{chunks}", "--backend", str(backend))
    first = mounter(out, *args)
    mnt = first.target
    (mnt / "etc" / "conf").write_bytes(b"changed\n")
    (mnt / "new").write_bytes(b"new file\n")
    os.unlink(mnt / "bin" / "tool")
    os.mkdir(mnt / "var")
    assert sorted(os.listdir(mnt)) == ["bin", "etc", "new", "var"]
    assert (backend / "rw" / "etc" / "conf").read_bytes() == b"changed\n"
    assert first.stop() == 0
    assert not is_mounted(mnt) and not is_mounted(backend / "ro")

    second = mounter(out, *args, target=mnt)
    assert (mnt / "etc" / "conf").read_bytes() == b"changed\n"
    assert (mnt / "new").read_bytes() == b"new file\n"
    assert not (mnt / "bin" / "tool").exists()
    assert second.stop() == 0

    third = mounter(out, *args, "--reset", target=mnt)
    assert (mnt / "etc" / "conf").read_bytes() == b"original\n"
    assert not (mnt / "new").exists()
    assert (mnt / "bin" / "tool").stat().st_size == 700_000
    assert sorted(os.listdir(backend / "rw")) == []
    assert third.stop() == 0


def test_layers_first_wins_and_directories_merge(tmp_path, mounter) -> None:
    chunks = tmp_path / "chunks"
    top = _flist(tmp_path, "top", {"a/x": b"top x\n", "a/only-top": b"t\n", "shadow": b"file on top\n"}, chunks)
    low = _flist(tmp_path, "low", {"a/x": b"low x\n", "a/y": b"low y\n", "shadow/inside": b"hidden\n",
                                   "b/z": b"low z\n"}, chunks)
    mnt = mounter(top, "--ro", "--layer", str(low), "--storage", f"file://{chunks}").target
    assert sorted(os.listdir(mnt)) == ["a", "b", "shadow"]
    assert sorted(os.listdir(mnt / "a")) == ["only-top", "x", "y"]
    assert (mnt / "a" / "x").read_bytes() == b"top x\n"
    assert (mnt / "a" / "y").read_bytes() == b"low y\n"
    assert (mnt / "b" / "z").read_bytes() == b"low z\n"
    assert (mnt / "shadow").read_bytes() == b"file on top\n"  # a file shadows a lower directory
    assert os.stat(mnt / "a").st_nlink == 2
