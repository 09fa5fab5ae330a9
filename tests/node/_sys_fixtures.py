"""Fixtures for the SYSTEM builtin tests (ip, bridge, nft, disk, power): a network namespace
or a loop device that the test creates and removes, never the host's own interfaces or disks.

Import the fixtures into a test module: `from tests.node._sys_fixtures import netns, ...`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from zos.node.builtins import BUILTINS, Context, load_all
from zos.node import AgentConfig

load_all()


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, nftables, loop devices and mounts are privileged")


def need_tool(name: str, package: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"'{name}' is not installed (Debian package {package})")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def call(name: str, args: dict[str, Any], ctx: Context | None = None) -> Any:
    """Run one builtin directly, as the agent's worker thread would."""
    return BUILTINS[name].func(args, ctx or Context(node_id="test", job_id=uuid.uuid4().hex))


def _kill_namespace_processes(name: str) -> None:
    """Stop what the test's builtins started inside the namespace (dnsmasq) before deleting it."""
    pids = [int(p) for p in sh("ip", "netns", "pids", name, check=False).stdout.split()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def make_netns() -> str:
    name = f"zos-test-{uuid.uuid4().hex[:10]}"
    sh("ip", "netns", "add", name)
    sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    return name


def remove_netns(name: str) -> None:
    _kill_namespace_processes(name)
    sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace (loopback up), deleted with everything in it at the end."""
    need_root()
    need_tool("ip", "iproute2")
    name = make_netns()
    try:
        yield name
    finally:
        remove_netns(name)


@pytest.fixture
def netns_factory() -> Iterator[Any]:
    """Call it for more namespaces (a DHCP client, an upstream network); all deleted at the end."""
    need_root()
    need_tool("ip", "iproute2")
    made: list[str] = []

    def make() -> str:
        made.append(make_netns())
        return made[-1]
    try:
        yield make
    finally:
        for name in made:
            remove_netns(name)


@pytest.fixture
def sys_ctx(tmp_path: Path) -> Context:
    """A builtin context whose data dir (bridge runtime files) is the test's tmp dir."""
    return Context(node_id="test", job_id=uuid.uuid4().hex,
                   config=AgentConfig(node_id="test", data_dir=tmp_path / "data"))


def veth(namespace: str, name: str, peer: str, peer_namespace: str | None = None) -> None:
    """A veth pair inside `namespace` (the peer moved to `peer_namespace` when given), both up."""
    sh("ip", "-n", namespace, "link", "add", name, "type", "veth", "peer", "name", peer)
    if peer_namespace is not None:
        sh("ip", "-n", namespace, "link", "set", peer, "netns", peer_namespace)
    sh("ip", "-n", namespace, "link", "set", name, "up")
    sh("ip", "-n", peer_namespace or namespace, "link", "set", peer, "up")


def _unmount_all(device: str) -> None:
    """Unmount what the test mounted from the loop device or its partitions (exact names:
    loop1 must not match another test's loop10)."""
    own = re.compile(rf"^/dev/{device}(p\d+)?$")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields and own.match(fields[0]):
            sh("umount", fields[1], check=False)


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    """A 64 MiB sparse file attached to a free loop device (partition scanning on); yields the
    bare name (`loop3`). Unmounted and detached at the end."""
    need_root()
    need_tool("losetup", "mount")
    need_tool("parted", "parted")
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop device support (/dev/loop-control missing)")
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    done = sh("losetup", "--find", "--show", "--partscan", str(image), check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot attach a loop device: {done.stderr.strip()}")
    device = done.stdout.strip().removeprefix("/dev/")
    try:
        yield device
    finally:
        _unmount_all(device)
        sh("losetup", "--detach", f"/dev/{device}", check=False)


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something true (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
