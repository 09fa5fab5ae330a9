"""Fixtures of the VM suite: the guest (host kernel + busybox initramfs built here), a node agent,
a disk server, and helpers that call `kvm.*` and wait on the guest's serial console."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest

from tests.conftest import NodeAgent
from tests.disk.conftest import DiskServer
from zos.bus import call, event_subject

from .guest import CMDLINE, build_initramfs, kernel


@pytest.fixture(scope="session")
def guest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """kernel, initrd and a cmdline factory for kvm.create."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    initrd = build_initramfs(tmp_path_factory.mktemp("guest"))
    return {"kernel": kernel(), "initrd": str(initrd)}


def vm_args(guest: dict[str, str], script: str = "idle", **extra: Any) -> dict[str, Any]:
    return {"cpu": 1, "memory": 96, "kernel": guest["kernel"], "initrd": guest["initrd"],
            "cmdline": CMDLINE.format(script), "accel": "tcg", **extra}


@pytest.fixture
def agent(nats_url: str, tmp_path: Path) -> Iterator[NodeAgent]:
    node = NodeAgent(nats_url, tmp_path / "agent").start()
    try:
        yield node
    finally:
        node.stop()
        kill_vms(node.data_dir)


def kill_vms(data_dir: Path) -> None:
    """Safety net: no qemu outlives a test."""
    from zos.node.builtins import _kvm_qemu as q  # noqa: PLC0415
    for pidfile in (data_dir / "vms").glob("*/qemu.pid"):
        q.kill(q.read_pid(pidfile.parent) or 0, pidfile.parent.name)


@pytest.fixture(scope="module")
def disk_server(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskServer]:
    server = DiskServer(nats_url, tmp_path_factory.mktemp("disk")).start()
    try:
        yield server
    finally:
        server.stop()


async def kvm(bus: Any, node: str, command: str, args: dict[str, Any] | None = None, *,
              ok: bool = True, timeout: float = 120.0) -> Any:
    result = await call(bus, node, command, args or {}, timeout=timeout)
    if ok:
        assert result.state == "SUCCESS", f"{command}: {result.state} {result.code} {result.data}"
        return json.loads(result.data) if result.data else None
    return result


def serial(agent: NodeAgent, uuid: str) -> Path:
    return agent.data_dir / "vms" / uuid / "serial.log"


async def wait_serial(path: Path, text: str, timeout: float = 90.0, after: int = 0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            content = path.read_text(errors="replace")
        except OSError:
            content = ""
        if text in content[after:]:
            return content
        await asyncio.sleep(0.1)
    raise AssertionError(f"'{text}' not on the serial console within {timeout} s: {content[-2000:]!r}")


async def vm_events(bus: Any, uuid: str) -> list[Any]:
    return [item.event async for item in bus.replay(event_subject("vm", uuid)) if item.event is not None]


async def wait_event(bus: Any, uuid: str, predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await vm_events(bus, uuid):
            if predicate(event):
                return event
        await asyncio.sleep(0.2)
    raise AssertionError(f"no matching event for VM {uuid}: {[e.type for e in await vm_events(bus, uuid)]}")
