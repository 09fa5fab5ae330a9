"""End to end under qemu (TCG): the default image boots, its node agent announces itself on
the session's broker (`node.booted` with the guest's kernel and hostname), answers core.ping
and core.system through the bus and through its Redis bridge on a forwarded loopback port, and
core.poweroff makes qemu exit."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path
from collections.abc import Iterator

import pytest
import redis

from zos.bus import Bus, connect, event_subject, free_port
from zos.events import Command, Event
from zos.image import BootedVM, BuildResult, boot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BOOT_TIMEOUT = 420          # TCG on a loaded 2-core machine: typically 30-60 s


class Guest:
    def __init__(self, vm: BootedVM, node: str, redis_port: int, booted: Event, seconds: float) -> None:
        self.vm, self.node, self.redis_port, self.booted, self.seconds = vm, node, redis_port, booted, seconds


async def first_booted(nats_url: str, node: str, timeout: float) -> Event:
    bus = await connect(nats_url, actor="test-image")
    try:
        async with asyncio.timeout(timeout):
            async for item in bus.replay(event_subject("node", node), follow=True, types=["node.booted"]):
                return item.event
    finally:
        await bus.close()
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def guest(node_image: BuildResult, nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    node = f"vm-{uuid.uuid4().hex[:8]}"
    port = free_port()
    log = tmp_path_factory.mktemp("console") / "console.log"
    vm = boot(node_image.outdir, log_path=log, nats=nats_url, node_id=node, forward_redis=port)
    try:
        try:
            booted = asyncio.run(first_booted(nats_url, node, BOOT_TIMEOUT))
        except TimeoutError:
            raise AssertionError(f"no node.booted from {node} in {BOOT_TIMEOUT} s; console:\n{vm.tail(40)}")
        yield Guest(vm, node, port, booted, time.monotonic() - vm.started)
    finally:
        vm.stop()


async def run_on_bus(bus: Bus, node: str, command: str, arguments: dict, timeout: float = 120) -> dict:
    job = Command.from_dict({"id": str(uuid.uuid4()), "command": command, "arguments": arguments})
    await bus.send_command(job, node)
    async with asyncio.timeout(timeout):
        async for item in bus.replay(event_subject("job", job.id), follow=True, types=["job.finished"]):
            return item.event.data["result"]
    raise AssertionError("unreachable")


def run_on_redis(port: int, command: str, arguments: dict, timeout: int = 120) -> dict:
    """What the 0-core client does: RPUSH the command, then BRPOPLPUSH its result list."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout + 10)
    job = str(uuid.uuid4())
    client.rpush("core:default", json.dumps({"id": job, "command": command, "arguments": arguments,
                                             "queue": None, "max_time": None, "stream": False, "tags": None}))
    raw = client.brpoplpush(f"result:{job}", f"result:{job}", timeout)
    assert raw is not None, f"no result for {command} via the bridge within {timeout} s"
    return json.loads(raw)


def test_node_announces_itself_from_the_guest(guest: Guest, node_image: BuildResult) -> None:
    data = guest.booted.data
    assert data["node"] == guest.node
    assert data["kernel"] == node_image.manifest["image"]["kernel"]
    assert data["hostname"] == "zos", "the guest's hostname (from the spec), not this machine's"
    assert "eth0" in data["nics"]
    assert "zos-init: starting node agent" in guest.vm.console()


async def test_ping_and_system_through_the_bus(guest: Guest, bus: Bus) -> None:
    ping = await run_on_bus(bus, guest.node, "core.ping", {})
    assert ping["state"] == "SUCCESS" and json.loads(ping["data"]).startswith("PONG")
    uname = await run_on_bus(bus, guest.node, "core.system", {"name": "uname", "args": ["-r"]})
    assert uname["state"] == "SUCCESS", uname
    assert uname["streams"][0].strip() == guest.booted.data["kernel"]
    hostname = await run_on_bus(bus, guest.node, "core.system", {"name": "cat", "args": ["/proc/sys/kernel/hostname"]})
    assert hostname["streams"][0].strip() == "zos"


async def test_ping_and_system_through_the_redis_bridge(guest: Guest) -> None:
    ping = await asyncio.to_thread(run_on_redis, guest.redis_port, "core.ping", {})
    assert ping["state"] == "SUCCESS" and json.loads(ping["data"]).startswith("PONG")
    uname = await asyncio.to_thread(run_on_redis, guest.redis_port, "core.system",
                                    {"name": "uname", "args": ["-r"], "dir": "", "stdin": "", "env": None})
    assert uname["state"] == "SUCCESS", uname
    assert uname["streams"][0].strip() == guest.booted.data["kernel"]


async def test_a_killed_agent_is_restarted_by_init(guest: Guest, bus: Bus) -> None:
    """busybox init (PID 1) respawns `/init agent`: the agent announces itself again."""
    job = Command.from_dict({"id": str(uuid.uuid4()), "command": "core.system",
                             "arguments": {"name": "sh", "args": ["-c", "kill -KILL $PPID"]}})
    await bus.send_command(job, guest.node)
    async with asyncio.timeout(BOOT_TIMEOUT):
        seen = 0
        async for _item in bus.replay(event_subject("node", guest.node), follow=True, types=["node.booted"]):
            seen += 1
            if seen == 2:
                break
    assert "node agent exited; restarting" in guest.vm.console()
    ping = await run_on_bus(bus, guest.node, "core.ping", {})
    assert ping["state"] == "SUCCESS"


async def test_poweroff_stops_the_vm(guest: Guest, bus: Bus) -> None:
    job = Command.from_dict({"id": str(uuid.uuid4()), "command": "core.poweroff", "arguments": {}})
    await bus.send_command(job, guest.node)
    code = await asyncio.to_thread(guest.vm.wait_exit, 180)
    assert code == 0, guest.vm.tail()
    assert "reboot: Power down" in guest.vm.console()


def test_console_log_is_kept(guest: Guest) -> None:
    assert Path(guest.vm.log_path).stat().st_size > 0
