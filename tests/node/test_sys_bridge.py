"""bridge.* builtins (spec core0-protocol §12.4): static, NAT and dnsmasq bridges inside
network namespaces the test creates. NAT and DHCP are checked with real traffic."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import call, need_tool, sh, veth, wait_for
from zos.node.builtins import BuiltinError, Context
from zos.node.builtins.bridge import parse_network

# The fixtures this module uses (defined once in _sys_fixtures).
netns = fx.netns
netns_factory = fx.netns_factory
sys_ctx = fx.sys_ctx


def link(ns: str, name: str) -> dict:
    return json.loads(sh("ip", "-n", ns, "-j", "-d", "addr", "show", name).stdout)[0]


def test_plain_and_static_bridges(netns: str, sys_ctx: Context) -> None:
    call("bridge.create", {"name": "zb0", "namespace": netns}, sys_ctx)
    call("bridge.create", {"name": "zb1", "hwaddr": "02:aa:bb:cc:dd:01", "namespace": netns,
                           "network": {"mode": "static", "nat": False,
                                       "settings": {"cidr": "10.81.0.1/24"}}}, sys_ctx)
    assert sorted(call("bridge.list", {"namespace": netns}, sys_ctx)) == ["zb0", "zb1"]
    shown = link(netns, "zb1")
    assert shown["linkinfo"]["info_kind"] == "bridge" and shown["address"] == "02:aa:bb:cc:dd:01"
    assert "UP" in shown["flags"]
    assert {"local": "10.81.0.1", "prefixlen": 24} in [
        {"local": a["local"], "prefixlen": a["prefixlen"]} for a in shown["addr_info"]]
    assert link(netns, "zb0")["addr_info"] == [] or all(a["family"] == "inet6" for a in link(netns, "zb0")["addr_info"])

    veth(netns, "n0", "n0p")
    call("bridge.nic-add", {"name": "zb1", "nic": "n0", "namespace": netns}, sys_ctx)
    assert call("bridge.nic-list", {"name": "zb1", "namespace": netns}, sys_ctx) == ["n0"]
    assert link(netns, "n0")["master"] == "zb1"
    call("bridge.nic-remove", {"nic": "n0", "namespace": netns}, sys_ctx)
    assert call("bridge.nic-list", {"name": "zb1", "namespace": netns}, sys_ctx) == []
    with pytest.raises(BuiltinError) as exc:
        call("bridge.nic-remove", {"nic": "n0", "namespace": netns}, sys_ctx)
    assert exc.value.code == 406

    call("bridge.delete", {"name": "zb1", "namespace": netns}, sys_ctx)
    call("bridge.delete", {"name": "zb0", "namespace": netns}, sys_ctx)
    assert call("bridge.list", {"namespace": netns}, sys_ctx) == []
    with pytest.raises(BuiltinError) as exc:
        call("bridge.delete", {"name": "zb0", "namespace": netns}, sys_ctx)
    assert exc.value.code == 404


def test_create_errors(netns: str, sys_ctx: Context) -> None:
    call("bridge.create", {"name": "zb0", "namespace": netns,
                           "network": {"mode": "static", "settings": {"cidr": "10.82.0.1/24"}}}, sys_ctx)
    cases = [
        ({"name": "zb0"}, 412, "already exists"),
        ({"name": "default"}, 400, "'name'"),
        ({"name": ""}, 400, "'name'"),
        ({"name": "x" * 16}, 400, "'name'"),
        ({"name": 12}, 400, "'name'"),
        ({"name": "zb2", "hwaddr": "02:00"}, 400, "'hwaddr'"),
        ({"name": "zb2", "network": "static"}, 400, "'network'"),
        ({"name": "zb2", "network": {"mode": "bgp"}}, 400, "'network.mode'"),
        ({"name": "zb2", "network": {"mode": "static", "nat": "yes", "settings": {"cidr": "10.9.0.1/24"}}},
         400, "'network.nat'"),
        ({"name": "zb2", "network": {"mode": "", "nat": True}}, 400, "'network.nat'"),
        ({"name": "zb2", "network": {"mode": "static"}}, 400, "'network.settings.cidr'"),
        ({"name": "zb2", "network": {"mode": "static", "settings": {"cidr": "10.9.0.1/33"}}},
         400, "'network.settings.cidr'"),
        ({"name": "zb2", "network": {"mode": "static", "settings": {"cidr": "10.9.0.0/24"}}},
         400, "network address"),
        ({"name": "zb2", "network": {"mode": "static", "settings": {"cidr": "10.82.7.1/16"}}},
         412, "overlaps"),
        ({"name": "zb2", "network": {"mode": "dnsmasq", "settings": {"cidr": "10.9.0.1/24", "end": "10.9.0.9"}}},
         400, "'network.settings.start'"),
        ({"name": "zb2", "network": {"mode": "dnsmasq", "settings": {"cidr": "10.9.0.1/24", "start": "10.8.0.2",
                                                                       "end": "10.9.0.9"}}},
         400, "not inside 10.9.0.0/24"),
        ({"name": "zb2", "network": {"mode": "dnsmasq", "settings": {"cidr": "10.9.0.1/24", "start": "10.9.0.9",
                                                                       "end": "10.9.0.2"}}},
         400, "is after"),
    ]
    for args, code, text in cases:
        with pytest.raises(BuiltinError) as exc:
            call("bridge.create", {**args, "namespace": netns}, sys_ctx)
        assert (exc.value.code, text in exc.value.message) == (code, True), (args, exc.value.message)
    # Nothing half-made was left behind by the failures.
    assert call("bridge.list", {"namespace": netns}, sys_ctx) == ["zb0"]
    with pytest.raises(BuiltinError) as exc:
        call("bridge.nic-add", {"name": "zb0", "nic": "nosuch", "namespace": netns}, sys_ctx)
    assert exc.value.code == 404
    with pytest.raises(BuiltinError) as exc:
        call("bridge.nic-list", {"name": "lo", "namespace": netns}, sys_ctx)
    assert exc.value.code == 406


def test_nat_masquerades_traffic(netns_factory, sys_ctx: Context) -> None:
    """client --(zbr, 10.83.0.0/24)--> router --(192.0.2.0/24)--> upstream. The upstream has
    no route back to 10.83.0.0/24, so a ping from the client is answered only if the router
    masquerades it."""
    need_tool("nft", "nftables")
    need_tool("busybox", "busybox-static")
    router, client, upstream = netns_factory(), netns_factory(), netns_factory()
    call("bridge.create", {"name": "zbr", "namespace": router,
                           "network": {"mode": "static", "nat": True,
                                       "settings": {"cidr": "10.83.0.1/24"}}}, sys_ctx)
    veth(router, "tocl", "eth0", client)
    call("bridge.nic-add", {"name": "zbr", "nic": "tocl", "namespace": router}, sys_ctx)
    sh("ip", "-n", client, "addr", "add", "10.83.0.2/24", "dev", "eth0")
    sh("ip", "-n", client, "route", "add", "default", "via", "10.83.0.1")
    veth(router, "up0", "eth0", upstream)
    sh("ip", "-n", router, "addr", "add", "192.0.2.1/24", "dev", "up0")
    sh("ip", "-n", upstream, "addr", "add", "192.0.2.2/24", "dev", "eth0")

    rules = sh("ip", "netns", "exec", router, "nft", "list", "chain", "inet", "zos", "postrouting").stdout
    assert "ip saddr 10.83.0.0/24 ip daddr != 10.83.0.0/24 masquerade" in rules
    assert sh("ip", "netns", "exec", router, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    ping = ["ip", "netns", "exec", client, "busybox", "ping", "-c", "1", "-W", "3", "192.0.2.2"]
    wait_for(lambda: sh(*ping, check=False).returncode == 0, what="a masqueraded ping to answer")

    # Without the bridge (and its NAT rule) nothing is masqueraded any more.
    call("bridge.delete", {"name": "zbr", "namespace": router}, sys_ctx)
    rules = sh("ip", "netns", "exec", router, "nft", "list", "chain", "inet", "zos", "postrouting").stdout
    assert "masquerade" not in rules


def test_dnsmasq_serves_dhcp_and_static_hosts(netns_factory, sys_ctx: Context) -> None:
    need_tool("dnsmasq", "dnsmasq")
    need_tool("busybox", "busybox-static")
    router, client = netns_factory(), netns_factory()
    call("bridge.create", {"name": "zdh", "namespace": router,
                           "network": {"mode": "dnsmasq", "nat": False,
                                       "settings": {"cidr": "10.84.0.1/24", "start": "10.84.0.100",
                                                    "end": "10.84.0.110"}}}, sys_ctx)
    veth(router, "tocl", "eth0", client)
    call("bridge.nic-add", {"name": "zdh", "nic": "tocl", "namespace": router}, sys_ctx)
    udhcpc = ["ip", "netns", "exec", client, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
              "-t", "10", "-T", "1", "-s", "/bin/true"]
    dynamic = sh(*udhcpc, check=False)
    assert dynamic.returncode == 0, dynamic.stderr
    leased = dynamic.stderr.split("lease of ")[1].split()[0]
    assert ipaddress.ip_address("10.84.0.100") <= ipaddress.ip_address(leased) <= ipaddress.ip_address("10.84.0.110")

    # dnsmasq listens on the bridge only: inside the router namespace, bound to zdh's address.
    pid = int((sys_ctx.data_dir / "bridges" / router / "zdh" / "dnsmasq.pid").read_text())
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{router}").st_ino
    assert "--interface=zdh" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")

    mac = json.loads(sh("ip", "-n", client, "-j", "link", "show", "eth0").stdout)[0]["address"]
    call("bridge.host-add", {"bridge": "zdh", "mac": mac, "ip": "10.84.0.50", "namespace": router}, sys_ctx)
    fixed = sh(*udhcpc, check=False)
    assert "lease of 10.84.0.50 obtained" in fixed.stderr, fixed.stderr
    with pytest.raises(BuiltinError) as exc:
        call("bridge.add_host", {"bridge": "zdh", "mac": mac, "ip": "10.99.0.5", "namespace": router}, sys_ctx)
    assert exc.value.code == 400 and "'ip'" in exc.value.message
    with pytest.raises(BuiltinError) as exc:
        call("bridge.add_host", {"bridge": "zdh", "mac": "nope", "ip": "10.84.0.5", "namespace": router}, sys_ctx)
    assert exc.value.code == 400 and "'mac'" in exc.value.message

    call("bridge.delete", {"name": "zdh", "namespace": router}, sys_ctx)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or
             Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", what="dnsmasq to stop")


def test_host_add_needs_a_dnsmasq_bridge(netns: str, sys_ctx: Context) -> None:
    call("bridge.create", {"name": "zs", "namespace": netns,
                           "network": {"mode": "static", "settings": {"cidr": "10.85.0.1/24"}}}, sys_ctx)
    with pytest.raises(BuiltinError) as exc:
        call("bridge.host-add", {"bridge": "zs", "mac": "02:00:00:00:00:01", "ip": "10.85.0.5",
                                 "namespace": netns}, sys_ctx)
    assert exc.value.code == 412 and "dnsmasq" in exc.value.message


_ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=2))
_ADDRESSES = st.one_of(st.ip_addresses().map(str), st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(network=st.one_of(_ANY, st.fixed_dictionaries({}, optional={
    "mode": st.one_of(st.sampled_from(["", "static", "dnsmasq"]), _ANY),
    "nat": st.one_of(st.booleans(), _ANY),
    "settings": st.one_of(_ANY, st.fixed_dictionaries({}, optional={
        "cidr": st.one_of(st.tuples(st.ip_addresses(), st.integers(0, 130)).map(lambda t: f"{t[0]}/{t[1]}"), _ANY),
        "start": st.one_of(_ADDRESSES, _ANY), "end": st.one_of(_ADDRESSES, _ANY)}))})))
def test_fuzz_network_argument(network: object) -> None:
    """Whatever `network` holds, it is either accepted whole or refused with a 400 naming it."""
    try:
        found = parse_network({"network": network})
    except BuiltinError as exc:
        assert exc.code == 400 and "'network" in exc.message, exc.message
        return
    assert found["mode"] in ("", "static", "dnsmasq")
    if found["mode"]:
        assert found["cidr"] is not None
    if found["mode"] == "dnsmasq":
        assert found["start"] in found["cidr"].network and found["start"] <= found["end"]


def test_two_dnsmasq_bridges_in_one_namespace(netns: str, sys_ctx: Context) -> None:
    """Each bridge's dnsmasq binds its DHCP socket to its own bridge: they do not collide."""
    need_tool("dnsmasq", "dnsmasq")
    for number in (1, 2):
        call("bridge.create", {"name": f"zd{number}", "namespace": netns, "network": {
            "mode": "dnsmasq", "settings": {"cidr": f"10.8{number}.10.1/24", "start": f"10.8{number}.10.10",
                                            "end": f"10.8{number}.10.20"}}}, sys_ctx)
    commands = sorted(Path(f"/proc/{pid}/cmdline").read_text() for pid in
                      sh("ip", "netns", "pids", netns).stdout.split())
    assert len(commands) == 2 and "--interface=zd1" in commands[0] and "--interface=zd2" in commands[1]


def test_failed_create_leaves_nothing_behind(netns: str, sys_ctx: Context) -> None:
    """dnsmasq cannot bind its DNS port (the test holds it): the create fails with dnsmasq's
    own message, and the bridge, its address and its runtime files are gone."""
    need_tool("dnsmasq", "dnsmasq")
    holder = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c",
                               "import socket, sys, time\n"
                               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                               "s.bind(('0.0.0.0', 53)); print('bound', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "bound"
        with pytest.raises(BuiltinError) as exc:
            call("bridge.create", {"name": "zfail", "namespace": netns, "network": {
                "mode": "dnsmasq", "nat": True, "settings": {"cidr": "10.87.0.1/24", "start": "10.87.0.10",
                                                             "end": "10.87.0.20"}}}, sys_ctx)
        assert exc.value.code == 500 and "dnsmasq" in exc.value.message and "in use" in exc.value.message
        assert call("bridge.list", {"namespace": netns}, sys_ctx) == []
        assert not (sys_ctx.data_dir / "bridges" / netns / "zfail").exists()
        rules = sh("ip", "netns", "exec", netns, "nft", "list", "chain", "inet", "zos", "postrouting").stdout
        assert "masquerade" not in rules
    finally:
        holder.kill()
        holder.wait()
