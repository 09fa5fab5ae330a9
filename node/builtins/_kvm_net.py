"""A VM's nics: a tap per nic, a port of a Linux bridge (no OVS), made before qemu opens it
and removed when the VM ends. Port forwards are nft DNAT rules in the agent's `inet zos`
table, tagged `kvm-<uuid>` so that destroy (or a new agent) finds exactly this VM's rules.

    default   the node's NAT bridge `kvm0` (172.19.0.1/16, dnsmasq, masquerade; made through
              bridge.create on first use); the VM's MAC and address come from its sequence
              number, 00:28:06:82:<hi>:<lo> -> 172.19.<hi>.<lo>, as upstream
    bridge    an existing bridge named by `id`

`namespace` (an extension, as for the network builtins) puts the taps, the bridge and the rules
in a named network namespace; qemu then runs inside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from . import _net_nft as nft
from . import bridge as bridges
from ._net_ns import attach, bridge_index, link_index, mac_arg, netlink
from ._registry import BuiltinError, Context
from ._sys_run import run_tool

DEFAULT_BRIDGE = "kvm0"
DEFAULT_NETWORK = {"mode": "dnsmasq", "nat": True,
                   "settings": {"cidr": "172.19.0.1/16", "start": "172.19.0.2", "end": "172.19.255.254"}}
FORWARD_CHAIN = "prerouting"
TYPES = ("default", "bridge", "vlan", "vxlan")


@dataclasses.dataclass(frozen=True)
class Nic:
    type: str
    id: str
    hwaddr: str
    tap: str
    device: str        # qemu device id, netdev id is `net-<device>`

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "hwaddr": self.hwaddr, "tap": self.tap}


def seq_address(seq: int) -> tuple[str, str]:
    hi, lo = seq >> 8, seq & 0xFF
    return f"00:28:06:82:{hi:02x}:{lo:02x}", f"172.19.{hi}.{lo}"


def next_seq(used: set[int]) -> int:
    """Upstream's uint16 counter, skipping 0, 1 and 0xffff (the bridge's and broadcast)."""
    for seq in range(2, 0xFFFF):
        if seq not in used:
            return seq
    raise BuiltinError(412, "no free address left on the default network")


def parse_nic(raw: Any, field: str, uuid: str, index: int, seq: int) -> Nic:
    if not isinstance(raw, dict):
        raise BuiltinError(400, f"argument '{field}' must be dict, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in TYPES:
        raise BuiltinError(400, f"invalid nic type '{kind}'")
    if kind in ("vlan", "vxlan"):
        raise BuiltinError(501, f"nic type '{kind}' is not supported on this node yet (use a bridge)")
    nic_id = str(raw.get("id") or "")
    if kind == "bridge" and not nic_id:
        raise BuiltinError(400, f"argument '{field}.id' is required for a bridge nic (the bridge name)")
    if kind == "bridge" and nic_id == DEFAULT_BRIDGE:
        raise BuiltinError(400, "the default bridge for the vm should not be added manually")
    hwaddr = mac_arg({"hwaddr": raw.get("hwaddr") or ""}, "hwaddr")
    if kind == "default":
        hwaddr = hwaddr or seq_address(seq)[0]
    if not hwaddr:  # stable per VM and position
        h = int(uuid.replace("-", "")[:8], 16) ^ (index * 0x9E3779B1)
        hwaddr = f"52:54:00:{(h >> 16) & 0xFF:02x}:{(h >> 8) & 0xFF:02x}:{h & 0xFF:02x}"
    device = f"nic{index}"
    return Nic(kind, nic_id, hwaddr, f"zv{uuid[:8]}{index:x}"[:15], device)


def ensure_default_bridge(ctx: Context, namespace: str | None) -> None:
    with netlink(namespace) as ipr:
        if ipr.link_lookup(ifname=DEFAULT_BRIDGE):
            return
    bridges.create({"name": DEFAULT_BRIDGE, "network": DEFAULT_NETWORK,
                    **({"namespace": namespace} if namespace else {})}, ctx)


def plug(ctx: Context, nic: Nic, namespace: str | None, seq: int) -> None:
    """Make the nic's tap and put it on its bridge (and the DHCP host entry of a default nic)."""
    bridge = DEFAULT_BRIDGE if nic.type == "default" else nic.id
    if nic.type == "default":
        ensure_default_bridge(ctx, namespace)
    else:
        with netlink(namespace) as ipr:
            try:
                bridge_index(ipr, bridge)
            except BuiltinError:
                raise BuiltinError(400, f"bridge '{bridge}' not found") from None
    unplug(nic.tap, namespace)
    run_tool(["ip", "tuntap", "add", "dev", nic.tap, "mode", "tap"], namespace)
    try:
        attach(namespace, bridge, nic.tap)
        with netlink(namespace) as ipr:
            ipr.link("set", index=link_index(ipr, nic.tap), state="up")
        if nic.type == "default":
            ip = seq_address(seq)[1]
            bridges.host_add({"bridge": DEFAULT_BRIDGE, "mac": nic.hwaddr, "ip": ip,
                              **({"namespace": namespace} if namespace else {})}, ctx)
    except BaseException:
        unplug(nic.tap, namespace)
        raise


def unplug(tap: str, namespace: str | None) -> None:
    with contextlib.suppress(BuiltinError), netlink(namespace) as ipr:
        for index in ipr.link_lookup(ifname=tap):
            ipr.link("del", index=index)


def netdev(nic: Nic) -> dict[str, Any]:
    return {"type": "tap", "id": f"net-{nic.device}", "ifname": nic.tap, "script": "no", "downscript": "no"}


def device(nic: Nic) -> dict[str, Any]:
    return {"driver": "virtio-net-pci", "netdev": f"net-{nic.device}", "id": nic.device, "mac": nic.hwaddr}


# -- port forwards -------------------------------------------------------------------------
def tag(uuid: str) -> str:
    return f"kvm-{uuid}"


def forward_rule(uuid: str, host_port: int, ip: str, guest_port: int) -> dict[str, Any]:
    expr = [nft.match({"meta": {"key": "nfproto"}}, "ipv4"),
            nft.match({"payload": {"protocol": "tcp", "field": "dport"}}, host_port),
            {"dnat": {"family": "ip", "addr": ip, "port": guest_port}}]
    return nft.add_rule(FORWARD_CHAIN, expr, f"{tag(uuid)} {host_port}")


def add_forwards(uuid: str, ip: str, ports: dict[int, int], namespace: str | None) -> None:
    if not ports:
        return
    run_tool(["sysctl", "-qw", "net.ipv4.ip_forward=1"], namespace)
    with nft.LOCK:
        taken = {rule.get("comment", "").split(" ")[-1] for rule in nft.rules(FORWARD_CHAIN, namespace)
                 if rule.get("comment", "").startswith("kvm-")}
        clash = [p for p in ports if str(p) in taken]
        if clash:
            raise BuiltinError(409, f"host port {clash[0]} is already forwarded")
        nft.apply([*nft.ensure_chain(FORWARD_CHAIN),
                   *(forward_rule(uuid, host, ip, guest) for host, guest in ports.items())], namespace)


def remove_forwards(uuid: str, namespace: str | None, host_port: int | None = None) -> int:
    wanted = tag(uuid) if host_port is None else f"{tag(uuid)} {host_port}"
    with nft.LOCK:
        handles = [rule["handle"] for rule in nft.rules(FORWARD_CHAIN, namespace)
                   if rule.get("comment") == wanted
                   or (host_port is None and rule.get("comment", "").startswith(wanted + " "))]
        if handles:
            nft.apply([nft.delete_rule(FORWARD_CHAIN, h) for h in handles], namespace)
    return len(handles)


def ports_arg(raw: Any) -> dict[int, int]:
    """`port`: {host port: guest port} (JSON keys are strings)."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise BuiltinError(400, f"argument 'port' must be dict, got {type(raw).__name__}")
    found = {}
    for host, guest in raw.items():
        try:
            h, g = int(host), int(guest)
        except (TypeError, ValueError):
            raise BuiltinError(400, f"argument 'port' has '{host}: {guest}': ports must be integers") from None
        if not (0 < h < 65536 and 0 < g < 65536):
            raise BuiltinError(400, f"argument 'port' has '{host}: {guest}': ports are 1-65535")
        found[h] = g
    return found
