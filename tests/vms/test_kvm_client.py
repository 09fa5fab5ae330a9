"""The original `0-core-client` (zeroos.core0.client, unchanged) drives kvm.* through the Redis
bridge of a real agent. The client's create takes only media: the guest is a blank raw disk,
so the firmware runs and finds nothing to boot (enough for a VM's life cycle). No `accel`
argument exists there, so this is also where the accelerator probe runs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest
import zeroos.core0.client as core0

from tests.conftest import NodeAgent
from zos.bus import free_port, wait_for_port

from .conftest import kill_vms

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def bridged(nats_url, tmp_path):
    port = free_port()
    node = NodeAgent(nats_url, tmp_path / "agent", args=("--redis-listen", f"127.0.0.1:{port}")).start()
    try:
        wait_for_port("127.0.0.1", port, 30, node.proc)
        yield node, port
    finally:
        node.stop()
        kill_vms(node.data_dir)


async def test_original_client_create_list_info_pause_resume_destroy(bridged, tmp_path):
    node, port = bridged
    disk = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)

    def story():
        cl = core0.Client("127.0.0.1", port=port, ssl=False, timeout=120)
        # the client returns the Result of kvm.create: its data is the uuid as JSON
        uuid = json.loads(cl.kvm.create("legacy", [{"url": str(disk)}], cpu=1, memory=64, tags=["t1"]).data)
        listed = cl.kvm.list()
        info = cl.kvm.info(uuid)
        cl.kvm.pause(uuid)
        paused = [v["state"] for v in cl.kvm.list()]
        cl.kvm.resume(uuid)
        resumed = [v["state"] for v in cl.kvm.list()]
        with pytest.raises(core0.ResultError) as missing:
            cl.kvm.pause("0b6e8d4c-1d5e-4a43-9a55-2f6d1f1a0c11")
        cl.kvm.destroy(uuid)
        return uuid, listed, info, paused, resumed, missing.value, cl.kvm.list()
    uuid, listed, info, paused, resumed, missing, after = await asyncio.to_thread(story)
    assert [(v["uuid"], v["name"], v["state"], v["tags"]) for v in listed] == [(uuid, "legacy", "running", ["t1"])]
    assert listed[0]["params"]["media"][0]["url"] == str(disk)
    assert info["accel"] in ("kvm", "tcg") and len(info["Vcpu"]) == 1 and info["Block"][0]["Name"] == "disk0"
    assert (paused, resumed) == (["paused"], ["running"])
    assert missing.code == 404 and "couldn't find domain" in missing.message
    assert after == []
