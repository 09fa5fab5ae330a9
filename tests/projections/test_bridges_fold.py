"""The bridges projection folds `bridge.created` / `bridge.deleted` (issue 12 §3).

Acceptance: a log with bridges created and deleted through a real node agent (in a network
namespace the test creates), replayed into an empty database, gives the bridges the kernel
shows (`ip link`), with their MAC, address and NAT rule.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import NodeAgent
from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import need_root, sh
from zos.bus import Bus, call
from zos.events import new_event
from zos.projections import MemoryRows, Runner, make_engine, metadata, select_projectors, upgrade

# The fixture this module uses (defined once in _sys_fixtures).
netns = fx.netns


def created(node: str, name: str, namespace: str | None = None, **fields) -> object:
    scope = {"namespace": namespace} if namespace else {}
    return new_event("bridge.created", "bridge", "-".join([node, *scope.values(), name]), {
        "node": node, **scope, "name": name, "hwaddr": "", "mode": "", "nat": False, "settings": {},
        **fields})


def deleted(node: str, name: str, namespace: str | None = None) -> object:
    scope = {"namespace": namespace} if namespace else {}
    return new_event("bridge.deleted", "bridge", "-".join([node, *scope.values(), name]),
                     {"node": node, **scope, "name": name})


def test_fold() -> None:
    rows, [bridges] = MemoryRows(), select_projectors(["bridges"])
    history = [created("n1", "br0", mode="static", nat=True, settings={"cidr": "10.0.0.1/24"},
                       hwaddr="02:00:00:00:00:01", job="j1"),
               created("n1", "br0", namespace="ns"),   # same name, in a namespace: another bridge
               created("n1", "br1"), deleted("n1", "br1"),
               deleted("n1", "gone")]                  # never seen: nothing to remove
    for seq, event in enumerate(history, 1):
        assert bridges.apply(rows, event, seq)
    assert rows.tables["bridges"] == {
        ("n1", "br0"): {"node": "n1", "name": "br0", "hwaddr": "02:00:00:00:00:01",
                        "network_mode": "static", "nat": True, "setting": {"cidr": "10.0.0.1/24"},
                        "status": "up", "job": "j1", "updated_seq": 1},
        ("n1/ns", "br0"): {"node": "n1/ns", "name": "br0", "hwaddr": "", "network_mode": "none",
                           "nat": False, "setting": {}, "status": "up", "job": "", "updated_seq": 2}}
    assert bridges.subjects == ("zos.evt.bridge.*",) and bridges.tables == ("bridges",)


@pytest.fixture(scope="module")
def sys_agent(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgent]:
    need_root()
    running = NodeAgent(nats_url, tmp_path_factory.mktemp("bridges-agent")).start()
    try:
        yield running
    finally:
        running.stop()


def kernel_bridges(namespace: str) -> dict[str, dict]:
    """name -> {hwaddr, addresses (CIDR)} of every bridge `ip` shows in the namespace."""
    links = json.loads(sh("ip", "-n", namespace, "-j", "addr", "show", "type", "bridge").stdout)
    return {link["ifname"]: {"hwaddr": link["address"],
                             "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                                                 if a["family"] == "inet")} for link in links}


def nat_rules(namespace: str) -> list[str]:
    out = sh("ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset").stdout
    return sorted(item["rule"]["comment"] for item in json.loads(out)["nftables"]
                  if "rule" in item and item["rule"].get("comment", "").startswith("bridge "))


@pytest.mark.parametrize("new_db", ["sqlite"], indirect=True)
async def test_replayed_log_matches_the_kernel(bus: Bus, sys_agent: NodeAgent, netns: str, new_db) -> None:
    node = sys_agent.node_id
    nat = shutil.which("nft") is not None
    wanted = {
        "bz0": {},
        "bz1": {"network": {"mode": "static", "settings": {"cidr": "10.81.0.1/24"}}},
        "bz2": {"hwaddr": "02:00:00:00:81:02",
                "network": {"mode": "static", "nat": nat, "settings": {"cidr": "10.82.0.1/24"}}},
        "bz3": {"network": {"mode": "static", "nat": nat, "settings": {"cidr": "10.83.0.1/24"}}},
        "bz4": {"hwaddr": "02:00:00:00:81:04"},
    }
    for name, args in wanted.items():
        result = await call(bus, node, "bridge.create", {"name": name, "namespace": netns, **args}, timeout=90)
        assert result.state == "SUCCESS", result
    for name in ("bz1", "bz3"):
        result = await call(bus, node, "bridge.delete", {"name": name, "namespace": netns}, timeout=90)
        assert result.state == "SUCCESS", result
    refused = await call(bus, node, "bridge.create", {"name": "bz0", "namespace": netns}, timeout=90)
    assert refused.state == "ERROR", refused

    # The projector alone, from an empty database, over the whole log.
    engine = make_engine(new_db())
    upgrade(engine)
    try:
        await Runner(engine, bus, select_projectors(["bridges"])).run(follow=False)
        table = metadata.tables["bridges"]
        with engine.connect() as conn:
            rows = {r["name"]: r for r in conn.execute(
                sa.select(table).where(table.c.node == f"{node}/{netns}")).mappings()}
    finally:
        engine.dispose()

    kernel = kernel_bridges(netns)
    assert sorted(rows) == sorted(kernel) == ["bz0", "bz2", "bz4"]
    for name, row in rows.items():
        cidr = (row["setting"] or {}).get("cidr")
        assert (row["hwaddr"], sorted(filter(None, [cidr]))) == (kernel[name]["hwaddr"], kernel[name]["addresses"])
    assert rows["bz2"]["hwaddr"] == "02:00:00:00:81:02"
    assert {name: row["network_mode"] for name, row in rows.items()} == {
        "bz0": "none", "bz2": "static", "bz4": "none"}
    if nat:
        assert nat_rules(netns) == sorted(f"bridge {name}" for name, row in rows.items() if row["nat"]) == [
            "bridge bz2"]
