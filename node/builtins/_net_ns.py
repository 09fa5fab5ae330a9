"""Netlink access for the network builtins: the optional `namespace` argument, one IPRoute
per call (inside that namespace when given), netlink errors as typed `BuiltinError`s, and the
checks every network argument goes through (interface names, MACs, CIDRs).

`namespace` is an extension to the 0-core catalogue: the name of a network namespace under
/run/netns (`ip netns add NAME`). Every network builtin accepts it, so that a caller (and every
test) can work on a namespace it created instead of the node's real interfaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ._registry import BuiltinError, arg

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,15}$")
_NSNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")

# errno of a failed netlink request -> (code, what it means to the caller)
_NETLINK_CODES = {
    errno.ENODEV: (404, "no such device"),
    errno.ENOENT: (404, "not found"),
    errno.ESRCH: (404, "no such route"),
    errno.EADDRNOTAVAIL: (404, "address not assigned"),
    errno.EEXIST: (412, "already exists"),
    errno.EBUSY: (412, "device or resource busy"),
    errno.EINVAL: (400, "invalid argument"),
    errno.ERANGE: (400, "value out of range"),
    errno.ENETUNREACH: (400, "network unreachable (gateway not on a connected network)"),
    errno.EOPNOTSUPP: (406, "operation not supported"),
    errno.EPERM: (412, "operation not permitted"),
}


def namespace_arg(args: dict[str, Any]) -> str | None:
    """The `namespace` argument: None (the node itself) or an existing named namespace."""
    name = arg(args, "namespace", "str", None)
    if name is None or name == "":
        return None
    if not _NSNAME.match(name):
        raise BuiltinError(400, f"argument 'namespace' has value '{name}': not a network namespace name")
    if not os.path.exists(os.path.join(NETNS_DIR, name)):
        raise BuiltinError(404, f"network namespace '{name}' does not exist")
    return name


def ifname_arg(args: dict[str, Any], field: str, required: bool = True) -> str | None:
    """An interface name: 1-15 characters without '/', whitespace or quotes (kernel IFNAMSIZ).
    When not required, a missing or empty value is None."""
    value = arg(args, field, "str") if required else arg(args, field, "str", None)
    if not required and not value:
        return None
    if not _IFNAME.match(value):
        raise BuiltinError(400, f"argument '{field}' has value '{value}': an interface name is 1-15 "
                                "characters of letters, digits and _.:@+-")
    return value


def mac_arg(args: dict[str, Any], field: str) -> str | None:
    """An optional MAC address `aa:bb:cc:dd:ee:ff` (empty means none)."""
    value = arg(args, field, "str", None)
    if not value:
        return None
    if not _MAC.match(value):
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not a MAC address (aa:bb:cc:dd:ee:ff)")
    return value.lower()


def interface_arg(args: dict[str, Any], field: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """An address with its prefix length, `10.0.0.1/24` (a bare address is a /32 or /128)."""
    value = arg(args, field, "str")
    try:
        return ipaddress.ip_interface(value)
    except ValueError:
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not an address in CIDR "
                                "notation (e.g. 10.0.0.1/24)") from None


def network_arg(args: dict[str, Any], field: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A network `10.0.0.0/24`; `default` means the whole IPv4 space (0.0.0.0/0)."""
    value = arg(args, field, "str")
    if value == "default":
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not a network in CIDR "
                                "notation (e.g. 10.0.0.0/24) or 'default'") from None


def address_arg(args: dict[str, Any], field: str, required: bool = True) -> Any:
    """A plain IP address (no prefix). When not required, a missing or empty value is None."""
    value = arg(args, field, "str") if required else arg(args, field, "str", None)
    if not required and not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not an IP address") from None


def _netlink_socket_in(namespace: str) -> int:
    """The fd of a NETLINK_ROUTE socket created inside `namespace`.

    setns(2) moves only the calling thread, and a socket stays in the namespace it was made
    in: a short-lived thread enters the namespace, makes the socket and ends. (pyroute2's own
    `netns=` forks a Python child and SIGTERMs it afterwards; the child shares the agent's
    asyncio signal wake-up fd, so the agent would read that SIGTERM as its own and stop.)
    """
    made: dict[str, Any] = {}

    def enter() -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            finally:
                os.close(fd)
            made["fd"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE).detach()
        except OSError as exc:
            made["error"] = exc

    thread = threading.Thread(target=enter, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["fd"]


@contextlib.contextmanager
def netlink(namespace: str | None) -> Iterator[IPRoute]:
    """An IPRoute socket (inside `namespace` when given), closed after use; a failed netlink
    request inside the block becomes a `BuiltinError` with the matching code."""
    try:
        ipr = IPRoute(fileno=_netlink_socket_in(namespace)) if namespace else IPRoute()
    except (OSError, NetlinkError) as exc:
        raise BuiltinError(500, f"cannot open netlink{' in ' + namespace if namespace else ''}: {exc}") from None
    try:
        yield ipr
    except NetlinkError as exc:
        code, meaning = _NETLINK_CODES.get(exc.code, (500, "netlink error"))
        raise BuiltinError(code, f"{meaning}: {exc.args[1] if len(exc.args) > 1 else exc}") from None
    finally:
        ipr.close()


def link_index(ipr: IPRoute, name: str) -> int:
    """The index of the interface called `name`; 404 naming it when there is none."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise BuiltinError(404, f"no interface named '{name}'")
    return found[0]


def bridge_index(ipr: IPRoute, name: str) -> int:
    """The index of the bridge called `name`: 404 when missing, 406 when not a bridge."""
    index = link_index(ipr, name)
    if link_kind(ipr.get_links(index)[0]) != "bridge":
        raise BuiltinError(406, f"interface '{name}' is not a bridge")
    return index


def attach(namespace: str | None, bridge: str, nic: str) -> None:
    """Make the interface `nic` a port of the bridge `bridge`."""
    with netlink(namespace) as ipr:
        master = bridge_index(ipr, bridge)
        ipr.link("set", index=link_index(ipr, nic), master=master)


def link_kind(link: Any) -> str:
    """The link type as 0-core reports it: the netlink kind (bridge, veth, ...) or 'device'."""
    info = link.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return kind or "device"


def link_names(ipr: IPRoute) -> dict[int, str]:
    return {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
