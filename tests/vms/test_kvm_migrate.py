"""Live migration between two agents on this machine (two node ids, one broker, loopback)."""

from __future__ import annotations

import asyncio
import os
import re

import pytest

from tests.conftest import NodeAgent

from .conftest import kill_vms, kvm, serial, vm_args, vm_events, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def second(nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path / "agent-b").start()
    try:
        yield node
    finally:
        node.stop()
        kill_vms(node.data_dir)


def last_count(text: str) -> int:
    found = re.findall(r"COUNT (\d+)", text)
    return int(found[-1]) if found else 0


async def test_counting_guest_keeps_counting_on_the_target(agent, second, bus, guest, disk_server):
    a, b = agent.node_id, second.node_id
    # its disk is a vdisk: both qemus reach it through the same disk server
    vdisk = await asyncio.to_thread(disk_server.create, size="4M")
    uuid = await kvm(bus, a, "kvm.create", vm_args(guest, "count", name="mover",
                                                   media=[{"url": disk_server.uri(vdisk)}]))
    await wait_serial(serial(agent, uuid), "COUNT 3")
    await kvm(bus, a, "kvm.migrate", {"uuid": uuid, "desturi": f"zos://{b}"})
    before = last_count(serial(agent, uuid).read_text()) if serial(agent, uuid).exists() else 0
    # The source is gone; the target runs the same VM and its counter goes on.
    assert await kvm(bus, a, "kvm.list") == []
    [listed] = await kvm(bus, b, "kvm.list")
    assert (listed["uuid"], listed["name"], listed["state"]) == (uuid, "mover", "running")
    await wait_serial(serial(second, uuid), "COUNT ")
    target_first = int(re.findall(r"COUNT (\d+)", serial(second, uuid).read_text())[0])
    assert target_first > 3, "the counter continued, it did not restart"
    await wait_serial(serial(second, uuid), f"COUNT {target_first + 3}")
    migrated = [e for e in await vm_events(bus, uuid) if e.type == "vm.migrated"]
    assert [(e.data["source"], e.data["target"]) for e in migrated] == [(a, b)]
    assert before == 0 or before < target_first + 3
    # A bad target is a clear error and the VM stays where it is.
    info = await kvm(bus, b, "kvm.info", {"uuid": uuid})
    assert [d["Name"] for d in info["Block"]] == ["disk0"]
    bad = await kvm(bus, b, "kvm.migrate", {"uuid": uuid, "desturi": f"zos://{b}"}, ok=False)
    assert bad.code == 400
    await kvm(bus, b, "kvm.destroy", {"uuid": uuid})
