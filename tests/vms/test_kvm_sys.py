"""kvm.* against a real `zos node run` and real qemu guests (TCG, busybox initramfs)."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from zos.node.builtins import _kvm_qemu as q

from .conftest import kvm, serial, vm_args, vm_events, wait_event, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def qemu_pids(uuid: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and q.is_qemu(int(entry), uuid):
            found.append(int(entry))
    return found


async def test_lifecycle_pause_resume_info_destroy(agent, bus, guest):
    node = agent.node_id
    # Create: the guest boots and counts on its serial console.
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "count", name="counter"))
    await wait_serial(serial(agent, uuid), "COUNT 2")
    listed = await kvm(bus, node, "kvm.list")
    assert [(v["uuid"], v["name"], v["state"]) for v in listed] == [(uuid, "counter", "running")]
    assert listed[0]["accel"] == "tcg" and listed[0]["params"]["memory"] == 96
    # Pause: qemu stops the vCPUs; the state and the event say so.
    await kvm(bus, node, "kvm.pause", {"uuid": uuid})
    assert (await kvm(bus, node, "kvm.get", {"uuid": uuid}))["state"] == "paused"
    await kvm(bus, node, "kvm.resume", {"uuid": uuid})
    assert (await kvm(bus, node, "kvm.get", {"name": "counter"}))["state"] == "running"
    before = serial(agent, uuid).read_text().count("COUNT")
    await wait_serial(serial(agent, uuid), f"COUNT {before + 2}")
    # Counters from QMP.
    info = await kvm(bus, node, "kvm.info", {"uuid": uuid})
    assert info["accel"] == "tcg" and info["Vcpu"][0]["Time"] > 0 and info["Block"] == []
    await kvm(bus, node, "kvm.monitor")
    await kvm(bus, node, "kvm.monitor")
    infops = await kvm(bus, node, "kvm.infops", {"uuid": uuid})
    assert f"kvm.cpu.time/{uuid}" in infops
    # Destroy: nothing is left.
    pids = qemu_pids(uuid)
    assert len(pids) == 1
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})
    assert qemu_pids(uuid) == []
    assert not (agent.data_dir / "vms" / uuid).exists()
    assert await kvm(bus, node, "kvm.list") == []
    types = [(e.type, e.data.get("state")) for e in await vm_events(bus, uuid)]
    assert types == [("vm.created", None), ("vm.state_changed", "paused"), ("vm.state_changed", "running"),
                     ("vm.destroyed", None)]


async def test_guest_poweroff_is_recorded(agent, bus, guest):
    uuid = await kvm(bus, agent.node_id, "kvm.create", vm_args(guest, "poweroff"))
    event = await wait_event(bus, uuid, lambda e: e.data.get("state") == "shutoff")
    assert event.actor == f"node:{agent.node_id}"
    assert (await kvm(bus, agent.node_id, "kvm.get", {"uuid": uuid}))["state"] == "shutoff"
    await kvm(bus, agent.node_id, "kvm.destroy", {"uuid": uuid})


async def test_shutdown_is_acpi_then_bounded(agent, bus, guest):
    node = agent.node_id
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "idle"))
    await wait_serial(serial(agent, uuid), "GUEST READY")
    started = time.monotonic()
    await kvm(bus, node, "kvm.shutdown", {"uuid": uuid, "timeout": 20})
    assert time.monotonic() - started < 20, "the guest's acpid powered it off"
    assert qemu_pids(uuid) == []
    assert (await kvm(bus, node, "kvm.get", {"uuid": uuid}))["state"] == "shutoff"
    changes = [e.data for e in await vm_events(bus, uuid) if e.type == "vm.state_changed"]
    assert changes[-1]["state"] == "shutoff" and changes[-1]["reason"] == "guest powered off"
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})


async def test_vm_survives_agent_kill_and_is_readopted(nats_url, agent, bus, guest):
    node = agent.node_id
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "count"))
    await wait_serial(serial(agent, uuid), "COUNT 1")
    agent.kill()
    [pid] = qemu_pids(uuid)
    count = serial(agent, uuid).read_text().count("COUNT")
    await wait_serial(serial(agent, uuid), f"COUNT {count + 3}")  # counting without an agent
    agent.start()
    adopted = await wait_event(bus, uuid, lambda e: e.type == "vm.adopted")
    assert adopted.data["pid"] == pid and adopted.data["state"] == "running"
    await kvm(bus, node, "kvm.pause", {"uuid": uuid})
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})
    assert qemu_pids(uuid) == []


async def test_bad_input(agent, bus, guest, tmp_path):
    node = agent.node_id
    unknown = "0b6e8d4c-1d5e-4a43-9a55-2f6d1f1a0c11"
    result = await kvm(bus, node, "kvm.pause", {"uuid": unknown}, ok=False)
    assert (result.state, result.code) == ("ERROR", 404) and unknown in result.data
    result = await kvm(bus, node, "kvm.create", vm_args(guest, memory=10**9), ok=False)
    assert (result.state, result.code) == ("ERROR", 400) and "memory" in result.data
    result = await kvm(bus, node, "kvm.create", {"cpu": 1, "memory": 64}, ok=False)
    assert "At least one boot media" in result.data
    # A medium that does not answer: qemu refuses, nothing is left behind.
    missing = f"nbd+unix:///nothere?socket={tmp_path}/no.sock"
    result = await kvm(bus, node, "kvm.create", vm_args(guest, media=[{"url": missing}]), ok=False)
    assert (result.state, result.code) == ("ERROR", 400) and "failed to create machine" in result.data
    assert list((agent.data_dir / "vms").iterdir()) == []
    assert not [p for p in os.listdir("/proc") if p.isdigit() and
                str(tmp_path).encode() in _cmdline(int(p))]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


async def test_kvm_events_job_streams_lifecycle_changes(agent, bus, guest):
    from zos.bus import event_subject, log_subject
    from zos.events import Command
    node = agent.node_id
    job = "kvm-events-" + os.urandom(4).hex()
    await bus.send_command(Command(id=job, command="kvm.events", arguments={}, stream=True), node)
    await wait_started(bus, event_subject("job", job))
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "idle", name="watched"))
    await kvm(bus, node, "kvm.pause", {"uuid": uuid})
    await kvm(bus, node, "kvm.resume", {"uuid": uuid})
    await kvm(bus, node, "kvm.monitor")
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})
    await kvm(bus, node, "job.kill", {"id": job})
    bodies = []
    async for item in bus.replay(log_subject(node, job), decode_events=False):
        text = json.loads(item.data)["message"]["message"]
        if text.startswith("{"):
            bodies.append(json.loads(text))
    assert [(b["uuid"], b["name"], b["event"], b["detail"]) for b in bodies] == [
        (uuid, "watched", "started", "booted"), (uuid, "watched", "suspended", "paused"),
        (uuid, "watched", "resumed", "unpaused"), (uuid, "watched", "stopped", "destroyed")]
    assert [b["sequence"] for b in bodies] == sorted(b["sequence"] for b in bodies)
    # kvm.monitor published one I/O sample of the VM on zos.io.vm.<uuid>
    samples = [item async for item in bus.replay(f"zos.io.vm.{uuid}", decode_events=False)]
    assert len(samples) == 1


async def wait_started(bus, subject, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        types = [item.event.type async for item in bus.replay(subject) if item.event is not None]
        if "job.started" in types:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no job.started on {subject}")
