"""Hotplug on a running guest: a second vdisk appears in the guest's /sys/block, is throttled
(qemu's query-block shows it) and goes away again."""

from __future__ import annotations

import asyncio
import os

import pytest

from zos.node.builtins import _kvm_qmp as qmp

from .conftest import kvm, serial, vm_args, vm_events, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


async def test_attach_limit_detach_a_vdisk(agent, bus, guest, disk_server):
    node = agent.node_id
    boot = await asyncio.to_thread(disk_server.create, size="4M")
    extra = await asyncio.to_thread(disk_server.create, size="4M")
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "blocks", media=[{"url": disk_server.uri(boot)}]))
    console = serial(agent, uuid)
    await wait_serial(console, "BLOCKS vda")
    # Attach: the guest sees a second virtio disk.
    medium = {"url": disk_server.uri(extra)}
    await kvm(bus, node, "kvm.attach_disk", {"uuid": uuid, "media": medium})
    await wait_serial(console, "BLOCKS vda vdb")
    again = await kvm(bus, node, "kvm.attach_disk", {"uuid": uuid, "media": medium}, ok=False)
    assert (again.code, "already attached" in again.data) == (412, True)
    # Throttle it: upstream's flat fields become qemu's.
    await kvm(bus, node, "kvm.limit_disk_io", {"uuid": uuid, "media": medium, "totalbytessecset": True,
                                               "totalbytessec": 1048576, "readiopssecset": True,
                                               "readiopssec": 100})
    blocks = await qmp.execute(agent.data_dir / "vms" / uuid, "qmp.sock", "query-block")
    inserted = next(b["inserted"] for b in blocks if b.get("qdev", "").endswith("disk1")
                    or "disk1" in b.get("qdev", ""))
    assert (inserted["bps"], inserted["iops_rd"], inserted["iops"]) == (1048576, 100, 0)
    # Detach: the guest lets it go.
    after = len(console.read_text())
    await kvm(bus, node, "kvm.detach_disk", {"uuid": uuid, "media": medium})
    await wait_serial(console, "BLOCKS vda \n", after=after)
    missing = await kvm(bus, node, "kvm.detach_disk", {"uuid": uuid, "media": medium}, ok=False)
    assert missing.code == 404
    got = await kvm(bus, node, "kvm.get", {"uuid": uuid})
    assert [m["url"] for m in got["params"]["media"]] == [disk_server.uri(boot)]
    types = [e.type for e in await vm_events(bus, uuid)]
    assert types[-3:] == ["vm.disk_attached", "vm.disk_limited", "vm.disk_detached"]
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})
