"""Fixtures for 0-FS: a generated source tree, its flist (built with the project's writer) and
real FUSE mounts run as `python -m zos fs mount` subprocesses, always unmounted in `finally`."""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zos.fs import CHUNK_SIZE, DirStore, create_flist

CS = CHUNK_SIZE


def _need_fuse() -> None:
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        pytest.skip("FUSE is not available (/dev/fuse and fusermount3 from Debian package fuse3)")
    if os.geteuid() != 0:
        pytest.skip("mount tests need root (overlayfs, device nodes, chown)")


def build_tree(root: Path) -> int:
    """A tree of > 5,000 entries: nested dirs, small and multi-chunk files, symlinks of both
    kinds, hardlinks, a fifo, a char device, suid/sgid/sticky bits, several owners and mtimes."""
    count = 0
    root.mkdir(parents=True)
    for i in range(40):
        for j in range(4):
            leaf = root / f"d{i:02d}" / f"s{j}" / "t"
            leaf.mkdir(parents=True)
            count += 3 if j == 0 else 2
            for k in range(30):
                path = leaf / f"f{k:02d}.txt"
                path.write_bytes((f"{i}/{j}/{k} " * (k + 1)).encode())
                os.utime(path, (1_600_000_000 + k, 1_600_000_000 + i * 1000 + k))
                count += 1
            (leaf / "rel").symlink_to("f00.txt")
            (leaf / "abs").symlink_to("/etc/hostname")
            os.link(leaf / "f01.txt", leaf / "hard")
            count += 3
            os.chown(leaf / "f02.txt", 1234, 5678)
            os.chmod(leaf / "f03.txt", 0o4755)
            os.chmod(leaf / "f04.txt", 0o2750)
            os.chmod(leaf / "f05.txt", 0o600)
    big = root / "big"
    big.mkdir()
    rng = random.Random(64)  # the same contents every run
    seed = rng.randbytes(64 * 1024)
    for name, size in (("empty", 0), ("one", 1), ("cs", CS), ("cs1", CS + 1), ("three", 2 * CS + 1000),
                       ("five", 5 * CS - 7)):
        (big / name).write_bytes((seed * (size // len(seed) + 1))[:size] if size < 3 * CS
                                 else rng.randbytes(size))
        count += 1
    os.mkfifo(root / "fifo", 0o640)
    os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    sticky = root / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (root / "dangling").symlink_to("nowhere/at/all")
    (root / "unicode-é").write_text("é\n")
    count += 7
    os.utime(root / "big", (1_500_000_000, 1_500_000_000))
    return count


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(tree, flist, chunk store directory) shared by the session's read-only tests."""
    _need_fuse()
    base = tmp_path_factory.mktemp("fs-src")
    tree = base / "tree"
    count = build_tree(tree)
    assert count >= 5000
    chunks = base / "chunks"
    out = base / "tree.flist"
    create_flist(tree, out, DirStore(chunks))
    return tree, out, chunks


class Mount:
    """One `zos fs mount` process. `start()` waits for `mount ready`; `stop()` runs `zos fs
    umount`; `cleanup()` (always called by the fixture) removes anything left behind."""

    def __init__(self, flist: Path, target: Path, data: Path, args: list[str], env: dict[str, str]) -> None:
        self.flist, self.target, self.data, self.args, self.env = flist, target, data, args, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data / f"mount-{target.name}.log"

    def start(self, timeout: float = 120.0) -> Mount:
        self.target.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zos", "--log-level", "INFO", "fs", "mount", "--meta", str(self.flist),
                 str(self.target), *self.args], stdout=subprocess.PIPE, stderr=log, env=self.env)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or line[0].strip() != b"mount ready":
            raise AssertionError(f"mount did not get ready: {line!r}\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def umount(self, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zos", "fs", "umount", str(self.target)],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> int:
        done = self.umount()
        assert done.returncode == 0, done.stderr
        assert self.proc is not None
        return self.proc.wait(30)

    def cleanup(self) -> None:
        """Detach every mount below the target, the data dir or a --backend (newest first),
        then make sure the process is gone."""
        roots = [str(self.target), str(self.data)]
        if "--backend" in self.args:
            roots.append(self.args[self.args.index("--backend") + 1])
        for _ in range(2):
            for point in reversed(_mount_points()):
                if any(point == r or point.startswith(r.rstrip("/") + "/") for r in roots):
                    subprocess.run(["umount", "-l", point], capture_output=True)
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def _mount_points() -> list[str]:
    with open("/proc/self/mounts") as handle:
        return [line.split()[1].replace("\\040", " ") for line in handle]


@pytest.fixture
def mounter(tmp_path: Path) -> Iterator[Callable[..., Mount]]:
    """`mounter(flist, *args, nats=None, data=None)` -> a started Mount (unmounted at teardown)."""
    _need_fuse()
    mounts: list[Mount] = []
    counter = iter(range(1000))

    def make(flist: Path, *args: str, nats: str | None = None, data: Path | None = None,
             target: Path | None = None, start: bool = True) -> Mount:
        n = next(counter)
        env = {k: v for k, v in os.environ.items() if k != "ZOS_NATS"}
        env["ZOS_DATA"] = str(data or tmp_path / "data")
        if nats:
            env["ZOS_NATS"] = nats
        mount = Mount(flist, target or tmp_path / f"mnt{n}", data or tmp_path / "data", list(args), env)
        mounts.append(mount)
        return mount.start() if start else mount
    try:
        yield make
    finally:
        for mount in mounts:
            mount.cleanup()
