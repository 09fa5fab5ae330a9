"""A VM's `media` (spec containers-vms §2.1 `mkDisk`) as qemu block nodes and devices.

    nbd://host[:port]/name, nbd+tcp://...    -> qemu's NBD client over TCP (default port 10809)
    nbd+unix:///name?socket=/path            -> the same over a unix socket (`zos disk serve`)
    /path/file or file:///path                -> a local raw or qcow2 file (format from qemu-img)
    type "cdrom"                              -> an IDE cd-rom instead of a virtio disk

Pure: the file format is looked up by the caller and passed in, so this needs no qemu.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._registry import BuiltinError

NBD_PORT = 10809
TYPES = ("disk", "cdrom")
IOTUNE_FIELDS = ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "bps_max", "bps_rd_max",
                 "bps_wr_max", "iops_max", "iops_rd_max", "iops_wr_max", "bps_max_length",
                 "bps_rd_max_length", "bps_wr_max_length", "iops_max_length", "iops_rd_max_length",
                 "iops_wr_max_length", "iops_size")
# upstream's flat libvirt names -> qemu's block_set_io_throttle names
UPSTREAM_IOTUNE = {
    "totalbytessec": "bps", "readbytessec": "bps_rd", "writebytessec": "bps_wr",
    "totaliopssec": "iops", "readiopssec": "iops_rd", "writeiopssec": "iops_wr",
    "totalbytessecmax": "bps_max", "readbytessecmax": "bps_rd_max", "writebytessecmax": "bps_wr_max",
    "totaliopssecmax": "iops_max", "readiopssecmax": "iops_rd_max", "writeiopssecmax": "iops_wr_max",
    "totalbytessecmaxlength": "bps_max_length", "readbytessecmaxlength": "bps_rd_max_length",
    "writebytessecmaxlength": "bps_wr_max_length", "totaliopssecmaxlength": "iops_max_length",
    "readiopssecmaxlength": "iops_rd_max_length", "writeiopssecmaxlength": "iops_wr_max_length",
    "sizeiopssec": "iops_size",
}


@dataclasses.dataclass(frozen=True)
class Medium:
    url: str
    type: str = "disk"          # disk | cdrom
    bus: str = "virtio"

    @property
    def is_nbd(self) -> bool:
        return self.url.startswith(("nbd:", "nbd+"))

    @property
    def path(self) -> str:
        """The local file of a file medium."""
        return self.url[len("file://"):] if self.url.startswith("file://") else self.url

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "type": self.type, "bus": self.bus}


def parse_medium(raw: Any, field: str) -> Medium:
    """One entry of `media` ({url, type?, bus?}), checked."""
    if not isinstance(raw, dict):
        raise BuiltinError(400, f"argument '{field}' must be dict, got {type(raw).__name__}")
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise BuiltinError(400, f"argument '{field}.url' is required")
    kind = raw.get("type") or "disk"
    if kind not in TYPES:
        raise BuiltinError(400, f"argument '{field}.type' has value '{kind}': must be disk or cdrom")
    bus = raw.get("bus") or ("ide" if kind == "cdrom" else "virtio")
    if bus not in ("virtio", "ide"):
        raise BuiltinError(400, f"argument '{field}.bus' has value '{bus}': must be virtio or ide")
    medium = Medium(url, kind, bus)
    if medium.is_nbd:
        nbd_server(medium)  # checks the URL
    elif "://" in url and not url.startswith("file://"):
        raise BuiltinError(400, f"argument '{field}.url' has value '{url}': not an nbd URL or a local file")
    elif not medium.path.startswith("/"):
        raise BuiltinError(400, f"argument '{field}.url' has value '{url}': a file must be an absolute path")
    return medium


def nbd_server(medium: Medium) -> tuple[dict[str, Any], str]:
    """(qemu SocketAddress, export name) of an nbd URL."""
    parts = urlsplit(medium.url)
    export = parts.path.lstrip("/")
    if not export:
        raise BuiltinError(400, f"medium '{medium.url}': the nbd URL names no export")
    if parts.scheme == "nbd+unix":
        socket = parse_qs(parts.query).get("socket", [""])[0]
        if not socket:
            raise BuiltinError(400, f"medium '{medium.url}': nbd+unix needs ?socket=/path")
        return {"type": "unix", "path": socket}, export
    if parts.scheme in ("nbd", "nbd+tcp"):
        if not parts.hostname:
            raise BuiltinError(400, f"medium '{medium.url}': the nbd URL names no host")
        return {"type": "inet", "host": parts.hostname, "port": str(parts.port or NBD_PORT)}, export
    raise BuiltinError(400, f"medium '{medium.url}': scheme '{parts.scheme}' is not nbd, nbd+tcp or nbd+unix")


def blockdev(medium: Medium, node: str, file_format: str | None) -> dict[str, Any]:
    """The `blockdev-add` arguments of a medium (node name `node`)."""
    read_only = medium.type == "cdrom"
    if medium.is_nbd:
        server, export = nbd_server(medium)
        return {"driver": "raw", "node-name": node, "read-only": read_only,
                "file": {"driver": "nbd", "server": server, "export": export,
                         "node-name": f"{node}-nbd"}}
    return {"driver": file_format or "raw", "node-name": node, "read-only": read_only,
            "file": {"driver": "file", "filename": medium.path, "node-name": f"{node}-file"}}


def device(medium: Medium, node: str, device_id: str, boot: bool) -> dict[str, Any]:
    """The `device_add` arguments of a medium."""
    if medium.type == "cdrom":
        found = {"driver": "ide-cd", "drive": node, "id": device_id}
    elif medium.bus == "ide":
        found = {"driver": "ide-hd", "drive": node, "id": device_id}
    else:
        found = {"driver": "virtio-blk-pci", "drive": node, "id": device_id}
    if boot:
        found["bootindex"] = 1  # 0 is taken by -kernel's option rom when there is one
    return found


def iotune_args(args: dict[str, Any]) -> dict[str, int]:
    """The throttle of `kvm.limit_disk_io`: upstream's flat `X`+`Xset` fields, or qemu's own
    names; every qemu field present (unset ones are 0 = unlimited)."""
    found = {name: 0 for name in IOTUNE_FIELDS}
    for upstream, qemu in UPSTREAM_IOTUNE.items():
        if args.get(f"{upstream}set") or (upstream in args and f"{upstream}set" not in args and args[upstream]):
            found[qemu] = _uint(args, upstream)
    for name in IOTUNE_FIELDS:
        if name in args:
            found[name] = _uint(args, name)
    for name in IOTUNE_FIELDS:  # a burst length of 0 is refused: 1 second is qemu's default
        if name.endswith("_length") and found[name] == 0:
            found[name] = 1
    return found


def _uint(args: dict[str, Any], name: str) -> int:
    value = args.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BuiltinError(400, f"argument '{name}' has value {value!r}: must be an int >= 0")
    return value
