"""Reading what `btrfs` (btrfs-progs) prints and what the kernel shows under /sys/fs/btrfs:
pure functions from text to upstream's shapes (spec containers-vms §3), nothing run here.

btrfs-progs 6.2 has no JSON output for `filesystem show`, `subvolume list` or `qgroup show`
(its `--format json` covers `filesystem df` only and aborts on qgroups), so the text of the
`--raw` forms is parsed, strictly: a line that does not fit is an error, never skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PROFILES = ("raid0", "raid1", "raid5", "raid6", "raid10", "dup", "single")
_LIMIT = re.compile(r"^(none|\d+(\.\d+)?[kKmMgGtTpPeE]?)$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}


class BtrfsOutputError(ValueError):
    """btrfs printed something this parser does not know (a new btrfs-progs, a bug)."""


def parse_limit(text: str) -> int | None:
    """A qgroup limit as `btrfs qgroup limit` takes it (`10M`, `1G`, `4096`, `none`) in bytes;
    None for `none`. Raises ValueError for anything else."""
    match = _LIMIT.match(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a size like 4096, 10M, 2G or 'none'")
    if text.strip() == "none":
        return None
    number, unit = re.match(r"^([\d.]+)([a-zA-Z]?)$", text.strip()).groups()  # type: ignore[union-attr]
    return int(float(number) * _UNITS[unit.lower()])


_SHOW_HEAD = re.compile(r"^Label:\s+(none|'(?P<label>.*)')\s+uuid:\s+(?P<uuid>[0-9a-f-]{36})$")
_SHOW_TOTAL = re.compile(r"^Total devices\s+(?P<total>\d+)\s+FS bytes used\s+(?P<used>\d+)$")
_SHOW_DEVICE = re.compile(r"^devid\s+(?P<id>\d+)\s+size\s+(?P<size>\d+)\s+used\s+(?P<used>\d+)\s+path\s+(?P<path>\S+)$")
_SHOW_MISSING = re.compile(r"^\*\*\*\s+Some devices missing$")


def parse_show(text: str) -> list[dict[str, Any]]:
    """`btrfs filesystem show --raw` ⇒ `[{label, uuid, total_devices, used, devices:[{dev_id,
    size, used, path}]}]`; label `none` when unlabelled, a missing device has `missing: true`."""
    filesystems: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if (m := _SHOW_HEAD.match(line)) is not None:
            label = m.group("label")
            current = {"label": "none" if label is None else label, "uuid": m.group("uuid"),
                       "total_devices": 0, "used": 0, "devices": []}
            filesystems.append(current)
        elif current is None:
            raise BtrfsOutputError(f"filesystem show: '{line}' before any 'Label:' line")
        elif (m := _SHOW_TOTAL.match(line)) is not None:
            current["total_devices"], current["used"] = int(m.group("total")), int(m.group("used"))
        elif (m := _SHOW_DEVICE.match(line)) is not None:
            current["devices"].append({"dev_id": int(m.group("id")), "size": int(m.group("size")),
                                       "used": int(m.group("used")), "path": m.group("path")})
        elif line.startswith("devid") and "<missing disk>" in line:  # "path <missing disk> MISSING"
            fields = line.split()
            current["devices"].append({"dev_id": int(fields[1]), "size": int(fields[3]),
                                       "used": int(fields[5]), "path": "", "missing": True})
        elif _SHOW_MISSING.match(line):
            current["missing"] = True
        else:
            raise BtrfsOutputError(f"filesystem show: unexpected line '{line}'")
    return filesystems


_SUBVOL = re.compile(r"^ID (?P<id>\d+) gen (?P<gen>\d+) top level (?P<top>\d+) path (?P<path>.+)$")


def parse_subvol_list(text: str) -> list[dict[str, Any]]:
    """`btrfs subvolume list` ⇒ upstream's `[{ID, Gen, TopLevel, Path}]` (Go names, no tags)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _SUBVOL.match(line)
        if m is None:
            raise BtrfsOutputError(f"subvolume list: unexpected line '{line}'")
        out.append({"ID": int(m.group("id")), "Gen": int(m.group("gen")),
                    "TopLevel": int(m.group("top")), "Path": m.group("path")})
    return out


def parse_qgroups(text: str) -> dict[str, dict[str, int | None]]:
    """`btrfs qgroup show -re --raw` ⇒ `{"0/257": {referenced, exclusive, max_referenced,
    max_exclusive}}` in bytes (None = no limit)."""
    groups: dict[str, dict[str, int | None]] = {}
    for raw in text.splitlines():
        fields = raw.split()
        if not fields or fields[0] in ("Qgroupid", "qgroupid") or set(fields[0]) == {"-"}:
            continue
        if len(fields) < 5 or "/" not in fields[0]:
            raise BtrfsOutputError(f"qgroup show: unexpected line '{raw.strip()}'")

        sizes = [_qgroup_size(word, raw) for word in fields[1:5]]
        groups[fields[0]] = dict(zip(("referenced", "exclusive", "max_referenced", "max_exclusive"),
                                     sizes, strict=True))
    return groups


def _qgroup_size(word: str, line: str) -> int | None:
    if word == "none":
        return None
    if not word.isdigit():
        raise BtrfsOutputError(f"qgroup show: '{word}' is not a byte count in '{line.strip()}'")
    return int(word)


# The block-group kinds of `btrfs filesystem df`, as the kernel names them under allocation/.
_ALLOCATIONS = {"data": "data", "system": "system", "metadata": "metadata"}


def profile_name(kernel: str) -> str:
    """The kernel's profile directory name (`raid1`, `single`, `dup`) as btrfs-progs prints it
    (`RAID1`, `single`, `DUP`): upstream's `info` passes btrfs-progs' spelling through."""
    return "single" if kernel == "single" else kernel.upper()


def read_allocation(fs_dir: Path) -> dict[str, dict[str, Any]]:
    """`{data, system, metadata, globalreserve}` each `{profile, total, used}` (bytes) from
    /sys/fs/btrfs/<uuid>/allocation: what `btrfs filesystem df --raw` prints, read directly."""
    alloc = fs_dir / "allocation"
    out: dict[str, dict[str, Any]] = {}
    for name, kind in _ALLOCATIONS.items():
        base = alloc / kind
        profiles = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name in PROFILES)
        # Several profiles coexist only during a conversion (balance); the newest chunks are
        # the last one btrfs-progs prints, and the totals are per kind either way.
        out[name] = {"profile": profile_name(profiles[-1]) if profiles else "",
                     "total": int((base / "total_bytes").read_text()),
                     "used": int((base / "bytes_used").read_text())}
    out["globalreserve"] = {"profile": "single",
                            "total": int((alloc / "global_rsv_size").read_text()),
                            "used": int((alloc / "global_rsv_reserved").read_text())}
    return out
