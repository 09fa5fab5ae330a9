"""Domain events of the network and disk builtins (issue 12 §3): a builtin that changes the
world records the event that says so, caused by its job, before the job's job.finished; a
change that fails records nothing.

Only namespaces and loop devices the tests create are touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NodeAgent
from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import call, need_root, need_tool, sh
from zos.bus import Bus, Delivered, aggregate_filter, call as bus_call, event_subject
from zos.node.builtins import BuiltinError, Context

# The fixtures this module uses (defined once in _sys_fixtures).
netns = fx.netns
netns_factory = fx.netns_factory
loop_device = fx.loop_device
sys_ctx = fx.sys_ctx


@pytest.fixture(scope="module")
def sys_agent(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgent]:
    need_root()
    running = NodeAgent(nats_url, tmp_path_factory.mktemp("events-agent")).start()
    try:
        yield running
    finally:
        running.stop()


async def log_of(bus: Bus, subject: str) -> list[Delivered]:
    return [item async for item in bus.replay(subject)]


def kernel_mac(namespace: str, name: str) -> str:
    [link] = json.loads(sh("ip", "-n", namespace, "-j", "link", "show", name).stdout)
    return link["address"]


def changes(ctx: Context) -> list[tuple[str, str, str, dict]]:
    """The events recorded since the last look (a context outside an agent keeps them)."""
    found = [(e.type, e.aggregate, e.aggregate_id, e.data) for e in ctx.changes]
    ctx.changes.clear()
    return found


# --- through the real agent and the real bus ---------------------------------------------------

async def test_bridge_created_is_caused_by_the_job_and_stored_before_its_result(
        bus: Bus, sys_agent: NodeAgent, netns: str) -> None:
    node = sys_agent.node_id
    result = await bus_call(bus, node, "bridge.create", {
        "name": "ev0", "namespace": netns,
        "network": {"mode": "static", "settings": {"cidr": "10.93.0.1/24"}}}, timeout=90)
    assert (result.state, result.code, result.data) == ("SUCCESS", 0, "null"), result

    job = await log_of(bus, event_subject("job", result.id))
    assert [d.event.type for d in job] == ["job.accepted", "job.started", "job.finished"]
    accepted, finished = job[0], job[-1]
    [created] = await log_of(bus, event_subject("bridge", f"{node}-{netns}-ev0"))
    assert created.subject == f"zos.evt.bridge.{node}-{netns}-ev0"
    event = created.event
    assert (event.type, event.aggregate, event.causation_id, event.actor) == (
        "bridge.created", "bridge", accepted.event.id, f"node:{node}")
    assert accepted.seq < created.seq < finished.seq
    assert event.data == {"node": node, "namespace": netns, "name": "ev0",
                          "hwaddr": kernel_mac(netns, "ev0"), "mode": "static", "nat": False,
                          "settings": {"cidr": "10.93.0.1/24"}, "job": result.id}

    deleted = await bus_call(bus, node, "bridge.delete", {"name": "ev0", "namespace": netns}, timeout=90)
    assert deleted.state == "SUCCESS", deleted
    job = await log_of(bus, event_subject("job", deleted.id))
    bridge = await log_of(bus, event_subject("bridge", f"{node}-{netns}-ev0"))
    assert [d.event.type for d in bridge] == ["bridge.created", "bridge.deleted"]
    assert bridge[1].event.causation_id == job[0].event.id and job[0].seq < bridge[1].seq < job[-1].seq


async def test_failed_bridge_create_records_nothing(bus: Bus, sys_agent: NodeAgent,
                                                    netns_factory) -> None:
    node = sys_agent.node_id
    ns, broken = netns_factory(), netns_factory()
    network = {"mode": "static", "settings": {"cidr": "10.94.0.1/24"}}
    ok = await bus_call(bus, node, "bridge.create", {"name": "ev1", "namespace": ns, "network": network},
                        timeout=90)
    assert ok.state == "SUCCESS", ok
    # Refused before anything changed: the name is taken.
    taken = await bus_call(bus, node, "bridge.create", {"name": "ev1", "namespace": ns}, timeout=90)
    assert (taken.state, taken.code) == ("ERROR", 412), taken
    # Fails midway: the link exists and is up when its runtime directory cannot be made (a
    # file is in the way); create undoes the link and says nothing.
    (sys_agent.data_dir / "bridges").mkdir(exist_ok=True)
    (sys_agent.data_dir / "bridges" / broken).write_text("in the way")
    midway = await bus_call(bus, node, "bridge.create", {"name": "ev2", "namespace": broken,
                                                         "network": network}, timeout=90)
    assert (midway.state, midway.code) == ("ERROR", 500), midway
    assert sh("ip", "-n", broken, "link", "show", "ev2", check=False).returncode != 0

    failed = set()
    for result in (taken, midway):
        job = await log_of(bus, event_subject("job", result.id))
        assert [d.event.type for d in job] == ["job.accepted", "job.started", "job.finished"]
        failed.add(job[0].event.id)
    caused = [d.event for d in await log_of(bus, aggregate_filter("bridge"))
              if d.event.causation_id in failed]
    assert caused == []
    assert [d.event.type for d in await log_of(bus, event_subject("bridge", f"{node}-{ns}-ev1"))] == [
        "bridge.created"]


async def test_disk_process_job_records_the_change_before_its_result(
        bus: Bus, sys_agent: NodeAgent, loop_device: str) -> None:
    """mktable is still a process job (0-core's result shape); its disk.partitioned is on the
    log before the job.finished, and a parted that fails records nothing."""
    node = sys_agent.node_id
    result = await bus_call(bus, node, "disk.mktable", {"disk": loop_device, "table_type": "gpt"}, timeout=90)
    assert (result.state, result.code, result.level, result.data) == ("SUCCESS", 0, 0, ""), result
    job = await log_of(bus, event_subject("job", result.id))
    [partitioned] = await log_of(bus, event_subject("disk", f"{node}-{loop_device}"))
    assert partitioned.event.causation_id == job[0].event.id and partitioned.seq < job[-1].seq
    assert partitioned.event.data == {"node": node, "disk": loop_device, "operation": "mktable",
                                      "table": "gpt", "partitions": []}

    await bus_call(bus, node, "disk.mkpart", {"disk": loop_device, "start": "1MiB", "end": "30MiB"})
    overlap = await bus_call(bus, node, "disk.mkpart", {"disk": loop_device, "start": "10MiB", "end": "40MiB"})
    assert (overlap.state, overlap.code, overlap.level) == ("ERROR", 1001, 0), overlap
    assert "You requested a partition from" in overlap.streams[1]
    types = [(d.event.type, d.event.data["operation"])
             for d in await log_of(bus, event_subject("disk", f"{node}-{loop_device}"))]
    assert types == [("disk.partitioned", "mktable"), ("disk.partitioned", "mkpart")]


# --- each builtin's events, called as the agent's worker thread calls it -----------------------

def test_ip_builtins_record_nic_changes(netns: str) -> None:
    ctx = Context(node_id="n1", job_id="j1")
    ns = {"namespace": netns}
    nic = f"n1-{netns}-br9"
    where = {"node": "n1", "namespace": netns}

    call("ip.bridge.add", {"name": "br9", **ns}, ctx)
    assert changes(ctx) == [("nic.added", "nic", nic,
                             {**where, "name": "br9", "kind": "bridge", "hwaddr": kernel_mac(netns, "br9")})]
    call("ip.link.up", {"name": "br9", **ns}, ctx)
    call("ip.link.up", {"name": "br9", **ns}, ctx)      # already up: nothing changed
    call("ip.link.mtu", {"name": "br9", "mtu": 1400, **ns}, ctx)
    call("ip.link.mtu", {"name": "br9", "mtu": 1400, **ns}, ctx)
    call("ip.addr.add", {"name": "br9", "ip": "10.95.0.1/24", **ns}, ctx)
    with pytest.raises(BuiltinError):                   # exists: refused, nothing recorded
        call("ip.addr.add", {"name": "br9", "ip": "10.95.0.1/24", **ns}, ctx)
    call("ip.route.add", {"dev": "br9", "dst": "10.96.0.0/16", "gw": "10.95.0.254", **ns}, ctx)
    call("ip.route.del", {"dev": "br9", "dst": "10.96.0.0/16", "gw": "10.95.0.254", **ns}, ctx)
    call("ip.addr.del", {"name": "br9", "ip": "10.95.0.1/24", **ns}, ctx)
    fx.veth(netns, "ve9", "ve9p")
    call("ip.bridge.addif", {"name": "br9", "inf": "ve9", **ns}, ctx)
    call("ip.bridge.delif", {"name": "br9", "inf": "ve9", **ns}, ctx)
    call("bridge.nic-add", {"name": "br9", "nic": "ve9", **ns}, ctx)
    call("bridge.nic-remove", {"nic": "ve9", **ns}, ctx)
    call("ip.link.down", {"name": "br9", **ns}, ctx)
    call("ip.link.name", {"name": "br9", "new": "br10", **ns}, ctx)
    call("ip.bridge.del", {"name": "br10", **ns}, ctx)
    veth = f"n1-{netns}-ve9"
    assert changes(ctx) == [
        ("nic.state_changed", "nic", nic, {**where, "name": "br9", "state": "up"}),
        ("nic.mtu_changed", "nic", nic, {**where, "name": "br9", "mtu": 1400, "old_mtu": 1500}),
        ("nic.address_added", "nic", nic, {**where, "name": "br9", "address": "10.95.0.1/24"}),
        ("nic.route_added", "nic", nic, {**where, "name": "br9", "dst": "10.96.0.0/16", "gw": "10.95.0.254"}),
        ("nic.route_removed", "nic", nic, {**where, "name": "br9", "dst": "10.96.0.0/16", "gw": "10.95.0.254"}),
        ("nic.address_removed", "nic", nic, {**where, "name": "br9", "address": "10.95.0.1/24"}),
        ("nic.attached", "nic", veth, {**where, "name": "ve9", "bridge": "br9"}),
        ("nic.detached", "nic", veth, {**where, "name": "ve9", "bridge": "br9"}),
        ("nic.attached", "nic", veth, {**where, "name": "ve9", "bridge": "br9"}),
        ("nic.detached", "nic", veth, {**where, "name": "ve9", "bridge": "br9"}),
        ("nic.state_changed", "nic", nic, {**where, "name": "br9", "state": "down"}),
        ("nic.renamed", "nic", nic, {**where, "name": "br9", "new_name": "br10"}),
        ("nic.removed", "nic", f"n1-{netns}-br10", {**where, "name": "br10"}),
    ]


def test_nft_builtins_record_ports(netns: str) -> None:
    need_tool("nft", "nftables")
    ctx = Context(node_id="n1", job_id="j1")
    args = {"port": 8080, "interface": "lo", "subnet": "10.97.0.0/16", "namespace": netns}
    call("nft.open_port", args, ctx)
    with pytest.raises(BuiltinError):                   # opened twice: refused, nothing recorded
        call("nft.open_port", args, ctx)
    call("nft.drop_port", args, ctx)
    with pytest.raises(BuiltinError):
        call("nft.drop_port", args, ctx)
    port = {"node": "n1", "namespace": netns, "port": 8080, "interface": "lo", "subnet": "10.97.0.0/16",
            "rule": 'iifname "lo" ip saddr 10.97.0.0/16 tcp dport 8080 accept'}
    assert changes(ctx) == [("nft.port_opened", "nft", f"n1-{netns}-8080", port),
                            ("nft.port_closed", "nft", f"n1-{netns}-8080", port)]


def test_bridge_builtins_record_bridges(netns: str, sys_ctx: Context) -> None:
    need_tool("dnsmasq", "dnsmasq-base")
    need_tool("nft", "nftables")
    where = {"node": "test", "namespace": netns}
    call("bridge.create", {"name": "bd0", "hwaddr": "02:00:00:00:00:b0", "namespace": netns, "network": {
        "mode": "dnsmasq", "nat": True,
        "settings": {"cidr": "10.98.0.1/24", "start": "10.98.0.10", "end": "10.98.0.20"}}}, sys_ctx)
    call("bridge.host-add", {"bridge": "bd0", "mac": "02:00:00:00:00:01", "ip": "10.98.0.11",
                             "namespace": netns}, sys_ctx)
    call("bridge.delete", {"name": "bd0", "namespace": netns}, sys_ctx)
    job = sys_ctx.job_id
    assert changes(sys_ctx) == [
        ("bridge.created", "bridge", f"test-{netns}-bd0", {
            **where, "name": "bd0", "hwaddr": "02:00:00:00:00:b0", "mode": "dnsmasq", "nat": True,
            "settings": {"cidr": "10.98.0.1/24", "start": "10.98.0.10", "end": "10.98.0.20"}, "job": job}),
        ("bridge.host_added", "bridge", f"test-{netns}-bd0",
         {**where, "name": "bd0", "mac": "02:00:00:00:00:01", "ip": "10.98.0.11"}),
        ("bridge.deleted", "bridge", f"test-{netns}-bd0", {**where, "name": "bd0", "job": job}),
    ]


def test_disk_builtins_record_partitions_and_mounts(loop_device: str, tmp_path: Path) -> None:
    need_tool("mkfs.ext4", "e2fsprogs")
    ctx = Context(node_id="n1", job_id="j1")
    disk = f"n1-{loop_device}"

    def run(spec) -> int:  # as the process manager does: the process, then its on_exit
        code = sh(*spec.argv, check=False).returncode
        if spec.on_exit is not None:
            spec.on_exit(code)
        return code

    assert run(call("disk.mktable", {"disk": loop_device, "table_type": "msdos"}, ctx)) == 0
    assert run(call("disk.mkpart", {"disk": loop_device, "start": "1MiB", "end": "30MiB"}, ctx)) == 0
    assert run(call("disk.mkpart", {"disk": loop_device, "start": "10MiB", "end": "40MiB"}, ctx)) == 1
    assert run(call("disk.mkpart", {"disk": loop_device, "start": "30MiB", "end": "40MiB"}, ctx)) == 0
    assert run(call("disk.rmpart", {"disk": loop_device, "number": 2}, ctx)) == 0
    recorded = changes(ctx)
    assert [(t, a, i, d["operation"]) for t, a, i, d in recorded] == [
        ("disk.partitioned", "disk", disk, "mktable"), ("disk.partitioned", "disk", disk, "mkpart"),
        ("disk.partitioned", "disk", disk, "mkpart"), ("disk.partitioned", "disk", disk, "rmpart")]
    MiB = 1024 * 1024
    assert recorded[1][3] == {"node": "n1", "disk": loop_device, "operation": "mkpart", "part_type": "primary",
                              "start": "1MiB", "end": "30MiB", "partitions": [
                                  {"number": 1, "start": MiB, "end": 30 * MiB - 1, "size": 29 * MiB,
                                   "filesystem": "", "name": "", "flags": ""}]}
    assert recorded[3][3]["number"] == 2 and [p["number"] for p in recorded[3][3]["partitions"]] == [1]

    device = f"/dev/{loop_device}p1"
    sh("mkfs.ext4", "-q", "-F", device)
    target = tmp_path / "mnt"
    assert run(call("disk.mount", {"source": device, "target": str(target), "options": "ro"}, ctx)) == 0
    assert run(call("disk.umount", {"source": str(target)}, ctx)) == 0
    mount = f"n1-{target}"
    assert changes(ctx) == [
        ("disk.mounted", "mount", mount, {"node": "n1", "source": device, "target": str(target),
                                          "options": "ro", "filesystem": "ext4"}),
        ("disk.unmounted", "mount", mount, {"node": "n1", "source": device, "target": str(target)})]
    assert event_subject("mount", mount).startswith("zos.evt.mount.h_")  # a path: hashed token

