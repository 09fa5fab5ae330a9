"""`ip.*` builtins (spec core0-protocol §12.4): links, addresses, routes and plain bridges
through netlink (pyroute2). Each takes the optional `namespace` argument (see _net_ns).

Each change goes to the log as a `nic.*` event of the interface (see _net_events), after
netlink accepted it; setting a link to the state or MTU it already has changes nothing and
says nothing.
"""

from __future__ import annotations

import socket
from typing import Any

from ._net_events import nic_changed
from ._net_ns import (address_arg, attach, bridge_index, ifname_arg, interface_arg, link_index, link_kind, link_names,
                      mac_arg, namespace_arg, netlink, network_arg)
from ._registry import BuiltinError, Context, arg, builtin

MIN_MTU, MAX_MTU = 68, 65535


# --- bridges ---------------------------------------------------------------------------------

@builtin("ip.bridge.add")
def bridge_add(args: dict, ctx: Context) -> None:
    name, hwaddr, ns = ifname_arg(args, "name"), mac_arg(args, "hwaddr"), namespace_arg(args)
    with netlink(ns) as ipr:
        if ipr.link_lookup(ifname=name):
            raise BuiltinError(412, f"interface '{name}' already exists")
        extra = {"address": hwaddr} if hwaddr else {}
        ipr.link("add", ifname=name, kind="bridge", **extra)
        address = ipr.get_links(link_index(ipr, name))[0].get_attr("IFLA_ADDRESS")
    nic_changed(ctx, "nic.added", ns, name, kind="bridge", hwaddr=address)
    return None


@builtin("ip.bridge.del")
def bridge_del(args: dict, ctx: Context) -> None:
    name, ns = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(ns) as ipr:
        ipr.link("del", index=bridge_index(ipr, name))
    nic_changed(ctx, "nic.removed", ns, name)
    return None


@builtin("ip.bridge.addif")
def bridge_addif(args: dict, ctx: Context) -> None:
    ns, name, inf = namespace_arg(args), ifname_arg(args, "name"), ifname_arg(args, "inf")
    attach(ns, name, inf)
    nic_changed(ctx, "nic.attached", ns, inf, bridge=name)
    return None


@builtin("ip.bridge.delif")
def bridge_delif(args: dict, ctx: Context) -> None:
    name, inf, ns = ifname_arg(args, "name"), ifname_arg(args, "inf"), namespace_arg(args)
    with netlink(ns) as ipr:
        bridge = bridge_index(ipr, name)
        index = link_index(ipr, inf)
        if ipr.get_links(index)[0].get_attr("IFLA_MASTER") != bridge:
            raise BuiltinError(406, f"interface '{inf}' is not attached to bridge '{name}'")
        ipr.link("set", index=index, master=0)
    nic_changed(ctx, "nic.detached", ns, inf, bridge=name)
    return None


# --- links -----------------------------------------------------------------------------------

def _set_state(args: dict, ctx: Context, state: str) -> None:
    name, ns = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(ns) as ipr:
        index = link_index(ipr, name)
        was_up = bool(ipr.get_links(index)[0]["flags"] & 1)  # IFF_UP
        ipr.link("set", index=index, state=state)
    if was_up != (state == "up"):
        nic_changed(ctx, "nic.state_changed", ns, name, state=state)


@builtin("ip.link.up")
def link_up(args: dict, ctx: Context) -> None:
    _set_state(args, ctx, "up")
    return None


@builtin("ip.link.down")
def link_down(args: dict, ctx: Context) -> None:
    _set_state(args, ctx, "down")
    return None


@builtin("ip.link.name")
def link_name(args: dict, ctx: Context) -> None:
    name, new, ns = ifname_arg(args, "name"), ifname_arg(args, "new"), namespace_arg(args)
    with netlink(ns) as ipr:
        index = link_index(ipr, name)
        if ipr.link_lookup(ifname=new):
            raise BuiltinError(412, f"interface '{new}' already exists")
        ipr.link("set", index=index, ifname=new)
    nic_changed(ctx, "nic.renamed", ns, name, new_name=new)
    return None


@builtin("ip.link.mtu")
def link_mtu(args: dict, ctx: Context) -> None:
    mtu = arg(args, "mtu", "int")
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise BuiltinError(400, f"argument 'mtu' has value {mtu}: must be between {MIN_MTU} and {MAX_MTU}")
    name, ns = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(ns) as ipr:
        index = link_index(ipr, name)
        old = ipr.get_links(index)[0].get_attr("IFLA_MTU")
        ipr.link("set", index=index, mtu=mtu)
    if old != mtu:
        nic_changed(ctx, "nic.mtu_changed", ns, name, mtu=mtu, old_mtu=old)
    return None


@builtin("ip.link.list")
def link_list(args: dict, ctx: Context) -> list[dict]:
    ns = namespace_arg(args)
    with netlink(ns) as ipr:
        links = ipr.get_links()
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
    return [{"name": link.get_attr("IFLA_IFNAME"),
             "type": link_kind(link),
             "hwaddr": link.get_attr("IFLA_ADDRESS") or "",
             "master": names.get(link.get_attr("IFLA_MASTER"), ""),
             "up": bool(link["flags"] & 1),  # IFF_UP
             "mtu": link.get_attr("IFLA_MTU")} for link in links]


# --- addresses -------------------------------------------------------------------------------

@builtin("ip.addr.add")
def addr_add(args: dict, ctx: Context) -> None:
    name, ip, ns = ifname_arg(args, "name"), interface_arg(args, "ip"), namespace_arg(args)
    with netlink(ns) as ipr:
        ipr.addr("add", index=link_index(ipr, name), address=str(ip.ip), prefixlen=ip.network.prefixlen)
    nic_changed(ctx, "nic.address_added", ns, name, address=str(ip))
    return None


@builtin("ip.addr.del")
def addr_del(args: dict, ctx: Context) -> None:
    name, ip, ns = ifname_arg(args, "name"), interface_arg(args, "ip"), namespace_arg(args)
    with netlink(ns) as ipr:
        ipr.addr("del", index=link_index(ipr, name), address=str(ip.ip), prefixlen=ip.network.prefixlen)
    nic_changed(ctx, "nic.address_removed", ns, name, address=str(ip))
    return None


@builtin("ip.addr.list")
def addr_list(args: dict, ctx: Context) -> list[str]:
    name, ns = ifname_arg(args, "name"), namespace_arg(args)
    with netlink(ns) as ipr:
        return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=link_index(ipr, name))]


# --- routes ----------------------------------------------------------------------------------

def _route_spec(args: dict, ipr: Any) -> dict[str, Any]:
    """The netlink route for the `dev`, `dst`, `gw` arguments."""
    dev, dst = ifname_arg(args, "dev"), network_arg(args, "dst")
    gw = address_arg(args, "gw", required=False)
    if gw is not None and gw.version != dst.version:
        raise BuiltinError(400, f"argument 'gw' has value '{gw}': not of the same IP version as 'dst' {dst}")
    spec: dict[str, Any] = {"oif": link_index(ipr, dev), "dst": str(dst.network_address),
                            "dst_len": dst.prefixlen,
                            "family": socket.AF_INET if dst.version == 4 else socket.AF_INET6}
    if gw is not None:
        spec["gateway"] = str(gw)
    return spec


def _change_route(args: dict, ctx: Context, action: str, type: str) -> None:
    ns = namespace_arg(args)
    with netlink(ns) as ipr:
        spec = _route_spec(args, ipr)
        ipr.route(action, **spec)
    nic_changed(ctx, type, ns, args["dev"], dst=f"{spec['dst']}/{spec['dst_len']}", gw=spec.get("gateway"))


@builtin("ip.route.add")
def route_add(args: dict, ctx: Context) -> None:
    _change_route(args, ctx, "add", "nic.route_added")
    return None


@builtin("ip.route.del")
def route_del(args: dict, ctx: Context) -> None:
    _change_route(args, ctx, "del", "nic.route_removed")
    return None


@builtin("ip.route.list")
def route_list(args: dict, ctx: Context) -> list[dict]:
    """Routes of the main table, both families: `dst` in CIDR form (0.0.0.0/0 for a default
    route), `gw` empty when there is none."""
    ns = namespace_arg(args)
    with netlink(ns) as ipr:
        names = link_names(ipr)
        routes = [r for r in ipr.get_routes(family=socket.AF_UNSPEC, table=254)
                  if r["family"] in (socket.AF_INET, socket.AF_INET6)]
    result = []
    for route in routes:
        dst = route.get_attr("RTA_DST")
        if dst is None:
            dst = "0.0.0.0" if route["family"] == socket.AF_INET else "::"
        result.append({"dev": names.get(route.get_attr("RTA_OIF"), ""),
                       "dst": f"{dst}/{route['dst_len']}",
                       "gw": route.get_attr("RTA_GATEWAY") or ""})
    return result
