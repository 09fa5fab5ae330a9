"""Nics in a network namespace the test makes: the default NAT bridge (made on first use,
with its DHCP host entry), a named bridge hot-plugged and unplugged, port forwards as nft
rules tagged with the VM, and nothing left after destroy."""

from __future__ import annotations

import json
import os
import subprocess
import uuid as uuidlib

import pytest

from .conftest import kvm, serial, vm_args, vm_events, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def ns_run(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30,
                          check=check)


def links(ns: str) -> dict[str, dict]:
    return {link["ifname"]: link for link in json.loads(ns_run(ns, "ip", "-j", "link").stdout)}


def forward_rules(ns: str) -> list[str]:
    out = ns_run(ns, "nft", "-j", "list", "ruleset").stdout
    return [item["rule"].get("comment", "") for item in json.loads(out)["nftables"]
            if "rule" in item and item["rule"].get("comment", "").startswith("kvm-")]


@pytest.fixture
def netns():
    name = "zt-" + uuidlib.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "pids", name], capture_output=True)
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
            subprocess.run(["kill", "-9", pid])
        subprocess.run(["ip", "netns", "del", name])


async def test_default_and_bridge_nics_and_port_forwards(agent, bus, guest, netns):
    node = agent.node_id
    uuid = await kvm(bus, node, "kvm.create", vm_args(guest, "nics", namespace=netns,
                                                     nics=[{"type": "default"}], port={"2222": 22}))
    console = serial(agent, uuid)
    await wait_serial(console, "NET UP")
    got = await kvm(bus, node, "kvm.get", {"uuid": uuid})
    assert got["default_ip"] == "172.19.0.2"
    [nic] = got["params"]["nics"]
    assert (nic["type"], nic["hwaddr"]) == ("default", "00:28:06:82:00:02")
    # The tap is a port of kvm0 (made on first use) and the guest answers on it.
    found = links(netns)
    assert found[nic["tap"]]["master"] == "kvm0" and got["ifctargets"] == [nic["tap"]]
    assert ns_run(netns, "busybox", "ping", "-c", "1", "-W", "5", "172.19.0.2", check=False).returncode == 0
    assert forward_rules(netns) == [f"kvm-{uuid} 2222"]
    # Hot-plug a nic on another bridge, then unplug it.
    await kvm(bus, node, "bridge.create", {"name": "brt", "namespace": netns})
    await kvm(bus, node, "kvm.add_nic", {"uuid": uuid, "type": "bridge", "id": "brt"})
    await wait_serial(console, "NICS eth0 eth1 lo")
    twice = await kvm(bus, node, "kvm.add_nic", {"uuid": uuid, "type": "bridge", "id": "brt"}, ok=False)
    assert twice.code == 412
    default_again = await kvm(bus, node, "kvm.add_nic", {"uuid": uuid, "type": "default"}, ok=False)
    assert "default nic is already attached" in default_again.data
    added_tap = (await kvm(bus, node, "kvm.get", {"uuid": uuid}))["params"]["nics"][1]["tap"]
    assert links(netns)[added_tap]["master"] == "brt"
    after = len(console.read_text())
    await kvm(bus, node, "kvm.remove_nic", {"uuid": uuid, "type": "bridge", "id": "brt"})
    await wait_serial(console, "NICS eth0 lo", after=after)
    assert added_tap not in links(netns)
    # Port forwards come and go by tag.
    await kvm(bus, node, "kvm.portforward-add", {"uuid": uuid, "host_port": "8080", "container_port": 80})
    assert sorted(forward_rules(netns)) == [f"kvm-{uuid} 2222", f"kvm-{uuid} 8080"]
    await kvm(bus, node, "kvm.portforward-remove", {"uuid": uuid, "host_port": "8080", "container_port": 80})
    assert forward_rules(netns) == [f"kvm-{uuid} 2222"]
    # Destroy leaves no tap and no rule.
    await kvm(bus, node, "kvm.destroy", {"uuid": uuid})
    assert nic["tap"] not in links(netns) and forward_rules(netns) == []
    types = [e.type for e in await vm_events(bus, uuid)]
    assert types == ["vm.created", "vm.nic_added", "vm.nic_removed", "vm.destroyed"]
    await kvm(bus, node, "bridge.delete", {"name": "kvm0", "namespace": netns})


async def test_bad_nics(agent, bus, guest, netns):
    node = agent.node_id
    for nics, message in (([{"type": "weird"}], "invalid nic type 'weird'"),
                          ([{"type": "bridge", "id": "nobr"}], "bridge 'nobr' not found"),
                          ([{"type": "bridge", "id": "kvm0"}], "should not be added manually")):
        result = await kvm(bus, node, "kvm.create", vm_args(guest, namespace=netns, nics=nics), ok=False)
        assert result.state == "ERROR" and message in result.data, result.data
    assert list((agent.data_dir / "vms").iterdir()) == []
    assert not [name for name in links(netns) if name.startswith("zv")]
