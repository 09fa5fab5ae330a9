"""`bridge.*` builtins (spec core0-protocol §12.4): managed bridges with a network mode.

- mode `""`: a bare bridge; `static`: the bridge gets `settings.cidr` (its own address/prefix);
  `dnsmasq`: also a DHCP server for `settings.start`..`settings.end`, bound to this bridge only.
- `nat: true` masquerades traffic from the bridge's network leaving it (nftables, table
  `inet zos`, chain `postrouting`) and turns on forwarding.
Each builtin takes the optional `namespace` argument (see _net_ns); a bridge's runtime files
(dnsmasq pid, leases, static hosts, its network settings) live under
`<data dir>/bridges/<namespace or -host>/<name>/`.

What changed goes to the log (see _net_events): `bridge.created` once the bridge is up with
its whole network mode in place (a create that fails midway is undone and says nothing),
`bridge.deleted`, `bridge.host_added`, and `nic.attached` / `nic.detached` for ports.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
from pathlib import Path
from typing import Any

from . import _net_dnsmasq as dnsmasq
from . import _net_nft as nft
from ._net_events import bridge_changed, nic_changed
from ._net_ns import (attach, bridge_index, ifname_arg, link_index, link_kind, link_names, mac_arg, namespace_arg,
                      netlink)
from ._registry import BuiltinError, Context, arg, builtin
from ._sys_run import require_tool, run_tool

MODES = ("", "static", "dnsmasq")
NAT_CHAIN = "postrouting"
DEFAULT_RUN_DIR = Path("/run/zos")


def run_dir(ctx: Context, namespace: str | None, name: str) -> Path:
    """Where the bridge's runtime files live (the agent's data dir when it has one)."""
    base = ctx.data_dir if ctx.data_dir is not None else DEFAULT_RUN_DIR
    return base / "bridges" / (namespace or "-host") / name


def _nested(values: dict[str, Any], path: str, name: str, kind: str, default: Any) -> Any:
    """`arg` for a field inside the `network` object: the error names the full path."""
    try:
        return arg(values, name, kind, default)
    except BuiltinError as exc:
        raise BuiltinError(400, exc.message.replace(f"'{name}'", f"'{path}.{name}'", 1)) from None


def parse_network(args: dict[str, Any]) -> dict[str, Any]:
    """The `network` argument, checked: {mode, nat, cidr (interface or None), start, end}."""
    network = arg(args, "network", "dict", {})
    mode = _nested(network, "network", "mode", "str", "")
    if mode not in MODES:
        raise BuiltinError(400, f"argument 'network.mode' has value '{mode}': must be one of "
                                "'', 'static', 'dnsmasq'")
    nat = _nested(network, "network", "nat", "bool", False)
    settings = _nested(network, "network", "settings", "dict", {})
    found: dict[str, Any] = {"mode": mode, "nat": nat, "cidr": None, "start": None, "end": None}
    if mode == "":
        if nat:
            raise BuiltinError(400, "argument 'network.nat' needs network mode 'static' or 'dnsmasq' "
                                    "(the bridge must have an address to masquerade for)")
        return found
    raw = _nested(settings, "network.settings", "cidr", "str", None)
    try:
        found["cidr"] = cidr = ipaddress.ip_interface(raw)
    except ValueError:
        raise BuiltinError(400, f"argument 'network.settings.cidr' has value '{raw}': not an address "
                                "in CIDR notation (e.g. 10.20.0.1/24)") from None
    if cidr.ip == cidr.network.network_address and cidr.network.prefixlen < cidr.max_prefixlen:
        raise BuiltinError(400, f"argument 'network.settings.cidr' has value '{raw}': the bridge "
                                "needs a host address, not the network address")
    if mode == "dnsmasq":
        for field in ("start", "end"):
            value = _nested(settings, "network.settings", field, "str", None)
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                raise BuiltinError(400, f"argument 'network.settings.{field}' has value '{value}': "
                                        "not an IP address") from None
            if address not in cidr.network:
                raise BuiltinError(400, f"argument 'network.settings.{field}' has value '{value}': "
                                        f"not inside {cidr.network}")
            found[field] = address
        if found["start"] > found["end"]:
            raise BuiltinError(400, f"argument 'network.settings.start' ({found['start']}) is after "
                                    f"'network.settings.end' ({found['end']})")
    return found


def network_settings(network: dict[str, Any]) -> dict[str, str]:
    """The settings a parsed `network` uses, as text: {cidr} (static), {cidr, start, end}
    (dnsmasq), {} (bare)."""
    if network["cidr"] is None:
        return {}
    found = {"cidr": str(network["cidr"])}
    if network["mode"] == "dnsmasq":
        found.update(start=str(network["start"]), end=str(network["end"]))
    return found


def _check_overlap(ipr: Any, cidr: Any) -> None:
    for address in ipr.get_addr():
        existing = ipaddress.ip_interface(f"{address.get_attr('IFA_ADDRESS')}/{address['prefixlen']}")
        if existing.version == cidr.version and existing.network.overlaps(cidr.network):
            owner = ipr.get_links(address["index"])[0].get_attr("IFLA_IFNAME")
            raise BuiltinError(412, f"argument 'network.settings.cidr' {cidr} overlaps {existing} "
                                    f"on interface '{owner}'")


def _nat_rules(name: str, namespace: str | None) -> list[dict[str, Any]]:
    return [rule for rule in nft.rules(NAT_CHAIN, namespace) if rule.get("comment") == f"bridge {name}"]


def _add_nat(name: str, cidr: Any, namespace: str | None) -> None:
    if cidr.version == 4:
        run_tool(["sysctl", "-qw", "net.ipv4.ip_forward=1"], namespace)
    else:
        run_tool(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], namespace)
    network = nft.prefix(cidr.network)
    expr = [nft.match(nft.saddr(cidr.version), network),
            nft.match(nft.daddr(cidr.version), network, op="!="),
            {"masquerade": None}]
    with nft.LOCK:
        nft.apply([*nft.ensure_chain(NAT_CHAIN), nft.add_rule(NAT_CHAIN, expr, f"bridge {name}")], namespace)


def _remove_nat(name: str, namespace: str | None) -> None:
    with nft.LOCK:
        handles = [rule["handle"] for rule in _nat_rules(name, namespace)]
        if handles:
            nft.apply([nft.delete_rule(NAT_CHAIN, handle) for handle in handles], namespace)


def _saved_network(directory: Path) -> dict[str, Any]:
    """The network settings bridge.create saved for a bridge ({} for a bridge it did not make)."""
    try:
        return json.loads((directory / "network.json").read_text())
    except (OSError, ValueError):
        return {}


def _teardown(ctx: Context, name: str, namespace: str | None) -> None:
    """Stop what bridge.create started for `name` (dnsmasq, NAT rule, runtime files)."""
    directory = run_dir(ctx, namespace, name)
    dnsmasq.stop(directory)
    if _saved_network(directory).get("nat"):
        _remove_nat(name, namespace)
    shutil.rmtree(directory, ignore_errors=True)


@builtin("bridge.create")
def create(args: dict, ctx: Context) -> None:
    name, hwaddr, namespace = ifname_arg(args, "name"), mac_arg(args, "hwaddr"), namespace_arg(args)
    if name == "default":
        raise BuiltinError(400, "argument 'name' has value 'default': the name is reserved")
    network = parse_network(args)
    cidr = network["cidr"]
    if network["nat"]:
        require_tool("nft")
    if network["mode"] == "dnsmasq":
        require_tool("dnsmasq")
    with netlink(namespace) as ipr:
        if ipr.link_lookup(ifname=name):
            raise BuiltinError(412, f"interface '{name}' already exists")
        if cidr is not None:
            _check_overlap(ipr, cidr)
        ipr.link("add", ifname=name, kind="bridge", **({"address": hwaddr} if hwaddr else {}))
    directory = run_dir(ctx, namespace, name)
    try:
        with netlink(namespace) as ipr:
            index = link_index(ipr, name)
            if cidr is not None:
                ipr.addr("add", index=index, address=str(cidr.ip), prefixlen=cidr.network.prefixlen)
            ipr.link("set", index=index, state="up")
            address = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS") or ""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "network.json").write_text(json.dumps(
            {"mode": network["mode"], "nat": network["nat"], "cidr": str(cidr) if cidr else None}))
        if network["nat"]:
            _add_nat(name, cidr, namespace)
        if network["mode"] == "dnsmasq":
            dnsmasq.start(directory, name, cidr, str(network["start"]), str(network["end"]), namespace)
        bridge_changed(ctx, "bridge.created", namespace, name, hwaddr=address, mode=network["mode"],
                       nat=network["nat"], settings=network_settings(network), job=ctx.job_id)
    except BaseException:
        # Undo what was done, best effort: the caller must see the first error, not this one.
        with contextlib.suppress(BuiltinError, OSError):
            _teardown(ctx, name, namespace)
        with contextlib.suppress(BuiltinError, OSError), netlink(namespace) as ipr:
            for index in ipr.link_lookup(ifname=name):
                ipr.link("del", index=index)
        raise
    return None


@builtin("bridge.list")
def list_bridges(args: dict, ctx: Context) -> list[str]:
    with netlink(namespace_arg(args)) as ipr:
        return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links() if link_kind(link) == "bridge"]


@builtin("bridge.delete")
def delete(args: dict, ctx: Context) -> None:
    name, namespace = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(namespace) as ipr:
        index = bridge_index(ipr, name)
    _teardown(ctx, name, namespace)
    with netlink(namespace) as ipr:
        ipr.link("del", index=index)
    bridge_changed(ctx, "bridge.deleted", namespace, name, job=ctx.job_id)
    return None


@builtin("bridge.nic-add")
def nic_add(args: dict, ctx: Context) -> None:
    namespace, bridge, nic = namespace_arg(args), ifname_arg(args, "name"), ifname_arg(args, "nic")
    attach(namespace, bridge, nic)
    nic_changed(ctx, "nic.attached", namespace, nic, bridge=bridge)
    return None


@builtin("bridge.nic-remove")
def nic_remove(args: dict, ctx: Context) -> None:
    nic, namespace = ifname_arg(args, "nic"), namespace_arg(args)
    with netlink(namespace) as ipr:
        index = link_index(ipr, nic)
        master = ipr.get_links(index)[0].get_attr("IFLA_MASTER")
        if not master:
            raise BuiltinError(406, f"interface '{nic}' is not attached to a bridge")
        bridge = link_names(ipr).get(master)
        ipr.link("set", index=index, master=0)
    nic_changed(ctx, "nic.detached", namespace, nic, bridge=bridge)
    return None


@builtin("bridge.nic-list")
def nic_list(args: dict, ctx: Context) -> list[str]:
    name, namespace = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(namespace) as ipr:
        bridge = bridge_index(ipr, name)
        return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                if link.get_attr("IFLA_MASTER") == bridge]


@builtin("bridge.host-add")
@builtin("bridge.add_host")
def host_add(args: dict, ctx: Context) -> None:
    """A static DHCP lease (`mac` always gets `ip`) on a dnsmasq-mode bridge."""
    name, namespace = ifname_arg(args, "bridge"), namespace_arg(args)
    mac = mac_arg(args, "mac")
    if mac is None:
        raise BuiltinError(400, "argument 'mac' is required")
    raw = arg(args, "ip", "str")
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise BuiltinError(400, f"argument 'ip' has value '{raw}': not an IP address") from None
    with netlink(namespace) as ipr:
        bridge_index(ipr, name)
    directory = run_dir(ctx, namespace, name)
    network = _saved_network(directory)
    if network.get("mode") != "dnsmasq":
        raise BuiltinError(412, f"bridge '{name}' was not created in dnsmasq mode: it serves no DHCP")
    if ip not in ipaddress.ip_interface(network["cidr"]).network:
        raise BuiltinError(400, f"argument 'ip' has value '{raw}': not inside {network['cidr']}")
    dnsmasq.add_host(directory, mac, str(ip))
    bridge_changed(ctx, "bridge.host_added", namespace, name, mac=mac, ip=str(ip))
    return None
