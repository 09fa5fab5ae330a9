"""Builds: reproducible bytes, a manifest that matches the archive, normalised entries, the
pieces /init needs (modules with their modules.dep, busybox applets, the rendered script)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from zos.image import BuildResult, build_image, decompress, default_spec_path, load_spec, read_cpio

from .conftest import require_inputs

INIT = default_spec_path().parent / "init.sh"


def small_spec(folder: Path, epoch: int = 0) -> Path:
    """Kernel + busybox + files: no python, so it builds in seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "motd").write_text("hello\n")
    (folder / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (folder / "tool.sh").chmod(0o700)
    path = folder / "small.toml"
    path.write_text(f"""
[image]
name = "small"
source_date_epoch = {epoch}
dirs = ["/etc/zos", "/proc"]
[image.symlinks]
"/lib" = "usr/lib"
[kernel]
modules = ["virtio_net", "e1000"]
cmdline = "console=ttyS0"
[init]
script = "{INIT}"
agent = ["sleep", "1"]
[[files]]
src = "motd"
dst = "/etc/motd"
uid = 1000
gid = 100
[[files]]
src = "tool.sh"
dst = "/usr/bin/tool"
[[files]]
dst = "/etc/zos/inline"
content = "x = 1"
mode = "0600"
[[devices]]
path = "/dev/console"
type = "c"
major = 5
minor = 1
""")
    return path


def archive_of(result: BuildResult) -> dict:
    data = decompress(result.initramfs.read_bytes())
    return {entry.name: entry for entry in read_cpio(data)}


@pytest.fixture(scope="module")
def small_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, BuildResult]:
    """The same spec built twice: other folders, other umask, other source mtimes, other caches."""
    require_inputs()
    first = build_image(load_spec(small_spec(tmp_path_factory.mktemp("spec-a"))),
                        tmp_path_factory.mktemp("out-a"), cache=tmp_path_factory.mktemp("cache-a"))
    second_dir = tmp_path_factory.mktemp("spec-b")
    old = os.umask(0o077)
    try:
        spec = small_spec(second_dir)
        os.utime(second_dir / "motd", (1_000_000_000, 1_000_000_000))
        os.utime(second_dir / "tool.sh", (2_000_000_000, 2_000_000_000))
        second = build_image(load_spec(spec), tmp_path_factory.mktemp("out-b"),
                             cache=tmp_path_factory.mktemp("cache-b"))
    finally:
        os.umask(old)
    return first, second


def test_two_builds_are_byte_identical(small_builds: tuple[BuildResult, BuildResult]) -> None:
    a, b = small_builds
    for name in ("vmlinuz", "initramfs.cpio.gz", "cmdline"):
        assert (a.outdir / name).read_bytes() == (b.outdir / name).read_bytes(), name
    # The manifests differ only by the spec's location (the spec text is the same).
    assert a.manifest["outputs"] == b.manifest["outputs"]
    assert a.manifest["files"] == b.manifest["files"]


def test_manifest_matches_the_archive(small_builds: tuple[BuildResult, BuildResult]) -> None:
    result = small_builds[0]
    entries = archive_of(result)
    manifest = json.loads((result.outdir / "manifest.json").read_text())
    listed = {("." if f["path"] == "/" else f["path"][1:]): f for f in manifest["files"]}
    assert set(listed) == set(entries)
    for name, entry in entries.items():
        item = listed[name]
        assert item["mode"] == f"{stat.S_IMODE(entry.mode):04o}"
        assert (item["uid"], item["gid"]) == (entry.uid, entry.gid)
        if stat.S_ISREG(entry.mode):
            assert item["type"] == "file"
            assert item["size"] == len(entry.data)
            assert item["sha256"] == hashlib.sha256(entry.data).hexdigest()
        elif stat.S_ISLNK(entry.mode):
            assert item["type"] == "symlink" and item["target"] == entry.data.decode()
    packed = result.initramfs.read_bytes()
    assert manifest["outputs"]["initramfs.cpio.gz"] == {"size": len(packed),
                                                        "sha256": hashlib.sha256(packed).hexdigest()}
    assert manifest["totals"]["cpio_bytes"] == len(decompress(packed))
    assert manifest["totals"]["files"] == sum(1 for e in entries.values() if stat.S_ISREG(e.mode))
    assert manifest["spec"]["sha256"] == load_spec(small_spec(result.outdir.parent / "again")).sha256


def test_entries_are_normalised(small_builds: tuple[BuildResult, BuildResult]) -> None:
    result = small_builds[0]
    data = decompress(result.initramfs.read_bytes())
    entries = list(read_cpio(data))
    names = [e.name for e in entries]
    assert names == sorted(names, key=str.encode), "sorted by path bytes"
    assert names[0] == "." and not any(n.startswith("/") for n in names)
    assert [e.ino for e in entries] == list(range(1, len(entries) + 1)), "inodes renumbered"
    assert {e.mtime for e in entries} == {0}
    by_name = {e.name: e for e in entries}
    owned = {n for n, e in by_name.items() if (e.uid, e.gid) != (0, 0)}
    assert owned == {"etc/motd"} and (by_name["etc/motd"].uid, by_name["etc/motd"].gid) == (1000, 100)
    assert stat.S_IMODE(by_name["usr/bin/tool"].mode) == 0o755, "exec bit -> 0755 (source was 0700)"
    assert stat.S_IMODE(by_name["etc/motd"].mode) == 0o644
    assert stat.S_IMODE(by_name["etc/zos/inline"].mode) == 0o600, "mode from the spec"
    console = by_name["dev/console"]
    assert stat.S_ISCHR(console.mode) and (console.rdevmajor, console.rdevminor) == (5, 1)
    assert all(e.nlink == (2 if stat.S_ISDIR(e.mode) else 1) for e in entries)
    assert gzip.decompress(result.initramfs.read_bytes()) == data
    assert result.initramfs.read_bytes()[4:8] == b"\0\0\0\0", "gzip mtime 0"


def test_modules_come_with_their_dependencies(small_builds: tuple[BuildResult, BuildResult]) -> None:
    result = small_builds[0]
    entries = archive_of(result)
    kver = result.manifest["image"]["kernel"]
    base = f"usr/lib/modules/{kver}"
    dep = entries[f"{base}/modules.dep"].data.decode()
    lines = dict(line.split(":", 1) for line in dep.splitlines())
    assert "kernel/drivers/net/virtio_net.ko" in lines
    assert set(lines["kernel/drivers/net/virtio_net.ko"].split()) >= {"kernel/drivers/virtio/virtio.ko",
                                                                      "kernel/net/core/failover.ko"}
    for module in lines:
        assert f"{base}/{module}" in entries, module
    assert entries["lib"].data == b"usr/lib", "/lib/modules reaches them through the /lib symlink"
    host = Path(f"/lib/modules/{kver}/kernel/drivers/net/virtio_net.ko")
    if host.is_file():
        assert entries[f"{base}/kernel/drivers/net/virtio_net.ko"].data == host.read_bytes()


def test_init_and_busybox_are_in_place(small_builds: tuple[BuildResult, BuildResult]) -> None:
    entries = archive_of(small_builds[0])
    init = entries["init"].data.decode()
    assert stat.S_IMODE(entries["init"].mode) == 0o755 and init.startswith("#!/bin/busybox sh")
    assert "@" + "MODULES@" not in init and "for module in virtio_net e1000; do" in init
    assert 'set -- "sleep" "1" --node-id' in init
    assert entries["bin/sh"].data == b"/bin/busybox" and entries["sbin/udhcpc"].data == b"/bin/busybox"
    assert "usr/bin/tool" in entries and entries["usr/bin/tool"].mode & stat.S_IFREG
    info = json.loads(entries["etc/zos/image.json"].data)
    assert info["name"] == "small" and info["kernel"] == small_builds[0].manifest["image"]["kernel"]


@pytest.mark.skipif(not shutil.which("cpio"), reason="GNU cpio is not installed (Debian package cpio)")
def test_gnu_cpio_lists_the_image(small_builds: tuple[BuildResult, BuildResult]) -> None:
    data = decompress(small_builds[0].initramfs.read_bytes())
    listing = subprocess.run(["cpio", "-t", "-v", "--numeric-uid-gid", "--quiet"], input=data,
                             capture_output=True, check=True, env={**os.environ, "TZ": "UTC"})
    lines = listing.stdout.decode().splitlines()
    assert len(lines) == len(list(read_cpio(data)))
    owners = {tuple(line.split()[2:4]) for line in lines}
    assert owners == {("0", "0"), ("1000", "100")}
    assert all(" Jan  1  1970 " in line for line in lines), "mtime 0 everywhere"


def test_source_date_epoch_sets_every_mtime(tmp_path: Path) -> None:
    require_inputs()
    result = build_image(load_spec(small_spec(tmp_path / "spec", epoch=1_700_000_000)), tmp_path / "out",
                         cache=tmp_path / "cache")
    assert {e.mtime for e in read_cpio(decompress(result.initramfs.read_bytes()))} == {1_700_000_000}


def test_cli_build_shows_progress_and_the_size_breakdown(tmp_path: Path, zos_env: dict) -> None:
    require_inputs()
    spec = small_spec(tmp_path / "spec")
    result = subprocess.run([sys.executable, "-m", "zos", "image", "build", str(spec), "-o", str(tmp_path / "out"),
                             "--cache", str(tmp_path / "cache")], capture_output=True, text=True, env=zos_env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "pack: writing newc cpio" in result.stderr and "done:" in result.stderr
    assert "kernel modules" in result.stdout and "initramfs: cpio" in result.stdout
    assert (tmp_path / "out" / "initramfs.cpio.gz").is_file() and (tmp_path / "out" / "manifest.json").is_file()


def test_cli_names_the_unknown_key(tmp_path: Path, zos_env: dict) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text("[kernel]\nmodules = []\ncmdlin = 'x'\n")
    result = subprocess.run([sys.executable, "-m", "zos", "image", "build", str(spec), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, env=zos_env, timeout=60)
    assert result.returncode == 1 and "unknown key 'kernel.cmdlin'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_boot_of_a_folder_without_an_image_fails_clearly(tmp_path: Path, zos_env: dict) -> None:
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    result = subprocess.run([sys.executable, "-m", "zos", "image", "boot", str(tmp_path)], capture_output=True,
                            text=True, env=zos_env, timeout=60)
    assert result.returncode == 1 and "vmlinuz does not exist" in result.stderr


def test_boot_refuses_a_broker_beyond_loopback() -> None:
    from zos.image import BootError, guest_nats_url
    assert guest_nats_url("nats://127.0.0.1:4222,nats://localhost:5000") == \
        "nats://10.0.2.2:4222,nats://10.0.2.2:5000"
    with pytest.raises(BootError, match="loopback"):
        guest_nats_url("nats://192.0.2.1:4222")
