"""Loop devices big enough for btrfs (mkfs wants ~110 MiB per device) and a pool root in the
test's tmp dir; everything mounted under it is unmounted and every loop detached at the end,
also when the test failed."""

from __future__ import annotations

import uuid
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from tests.node._sys_fixtures import need_root, need_tool, sh
from zos.node import AgentConfig
from zos.node.builtins import Context

MiB = 1 << 20
LOOP_SIZE = 256 * MiB


def unmount_under(root: Path) -> None:
    """Unmount everything at or below `root`, deepest first."""
    for _ in range(3):
        mounted = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                   if line.split()[1] == str(root) or line.split()[1].startswith(f"{root}/")]
        if not mounted:
            return
        for mountpoint in sorted(mounted, key=len, reverse=True):
            sh("umount", mountpoint, check=False)


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Call it for another `/dev/loopN` over a sparse 256 MiB file; all detached at the end."""
    need_root()
    need_tool("losetup", "mount")
    need_tool("mkfs.btrfs", "btrfs-progs")
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop device support (/dev/loop-control missing)")
    made: list[str] = []

    def make() -> str:
        image = tmp_path / f"disk{len(made)}.img"
        with image.open("wb") as f:
            f.truncate(LOOP_SIZE)
        done = sh("losetup", "--find", "--show", str(image), check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot attach a loop device: {done.stderr.strip()}")
        made.append(done.stdout.strip())
        return made[-1]
    try:
        yield make
    finally:
        unmount_under(tmp_path)
        for device in made:
            sh("wipefs", "-a", device, check=False)
            sh("losetup", "--detach", device, check=False)


@pytest.fixture
def pool_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "pools"
    root.mkdir()
    try:
        yield root
    finally:
        unmount_under(root)


@pytest.fixture
def pool_ctx(tmp_path: Path, pool_root: Path) -> Context:
    return Context(node_id="n1", job_id=uuid.uuid4().hex,
                   config=AgentConfig(node_id="n1", data_dir=tmp_path / "data", storagepool_root=pool_root))
