"""Events of a node's networking (the agent's `bridge.*`, `ip.*` and `nft.*` builtins).

Every object lives on one node, optionally inside one of its network namespaces (the
`namespace` argument of the builtins), so ids join node, namespace and name with `-`:
`<node>-<name>`, or `<node>-<namespace>-<name>` (hashed into one subject token by
`zos.bus.event_subject` when they hold anything else than `[A-Za-z0-9_-]`). A fold keys on
the data (`node`, `namespace`, `name`), never on the id: the readable names are in the data.

| aggregate | id                              | types                                          |
|-----------|---------------------------------|------------------------------------------------|
| `bridge`  | `<node>[-<namespace>]-<bridge>` | bridge.created, bridge.deleted, bridge.host_added |
| `nic`     | `<node>[-<namespace>]-<ifname>` | nic.added, nic.removed, nic.renamed, nic.state_changed, nic.mtu_changed, nic.address_added, nic.address_removed, nic.attached, nic.detached, nic.route_added, nic.route_removed |
| `nft`     | `<node>[-<namespace>]-<port>`   | nft.port_opened, nft.port_closed               |
"""

from .._registry import declare

_WHERE = [
    "node:str",        # node id
    "namespace:str?",  # network namespace on that node; absent = the node's own network
]

# --- managed bridges (bridge.create / bridge.delete) ------------------------------------------

declare("bridge.created", "bridge", [
    *_WHERE,
    "name:str",        # interface name of the bridge
    "hwaddr:str",      # its MAC address once created (the one asked for, or the kernel's)
    "mode:str",        # network mode: "" (bare), "static" or "dnsmasq"
    "nat:bool",        # traffic from its network leaving it is masqueraded
    "settings:map",    # what the mode uses: {cidr} (static), {cidr, start, end} (dnsmasq), {}
    "job:str?",        # the job that made it
], doc="A managed bridge exists and is up, with its network mode (address, DHCP, NAT) in place.")

declare("bridge.deleted", "bridge", [*_WHERE, "name:str", "job:str?"],
        doc="A bridge is gone with what bridge.create started for it (DHCP server, NAT rule).")

declare("bridge.host_added", "bridge", [*_WHERE, "name:str", "mac:str", "ip:str"],
        doc="The DHCP server of a dnsmasq-mode bridge gives `ip` to `mac` from now on.")

# --- interfaces (ip.*, bridge.nic-add / nic-remove) -------------------------------------------

_NIC = [*_WHERE, "name:str"]  # name: the interface

declare("nic.added", "nic", [*_NIC, "kind:str", "hwaddr:str?"],
        doc="An interface was created (`kind` as ip.link.list reports it, e.g. bridge).")
declare("nic.removed", "nic", _NIC, doc="An interface was deleted.")
declare("nic.renamed", "nic", [*_NIC, "new_name:str"],
        doc="An interface got a new name (the event is on its old id; later ones on the new).")
declare("nic.state_changed", "nic", [*_NIC, "state:str"],
        doc="An interface was set administratively `up` or `down`.")
declare("nic.mtu_changed", "nic", [*_NIC, "mtu:int", "old_mtu:int?"],
        doc="An interface's MTU changed.")
declare("nic.address_added", "nic", [*_NIC, "address:str"],
        doc="An address (CIDR form, e.g. 10.0.0.1/24) was added to an interface.")
declare("nic.address_removed", "nic", [*_NIC, "address:str"],
        doc="An address (CIDR form) was removed from an interface.")
declare("nic.attached", "nic", [*_NIC, "bridge:str"],
        doc="An interface became a port of a bridge.")
declare("nic.detached", "nic", [*_NIC, "bridge:str?"],
        doc="An interface stopped being a port of a bridge (`bridge` when known).")
declare("nic.route_added", "nic", [*_NIC, "dst:str", "gw:str?"],
        doc="A route to `dst` (CIDR) through this interface, via `gw` when given, was added.")
declare("nic.route_removed", "nic", [*_NIC, "dst:str", "gw:str?"],
        doc="A route to `dst` (CIDR) through this interface was removed.")

# --- firewall (nft.open_port / nft.drop_port) -------------------------------------------------

_PORT = [
    *_WHERE,
    "port:int",        # TCP port
    "rule:str",        # the rule text, also its comment in the kernel (nft.list shows it)
    "interface:str?",  # only traffic arriving on this interface
    "subnet:str?",     # only traffic from this network (CIDR)
]

declare("nft.port_opened", "nft", _PORT,
        doc="A TCP port is accepted in the agent's nftables table (`inet zos`, chain input).")
declare("nft.port_closed", "nft", _PORT,
        doc="The rule that opened a TCP port was removed.")
