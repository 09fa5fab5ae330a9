"""What a vdisk is: its type, geometry and storage, validated once (spec §2.1).

Types map to properties as upstream's `config/primitive.go` does: `boot` is deduped, `boot`
and `db` keep a transaction log and may read through a template; `cache` and `tmp` are plain
non-deduped disks.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ._errors import VdiskConfigError

GiB = 1 << 30
MIN_BLOCK_SIZE = 512
MAX_BLOCK_SIZE = 64 * 1024
DEFAULT_BLOCK_SIZE = 4096

# type -> (deduped, tlog, template)
TYPES: dict[str, tuple[bool, bool, bool]] = {
    "boot": (True, True, True),
    "db": (False, True, True),
    "cache": (False, False, False),
    "tmp": (False, False, False),
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": None, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """A size in bytes: an int, `"10G"`, `"512MiB"`, `"4096B"`; a bare number means GiB
    (upstream sizes were GiB)."""
    if isinstance(text, int):
        if text <= 0:
            raise VdiskConfigError(f"size {text} must be positive")
        return text
    found = _SIZE.match(text)
    if not found:
        raise VdiskConfigError(f"size '{text}' is not a number with an optional unit (B, K, M, G, T)")
    number, unit = int(found.group(1)), (found.group(2) or "").upper()[:1]
    multiplier = _UNITS[unit] or GiB
    if number <= 0:
        raise VdiskConfigError(f"size '{text}' must be positive")
    return number * multiplier


@dataclasses.dataclass(frozen=True)
class VdiskConfig:
    """One vdisk as the event log describes it (`vdisk.created` data, plus resizes)."""

    name: str
    size: int                      # bytes
    type: str = "cache"
    block_size: int = DEFAULT_BLOCK_SIZE
    storage: str = "rocksdb"       # storage URL, see `open_store`
    template: str | None = None    # template vdisk name (copy-on-read), boot/db only
    template_storage: str | None = None
    read_only: bool = False
    tlog: bool | None = None       # None = the type's default

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise VdiskConfigError(
                f"vdisk name '{self.name}' must be 1-128 of [A-Za-z0-9_.-], starting alphanumeric")
        if self.type not in TYPES:
            raise VdiskConfigError(f"vdisk type '{self.type}' is not one of {', '.join(TYPES)}")
        bs = self.block_size
        if bs < MIN_BLOCK_SIZE or bs > MAX_BLOCK_SIZE or bs & (bs - 1):
            raise VdiskConfigError(
                f"block size {bs} must be a power of two between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE}")
        if self.size < bs:
            raise VdiskConfigError(f"size {self.size} must hold at least one block of {bs} bytes")
        if self.size % bs:
            raise VdiskConfigError(f"size {self.size} is not a multiple of the block size {bs}")
        if self.template and not TYPES[self.type][2]:
            raise VdiskConfigError(f"a {self.type} vdisk cannot have a template (only boot and db)")

    @property
    def deduped(self) -> bool:
        return TYPES[self.type][0]

    @property
    def has_tlog(self) -> bool:
        return TYPES[self.type][1] if self.tlog is None else bool(self.tlog and TYPES[self.type][1])

    @property
    def blocks(self) -> int:
        return self.size // self.block_size

    def to_event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "size": self.size, "type": self.type,
                                "block_size": self.block_size, "storage": self.storage,
                                "read_only": self.read_only, "deduped": self.deduped,
                                "tlog": self.has_tlog}
        if self.template:
            data["template"] = self.template
        if self.template_storage:
            data["template_storage"] = self.template_storage
        return data

    @classmethod
    def from_event_data(cls, data: dict[str, Any]) -> VdiskConfig:
        return cls(name=data["name"], size=data["size"], type=data["type"],
                   block_size=data["block_size"], storage=data["storage"],
                   template=data.get("template"), template_storage=data.get("template_storage"),
                   read_only=bool(data.get("read_only", False)), tlog=data.get("tlog"))


def make_vdisk(name: str, size: str | int, type: str = "cache", *, block_size: int = DEFAULT_BLOCK_SIZE,
               storage: str = "rocksdb", template: str | None = None,
               template_storage: str | None = None, read_only: bool = False,
               tlog: bool | None = None) -> VdiskConfig:
    """Build a validated config; the size is rounded up to whole blocks."""
    nbytes = parse_size(size)
    nbytes = -(-nbytes // block_size) * block_size if block_size > 0 else nbytes
    return VdiskConfig(name=name, size=nbytes, type=type, block_size=block_size, storage=storage,
                       template=template, template_storage=template_storage, read_only=read_only,
                       tlog=tlog)
