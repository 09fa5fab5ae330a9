"""nftables through the `nft` binary's JSON API (`nft -j`): the agent owns one table,
`inet zos`, with an `input` filter chain (opened ports) and a `postrouting` nat chain (bridge
masquerade). Every rule the agent adds carries a comment that identifies it, so the kernel's
ruleset is the only record: nothing is lost when the agent restarts."""

from __future__ import annotations

import json
import threading
from typing import Any

from ._registry import BuiltinError
from ._sys_run import run_tool

FAMILY, TABLE = "inet", "zos"
CHAINS = {
    "input": {"type": "filter", "hook": "input", "prio": 0, "policy": "accept"},
    "postrouting": {"type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"},
    "prerouting": {"type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"},
}
# One agent changes its table from several worker threads: check-then-add must not interleave.
LOCK = threading.Lock()


def apply(commands: list[dict[str, Any]], namespace: str | None) -> None:
    """Run a batch of nft JSON commands atomically (nft applies a batch as one transaction)."""
    run_tool(["nft", "-j", "-f", "-"], namespace, stdin=json.dumps({"nftables": commands}))


def ensure_chain(chain: str) -> list[dict[str, Any]]:
    """The commands that create the table and `chain` when missing (`add` is idempotent)."""
    return [{"add": {"table": {"family": FAMILY, "name": TABLE}}},
            {"add": {"chain": {"family": FAMILY, "table": TABLE, "name": chain, **CHAINS[chain]}}}]


def rules(chain: str, namespace: str | None) -> list[dict[str, Any]]:
    """The rules of one of our chains (each with `handle`, `comment`, `expr`); none when the
    table or chain does not exist yet."""
    try:
        out = run_tool(["nft", "-j", "list", "chain", FAMILY, TABLE, chain], namespace)
    except BuiltinError as exc:
        if "No such file or directory" in exc.message:
            return []
        raise
    try:
        items = json.loads(out)["nftables"]
    except (ValueError, KeyError, TypeError):
        raise BuiltinError(500, f"nft printed a ruleset that is not JSON: {out[:200]!r}") from None
    return [item["rule"] for item in items if "rule" in item]


def delete_rule(chain: str, handle: int) -> dict[str, Any]:
    return {"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "handle": handle}}}


def add_rule(chain: str, expr: list[dict[str, Any]], comment: str) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr,
                             "comment": comment}}}


def match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def saddr(version: int) -> dict[str, Any]:
    return {"payload": {"protocol": "ip" if version == 4 else "ip6", "field": "saddr"}}


def daddr(version: int) -> dict[str, Any]:
    return {"payload": {"protocol": "ip" if version == 4 else "ip6", "field": "daddr"}}


def prefix(network: Any) -> dict[str, Any]:
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
