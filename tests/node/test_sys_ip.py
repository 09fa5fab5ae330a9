"""ip.* builtins (spec core0-protocol §12.4) on a network namespace the test creates."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import call, sh, veth
from zos.node.builtins import BuiltinError

# The fixtures this module uses (defined once in _sys_fixtures).
netns = fx.netns


def links(ns: str) -> dict[str, dict]:
    return {link["name"]: link for link in call("ip.link.list", {"namespace": ns})}


def kernel_link(ns: str, name: str) -> dict:
    return json.loads(sh("ip", "-n", ns, "-j", "-d", "link", "show", name).stdout)[0]


def test_link_list_shape_and_up_down_mtu_rename(netns: str) -> None:
    veth(netns, "v0", "v1")
    listed = links(netns)
    assert set(listed) == {"lo", "v0", "v1"}
    assert listed["lo"] == {"name": "lo", "type": "device", "hwaddr": "00:00:00:00:00:00", "master": "",
                            "up": True, "mtu": 65536}
    assert listed["v0"]["type"] == "veth" and listed["v0"]["up"] is True
    assert listed["v0"]["hwaddr"] == kernel_link(netns, "v0")["address"]

    assert call("ip.link.down", {"name": "v0", "namespace": netns}) is None
    assert "UP" not in kernel_link(netns, "v0")["flags"]
    assert links(netns)["v0"]["up"] is False
    call("ip.link.up", {"name": "v0", "namespace": netns})
    assert "UP" in kernel_link(netns, "v0")["flags"]

    call("ip.link.mtu", {"name": "v0", "mtu": 1400, "namespace": netns})
    assert kernel_link(netns, "v0")["mtu"] == 1400 and links(netns)["v0"]["mtu"] == 1400

    call("ip.link.down", {"name": "v1", "namespace": netns})
    call("ip.link.name", {"name": "v1", "new": "renamed1", "namespace": netns})
    assert "renamed1" in links(netns) and "v1" not in links(netns)


def test_bridge_add_addif_delif_del(netns: str) -> None:
    veth(netns, "v0", "v1")
    call("ip.bridge.add", {"name": "br7", "hwaddr": "02:11:22:33:44:55", "namespace": netns})
    assert kernel_link(netns, "br7")["linkinfo"]["info_kind"] == "bridge"
    assert links(netns)["br7"]["hwaddr"] == "02:11:22:33:44:55"
    call("ip.bridge.addif", {"name": "br7", "inf": "v0", "namespace": netns})
    assert kernel_link(netns, "v0")["master"] == "br7"
    assert links(netns)["v0"]["master"] == "br7"
    call("ip.bridge.delif", {"name": "br7", "inf": "v0", "namespace": netns})
    assert "master" not in kernel_link(netns, "v0")
    with pytest.raises(BuiltinError) as exc:
        call("ip.bridge.delif", {"name": "br7", "inf": "v0", "namespace": netns})
    assert exc.value.code == 406
    with pytest.raises(BuiltinError) as exc:
        call("ip.bridge.add", {"name": "br7", "namespace": netns})
    assert exc.value.code == 412
    with pytest.raises(BuiltinError) as exc:
        call("ip.bridge.del", {"name": "v0", "namespace": netns})
    assert exc.value.code == 406 and "not a bridge" in exc.value.message
    call("ip.bridge.del", {"name": "br7", "namespace": netns})
    assert "br7" not in links(netns)


def test_addresses(netns: str) -> None:
    veth(netns, "v0", "v1")
    call("ip.addr.add", {"name": "v0", "ip": "10.77.0.1/24", "namespace": netns})
    call("ip.addr.add", {"name": "v0", "ip": "fd00:77::1/64", "namespace": netns})
    listed = call("ip.addr.list", {"name": "v0", "namespace": netns})
    assert "10.77.0.1/24" in listed and "fd00:77::1/64" in listed
    shown = sh("ip", "-n", netns, "-o", "addr", "show", "dev", "v0").stdout
    assert "10.77.0.1/24" in shown
    call("ip.addr.del", {"name": "v0", "ip": "10.77.0.1/24", "namespace": netns})
    assert "10.77.0.1/24" not in call("ip.addr.list", {"name": "v0", "namespace": netns})
    with pytest.raises(BuiltinError) as exc:
        call("ip.addr.del", {"name": "v0", "ip": "10.77.0.1/24", "namespace": netns})
    assert exc.value.code == 404
    with pytest.raises(BuiltinError) as exc:
        call("ip.addr.add", {"name": "v0", "ip": "fd00:77::1/64", "namespace": netns})
    assert exc.value.code == 412


def test_routes(netns: str) -> None:
    veth(netns, "v0", "v1")
    call("ip.addr.add", {"name": "v0", "ip": "10.78.0.1/24", "namespace": netns})
    call("ip.route.add", {"dev": "v0", "dst": "10.200.0.0/16", "gw": "10.78.0.254", "namespace": netns})
    call("ip.route.add", {"dev": "v0", "dst": "default", "gw": "10.78.0.253", "namespace": netns})
    call("ip.route.add", {"dev": "v1", "dst": "10.201.0.0/16", "namespace": netns})
    routes = call("ip.route.list", {"namespace": netns})
    assert {"dev": "v0", "dst": "10.200.0.0/16", "gw": "10.78.0.254"} in routes
    assert {"dev": "v0", "dst": "0.0.0.0/0", "gw": "10.78.0.253"} in routes
    assert {"dev": "v1", "dst": "10.201.0.0/16", "gw": ""} in routes
    assert {"dev": "v0", "dst": "10.78.0.0/24", "gw": ""} in routes  # the connected route
    kernel = sh("ip", "-n", netns, "route").stdout
    assert "10.200.0.0/16 via 10.78.0.254 dev v0" in kernel and "default via 10.78.0.253" in kernel
    call("ip.route.del", {"dev": "v0", "dst": "10.200.0.0/16", "gw": "10.78.0.254", "namespace": netns})
    assert "10.200.0.0/16" not in sh("ip", "-n", netns, "route").stdout
    with pytest.raises(BuiltinError) as exc:
        call("ip.route.del", {"dev": "v0", "dst": "10.200.0.0/16", "gw": "10.78.0.254", "namespace": netns})
    assert exc.value.code == 404
    with pytest.raises(BuiltinError) as exc:  # gateway on no connected network
        call("ip.route.add", {"dev": "v0", "dst": "10.202.0.0/16", "gw": "192.0.2.1", "namespace": netns})
    assert exc.value.code == 400


@pytest.mark.parametrize("name, args, code, field", [
    ("ip.link.up", {"name": "nosuch0"}, 404, "nosuch0"),
    ("ip.link.up", {}, 400, "name"),
    ("ip.link.up", {"name": 7}, 400, "name"),
    ("ip.link.up", {"name": "a/b"}, 400, "name"),
    ("ip.link.up", {"name": "x" * 16}, 400, "name"),
    ("ip.link.mtu", {"name": "lo", "mtu": "1500"}, 400, "mtu"),
    ("ip.link.mtu", {"name": "lo", "mtu": True}, 400, "mtu"),
    ("ip.link.mtu", {"name": "lo", "mtu": 70000}, 400, "mtu"),
    ("ip.addr.add", {"name": "lo", "ip": "10.0.0.300/24"}, 400, "ip"),
    ("ip.addr.add", {"name": "lo", "ip": "10.0.0.1/33"}, 400, "ip"),
    ("ip.addr.add", {"name": "lo", "ip": ["10.0.0.1/8"]}, 400, "ip"),
    ("ip.addr.add", {"name": "nosuch0", "ip": "10.0.0.1/8"}, 404, "nosuch0"),
    ("ip.addr.list", {"name": "nosuch0"}, 404, "nosuch0"),
    ("ip.route.add", {"dev": "lo", "dst": "nonsense"}, 400, "dst"),
    ("ip.route.add", {"dev": "lo", "dst": "10.0.0.0/8", "gw": "fe80::1"}, 400, "gw"),
    ("ip.route.add", {"dev": "lo", "dst": "10.0.0.0/8", "gw": "1.2.3"}, 400, "gw"),
    ("ip.bridge.add", {"name": "brx", "hwaddr": "zz:zz"}, 400, "hwaddr"),
    ("ip.bridge.addif", {"name": "nosuch0", "inf": "lo"}, 404, "nosuch0"),
])
def test_bad_arguments(netns: str, name: str, args: dict, code: int, field: str) -> None:
    with pytest.raises(BuiltinError) as exc:
        call(name, {**args, "namespace": netns})
    assert exc.value.code == code
    assert field in exc.value.message


def test_namespace_argument_is_checked() -> None:
    with pytest.raises(BuiltinError) as exc:
        call("ip.link.list", {"namespace": "zos-test-does-not-exist"})
    assert exc.value.code == 404 and "zos-test-does-not-exist" in exc.value.message
    with pytest.raises(BuiltinError) as exc:
        call("ip.link.list", {"namespace": "../etc"})
    assert exc.value.code == 400 and "namespace" in exc.value.message
    with pytest.raises(BuiltinError) as exc:
        call("ip.link.list", {"namespace": 3})
    assert exc.value.code == 400


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ip=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
       name=st.one_of(st.just("lo"), st.text(max_size=20)))
def test_fuzz_addr_add_gives_typed_errors(netns: str, ip: object, name: object) -> None:
    """Whatever the arguments, the builtin either works or answers a typed 400/404/412."""
    try:
        call("ip.addr.add", {"name": name, "ip": ip, "namespace": netns})
    except BuiltinError as exc:
        assert exc.code in (400, 404, 412), exc.message
