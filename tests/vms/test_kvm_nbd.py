"""A guest whose boot disk is a vdisk served by `zos disk serve`: qemu's own NBD client does the
I/O, so the vdisk's transaction log holds every block the guest wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest

from zos.disk import state_at

from .conftest import kvm, serial, vm_args, wait_event, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def qemu_io(uri: str, *commands: str, read_only: bool = False) -> str:
    argv = ["qemu-io", "-f", "raw", *(["-r"] if read_only else [])]
    for command in commands:
        argv += ["-c", command]
    proc = subprocess.run([*argv, uri], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def test_guest_writes_reach_the_vdisk_and_its_tlog(agent, bus, guest, disk_server):
    name = await asyncio.to_thread(disk_server.create, size="8M", type="db")
    uri = disk_server.uri(name)
    # The vdisk's first block before the guest runs: 0x0a.
    qemu_io(uri, "write -P 0x0a 0 4k", "flush")
    await asyncio.sleep(0.2)  # the tlog batches every 50 ms
    before = time.time_ns()
    # The guest writes its marker into block 0 and powers off.
    uuid = await kvm(bus, agent.node_id, "kvm.create",
                     vm_args(guest, "marker", media=[{"url": uri}]))
    await wait_serial(serial(agent, uuid), "MARKER WRITTEN")
    await wait_event(bus, uuid, lambda e: e.data.get("state") == "shutoff")
    # Read back through NBD: the marker is there.
    out = qemu_io(uri, "read -v 0 32", read_only=True)
    assert "5a 4f 53 2d 4d 41 52 4b 45 52" in out  # "ZOS-MARKER"
    # The log: now block 0 holds the marker; restored to before the guest, the old block.
    await asyncio.sleep(0.3)
    now, _ = await state_at(bus, name)
    assert now[0].startswith(b"ZOS-MARKER-0123456789")
    old, _ = await state_at(bus, name, until_ns=before)
    assert old[0] == b"\x0a" * 4096
    await kvm(bus, agent.node_id, "kvm.destroy", {"uuid": uuid})


async def test_missing_export_is_a_clear_error_and_leaves_nothing(agent, bus, guest, disk_server):
    uri = disk_server.uri("no-such-vdisk")
    result = await kvm(bus, agent.node_id, "kvm.create", vm_args(guest, media=[{"url": uri}]), ok=False)
    assert (result.state, result.code) == ("ERROR", 400)
    assert "failed to create machine" in result.data and "no-such-vdisk" in result.data
    assert list((agent.data_dir / "vms").iterdir()) == []
    for bad, message in (("nbd:///x", "names no host"), ("nbd+unix:///x", "needs ?socket="),
                         ("http://x/y", "not an nbd URL"), ("relative.img", "absolute path")):
        result = await kvm(bus, agent.node_id, "kvm.create", vm_args(guest, media=[{"url": bad}]), ok=False)
        assert result.code == 400 and message in result.data, (bad, result.data)
