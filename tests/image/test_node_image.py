"""The default node image (image/node.toml): reproducible from a cold cache, pruned, byte-compiled
with unchecked-hash pycs, and its own interpreter (through its own loader and libraries, from
the packed bytes) imports the node agent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from zos.image import BuildResult, decompress, extract_cpio, read_cpio


def entries(result: BuildResult) -> dict:
    return {e.name: e for e in read_cpio(decompress(result.initramfs.read_bytes()))}


def test_cold_and_cached_builds_are_byte_identical(node_image: BuildResult, node_image_cold: BuildResult) -> None:
    if node_image.initramfs.read_bytes() != node_image_cold.initramfs.read_bytes():
        a = {f["path"]: f for f in node_image.manifest["files"]}
        b = {f["path"]: f for f in node_image_cold.manifest["files"]}
        differ = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
        raise AssertionError(f"{len(differ)} entries differ, e.g. {differ[:10]}")
    assert node_image.kernel.read_bytes() == node_image_cold.kernel.read_bytes()
    assert node_image.manifest == node_image_cold.manifest


def test_python_is_byte_compiled_and_pruned(node_image: BuildResult) -> None:
    files = entries(node_image)
    version = node_image.manifest["inputs"]["python"]["version"]
    stdlib = f"usr/lib/python{version}/"
    names = [n for n in files if n.startswith(stdlib)]
    assert f"{stdlib}os.pyc" in files and f"{stdlib}asyncio/base_events.pyc" in files
    assert not [n for n in names if n.endswith(".py")], "byte-compiled only"
    assert not [n for n in names if "__pycache__" in n]
    for gone in ("test", "idlelib", "tkinter", "ensurepip", "lib2to3", "site-packages/pip", "turtledemo"):
        assert not [n for n in names if n.startswith(stdlib + gone + "/")], gone
    pycs = [files[n].data for n in names if n.endswith(".pyc")]
    # PEP 552 flags word: 0b01 = hash-based, not checked against the source.
    assert pycs and all(int.from_bytes(data[4:8], "little") == 0b01 for data in pycs)
    assert f"{stdlib}site-packages/zos/node/__init__.pyc" in files
    assert f"{stdlib}site-packages/nats/__init__.pyc" in files


def test_every_elf_file_has_its_libraries_in_the_image(node_image: BuildResult, tmp_path: Path) -> None:
    """Unpack the archive and run the image's python through the image's loader, with only the
    image's library folders: importing the agent and its CLI must work."""
    root = tmp_path / "root"
    extract_cpio(decompress(node_image.initramfs.read_bytes()), root)
    version = node_image.manifest["inputs"]["python"]["version"]
    loader = root / "usr/lib64/ld-linux-x86-64.so.2"
    libs = f"{root}/usr/lib/x86_64-linux-gnu:{root}/usr/lib"
    code = ("import zos.node, zos.cli, ssl, hashlib, lzma; zos.cli.build_parser(['node', 'run']); "
            "import sys; print(sys.prefix)")
    result = subprocess.run([str(loader.resolve()), "--library-path", libs, str(root / f"usr/bin/python{version}"),
                             "-s", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONHOME": str(root / "usr"), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(root / "usr")
    assert os.access(root / "init", os.X_OK)
