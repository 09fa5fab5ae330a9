"""The SYSTEM builtins through the bus: a real `zos node run` agent takes the command from
JetStream and records the 0-core result (spec core0-protocol §5) in `job.finished`.

Network commands carry the `namespace` argument of a namespace the test creates; disk commands
work on a loop device the test creates.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NodeAgent
from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import need_root, need_tool, sh
from zos.bus import Bus
from zos.bus import call

# The fixtures this module uses (defined once in _sys_fixtures).
netns = fx.netns
loop_device = fx.loop_device


@pytest.fixture(scope="module")
def sys_agent(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgent]:
    need_root()
    running = NodeAgent(nats_url, tmp_path_factory.mktemp("sys-agent")).start()
    try:
        yield running
    finally:
        running.stop()


def assert_builtin_success(result: dict) -> object:
    assert (result.state, result.code, result.level, result.streams) == ("SUCCESS", 0, 20, ["", ""]), result
    return json.loads(result.data)


def assert_builtin_error(result: dict, code: int, *texts: str) -> None:
    assert (result.state, result.code, result.level) == ("ERROR", code, 20), result
    message = json.loads(result.data)  # a JSON-quoted string (spec Q34)
    assert isinstance(message, str)
    for text in texts:
        assert text in message, message


async def test_network_builtins(bus: Bus, sys_agent: NodeAgent, netns: str) -> None:
    node = sys_agent.node_id
    ns = {"namespace": netns}
    links = assert_builtin_success(await call(bus, node, "ip.link.list", ns))
    assert links == [{"name": "lo", "type": "device", "hwaddr": "00:00:00:00:00:00", "master": "",
                      "up": True, "mtu": 65536}]
    assert assert_builtin_success(await call(bus, node, "ip.bridge.add", {"name": "bb0", **ns})) is None
    assert_builtin_success(await call(bus, node, "ip.addr.add", {"name": "bb0", "ip": "10.91.0.1/24", **ns}))
    assert "10.91.0.1/24" in sh("ip", "-n", netns, "-o", "addr", "show", "bb0").stdout
    assert_builtin_error(await call(bus, node, "ip.addr.add", {"name": "bb0", "ip": "10.91.0.1/99", **ns}),
                         400, "'ip'")
    assert_builtin_error(await call(bus, node, "ip.link.up", {"name": "nosuch9", **ns}), 404, "nosuch9")
    assert_builtin_error(await call(bus, node, "ip.link.mtu", {"name": "bb0", "mtu": "big", **ns}), 400, "'mtu'")
    assert_builtin_error(await call(bus, node, "ip.link.list", {"namespace": "zos-test-missing"}), 404,
                         "zos-test-missing")

    assert_builtin_success(await call(bus, node, "bridge.create", {
        "name": "bb1", "network": {"mode": "static", "nat": True, "settings": {"cidr": "10.92.0.1/24"}}, **ns}))
    assert sorted(assert_builtin_success(await call(bus, node, "bridge.list", ns))) == ["bb0", "bb1"]
    assert_builtin_error(await call(bus, node, "bridge.create", {"name": "bb1", **ns}), 412, "already exists")
    # The agent keeps the bridge's runtime files in its own data dir.
    assert (sys_agent.data_dir / "bridges" / netns / "bb1" / "network.json").exists()

    if shutil.which("nft"):
        assert_builtin_success(await call(bus, node, "nft.open_port", {"port": 8443, "interface": "bb1", **ns}))
        assert assert_builtin_success(await call(bus, node, "nft.list", ns)) == ['iifname "bb1" tcp dport 8443 accept']
        assert_builtin_error(await call(bus, node, "nft.open_port", {"port": 8443, "interface": "bb1", **ns}),
                             412, "exists")
        text = sh("ip", "netns", "exec", netns, "nft", "list", "table", "inet", "zos").stdout
        assert 'iifname "bb1" tcp dport 8443 accept' in text and "masquerade" in text
    assert_builtin_success(await call(bus, node, "bridge.delete", {"name": "bb1", **ns}))
    assert_builtin_error(await call(bus, node, "bridge.delete", {"name": "bb1", **ns}), 404, "bb1")


async def test_disk_commands_are_processes(bus: Bus, sys_agent: NodeAgent, loop_device: str) -> None:
    """mktable / mkpart run parted as the job's process: the result has the process shape
    (level 0, output in streams, code 1000+exit on failure)."""
    node = sys_agent.node_id
    result = await call(bus, node, "disk.mktable", {"disk": loop_device, "table_type": "gpt"})
    assert (result.state, result.code, result.level, result.data) == ("SUCCESS", 0, 0, ""), result
    assert len(result.streams) == 2
    result = await call(bus, node, "disk.mkpart", {"disk": loop_device, "part_type": "primary",
                                                   "start": "1MiB", "end": "30MiB"})
    assert result.state == "SUCCESS", result
    info = assert_builtin_success(await call(bus, node, "disk.getinfo", {"disk": loop_device}))
    assert info["table"] == "gpt" and [c["name"] for c in info["children"]] == [f"{loop_device}p1"]
    assert info["children"][0]["start"] == 1024 * 1024

    result = await call(bus, node, "disk.mkpart", {"disk": loop_device, "part_type": "primary",
                                                   "start": "10MiB", "end": "40MiB"})
    assert (result.state, result.code) == ("ERROR", 1001), result
    assert "You requested a partition from" in result.streams[1]

    assert_builtin_error(await call(bus, node, "disk.mktable", {"disk": "zosnosuchdisk", "table_type": "gpt"}),
                         404, "zosnosuchdisk")
    assert_builtin_error(await call(bus, node, "disk.mktable", {"disk": loop_device, "table_type": "zfs"}),
                         400, "'table_type'")
    mounts = assert_builtin_success(await call(bus, node, "disk.mounts", {}))
    assert all(isinstance(v, list) and {"mountpoint", "filesystem", "options"} <= set(v[0]) for v in mounts.values())


async def test_power_refused(bus: Bus, sys_agent: NodeAgent) -> None:
    for name in ("core.reboot", "core.poweroff"):
        assert_builtin_error(await call(bus, sys_agent.node_id, name, {}), 412, "refused", "--allow-power")
    assert sys_agent.proc.poll() is None


async def test_agent_as_pid1_reboots_its_pid_namespace(bus: Bus, nats_url: str, tmp_path: Path) -> None:
    """The agent as init (PID 1) of a PID namespace the test creates: `core.reboot` through
    the bus ends that namespace (its init dies of SIGHUP), the machine goes on."""
    need_root()
    need_tool("unshare", "util-linux")
    node = "pid1-" + uuid.uuid4().hex[:8]
    data = tmp_path / "data"
    ready = data / "node" / node / "ready"
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "zos", "node", "run",
         "--node-id", node, "--nats", nats_url, "--data", str(data)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "agent not ready"
            await asyncio.sleep(0.05)
        pending = asyncio.ensure_future(call(bus, node, "core.reboot", {}, timeout=60))
        returncode = await asyncio.to_thread(proc.wait, 60)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        assert returncode == -signal.SIGHUP, (returncode, (tmp_path / "agent.log").read_text()[-3000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
