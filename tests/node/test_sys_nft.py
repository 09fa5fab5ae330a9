"""nft.* builtins (spec core0-protocol §12.6) on the `inet zos` table of a namespace the test
creates; the host's ruleset is never touched."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import call, need_tool, sh
from zos.node.builtins import BuiltinError

# The fixtures this module uses (defined once in _sys_fixtures).
netns = fx.netns


@pytest.fixture(autouse=True)
def _nft() -> None:
    need_tool("nft", "nftables")


def ruleset(ns: str) -> str:
    return sh("ip", "netns", "exec", ns, "nft", "list", "ruleset").stdout


def test_open_list_exists_drop(netns: str) -> None:
    assert call("nft.list", {"namespace": netns}) == []
    assert call("nft.open_port", {"port": 22, "namespace": netns}) is None
    call("nft.open_port", {"port": 8080, "interface": "eth0", "subnet": "10.0.0.0/8", "namespace": netns})
    call("nft.open_port", {"port": 443, "subnet": "fd00::/8", "namespace": netns})
    assert call("nft.list", {"namespace": netns}) == [
        "tcp dport 22 accept",
        'iifname "eth0" ip saddr 10.0.0.0/8 tcp dport 8080 accept',
        "ip6 saddr fd00::/8 tcp dport 443 accept"]
    # The kernel holds exactly these rules (nft prints them back the same way).
    text = ruleset(netns)
    assert "table inet zos" in text and "type filter hook input priority filter; policy accept;" in text
    assert 'iifname "eth0" ip saddr 10.0.0.0/8 tcp dport 8080 accept' in text
    assert "ip6 saddr fd00::/8 tcp dport 443 accept" in text

    assert call("nft.rule_exists", {"port": 22, "namespace": netns}) is True
    assert call("nft.rule_exists", {"port": 22, "interface": "eth0", "namespace": netns}) is False
    with pytest.raises(BuiltinError) as exc:
        call("nft.open_port", {"port": 22, "namespace": netns})
    assert exc.value.code == 412 and "exists" in exc.value.message

    call("nft.drop_port", {"port": 8080, "interface": "eth0", "subnet": "10.0.0.0/8", "namespace": netns})
    assert "dport 8080" not in ruleset(netns)
    assert call("nft.list", {"namespace": netns}) == ["tcp dport 22 accept", "ip6 saddr fd00::/8 tcp dport 443 accept"]
    with pytest.raises(BuiltinError) as exc:
        call("nft.drop_port", {"port": 8080, "interface": "eth0", "subnet": "10.0.0.0/8", "namespace": netns})
    assert exc.value.code == 404


def test_rules_are_read_from_the_kernel(netns: str) -> None:
    """A rule added earlier (another agent process) is listed and can be dropped: nothing lives
    only in memory."""
    sh("ip", "netns", "exec", netns, "nft", "add", "table", "inet", "zos")
    sh("ip", "netns", "exec", netns, "nft", "add", "chain", "inet", "zos", "input",
       "{ type filter hook input priority 0; policy accept; }")
    sh("ip", "netns", "exec", netns, "nft", "add", "rule", "inet", "zos", "input", "tcp", "dport", "2222",
       "accept", "comment", '"tcp dport 2222 accept"')
    assert call("nft.list", {"namespace": netns}) == ["tcp dport 2222 accept"]
    call("nft.drop_port", {"port": 2222, "namespace": netns})
    assert "2222" not in ruleset(netns)


def test_subnet_is_normalised(netns: str) -> None:
    call("nft.open_port", {"port": 80, "subnet": "192.168.1.7/24", "namespace": netns})
    assert call("nft.list", {"namespace": netns}) == ["ip saddr 192.168.1.0/24 tcp dport 80 accept"]
    assert "ip saddr 192.168.1.0/24 tcp dport 80 accept" in ruleset(netns)


@pytest.mark.parametrize("args, field", [
    ({}, "port"),
    ({"port": "22"}, "port"),
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"port": True}, "port"),
    ({"port": 22, "interface": 'eth0" accept; drop'}, "interface"),
    ({"port": 22, "interface": 5}, "interface"),
    ({"port": 22, "subnet": "10.0.0.0/40"}, "subnet"),
    ({"port": 22, "subnet": "everyone"}, "subnet"),
])
def test_bad_arguments(netns: str, args: dict, field: str) -> None:
    with pytest.raises(BuiltinError) as exc:
        call("nft.open_port", {**args, "namespace": netns})
    assert exc.value.code == 400 and f"'{field}'" in exc.value.message
    assert "table inet zos" not in ruleset(netns)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(port=st.one_of(st.integers(-5, 70000), st.text(max_size=5)),
       interface=st.one_of(st.none(), st.text(max_size=18)),
       subnet=st.one_of(st.none(), st.text(max_size=20)))
def test_fuzz_rule_exists(netns: str, port: object, interface: object, subnet: object) -> None:
    try:
        assert call("nft.rule_exists", {"port": port, "interface": interface, "subnet": subnet,
                                        "namespace": netns}) is False
    except BuiltinError as exc:
        assert exc.code == 400, exc.message
