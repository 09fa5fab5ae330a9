"""`nft.*` builtins (spec core0-protocol §12.6): open and drop TCP ports in the agent's own
nftables table (`inet zos`, chain `input`).

A rule is `[iifname "<if>"] [ip saddr <subnet>] tcp dport <port> accept`; that text is also
the rule's comment, which is how `nft.list` and `nft.drop_port` find it in the kernel (0-core
kept the list in memory only and lost it on restart). Opening a port twice is an error
("exists"), as in 0-core. Each builtin takes the optional `namespace` argument (see _net_ns).
An opened or dropped port goes to the log as `nft.port_opened` / `nft.port_closed` (see
_net_events), once nft applied the change.
"""

from __future__ import annotations

from typing import Any

from . import _net_nft as nft
from ._net_events import port_changed
from ._net_ns import ifname_arg, namespace_arg, network_arg
from ._registry import BuiltinError, Context, arg, builtin

CHAIN = "input"


def _port_fields(args: dict[str, Any], text: str) -> dict[str, Any]:
    """What an nft.port_* event says about the rule (arguments checked by port_rule before)."""
    subnet = network_arg(args, "subnet") if args.get("subnet") else None
    return {"rule": text, "interface": ifname_arg(args, "interface", required=False),
            "subnet": str(subnet) if subnet is not None else None}


def port_rule(args: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The rule text and its nft JSON expression for the `port`, `interface`, `subnet` arguments."""
    port = arg(args, "port", "int")
    if not 1 <= port <= 65535:
        raise BuiltinError(400, f"argument 'port' has value {port}: must be between 1 and 65535")
    interface = ifname_arg(args, "interface", required=False)
    subnet = network_arg(args, "subnet") if args.get("subnet") else None
    words: list[str] = []
    expr: list[dict[str, Any]] = []
    if interface:
        words.append(f'iifname "{interface}"')
        expr.append(nft.match({"meta": {"key": "iifname"}}, interface))
    if subnet is not None:
        words.append(f"{'ip' if subnet.version == 4 else 'ip6'} saddr {subnet}")
        expr.append(nft.match(nft.saddr(subnet.version), nft.prefix(subnet)))
    words.append(f"tcp dport {port} accept")
    expr.append(nft.match({"payload": {"protocol": "tcp", "field": "dport"}}, port))
    expr.append({"accept": None})
    return " ".join(words), expr


def _opened(namespace: str | None) -> dict[str, int]:
    """Rule text -> handle, for every rule of our input chain."""
    return {rule["comment"]: rule["handle"] for rule in nft.rules(CHAIN, namespace) if rule.get("comment")}


@builtin("nft.open_port")
def open_port(args: dict, ctx: Context) -> None:
    text, expr = port_rule(args)
    namespace = namespace_arg(args)
    with nft.LOCK:
        if text in _opened(namespace):
            raise BuiltinError(412, f"rule '{text}' exists")
        nft.apply([*nft.ensure_chain(CHAIN), nft.add_rule(CHAIN, expr, text)], namespace)
    port_changed(ctx, "nft.port_opened", namespace, args["port"], **_port_fields(args, text))
    return None


@builtin("nft.drop_port")
def drop_port(args: dict, ctx: Context) -> None:
    text, _ = port_rule(args)
    namespace = namespace_arg(args)
    with nft.LOCK:
        handle = _opened(namespace).get(text)
        if handle is None:
            raise BuiltinError(404, f"rule '{text}' does not exist")
        nft.apply([nft.delete_rule(CHAIN, handle)], namespace)
    port_changed(ctx, "nft.port_closed", namespace, args["port"], **_port_fields(args, text))
    return None


@builtin("nft.rule_exists")
def rule_exists(args: dict, ctx: Context) -> bool:
    text, _ = port_rule(args)
    return text in _opened(namespace_arg(args))


@builtin("nft.list")
def list_rules(args: dict, ctx: Context) -> list[str]:
    return list(_opened(namespace_arg(args)))
