"""`disk.*` builtins (spec core0-protocol §12.5): block devices (lsblk), partition tables
(parted), mounts.

Disks are named bare (`loop0`, `sda`; a `/dev/` prefix is accepted). As in 0-core, mktable,
mkpart, rmpart, mount and umount are processes (`parted -s ...`, `mount ...`): the builtin
checks its arguments (400 bad, 404 no such device, 412 busy) and the result carries the
tool's exit code and output in `streams`. Changing the table of a disk with a mounted
partition is refused (412).

What they change goes to the log: `disk.partitioned` (aggregate `disk`, id `<node>-<disk>`),
`disk.mounted` / `disk.unmounted` (aggregate `mount`, id `<node>-<mountpoint>`), recorded by
the process's `on_exit` hook once the tool exited 0, before the job's result.
"""

from __future__ import annotations

import collections
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._process import ProcessSpec
from ._disk_parted import PartedOutputError, parse_print
from ._registry import BuiltinError, Context, arg, builtin
from ._sys_run import require_tool, run_tool

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SIZE = re.compile(r"^\d+(\.\d+)?(s|B|kB|KiB|MB|MiB|GB|GiB|TB|TiB|%)?$")
_PART_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_OPTIONS = re.compile(r"^[A-Za-z0-9_=.,:/@+-]*$")
TABLE_TYPES = ("aix", "amiga", "bsd", "dvh", "gpt", "mac", "msdos", "pc98", "sun", "atari", "loop")
SYS_BLOCK = Path("/sys/class/block")


def device_arg(args: dict[str, Any], field: str) -> str:
    """A block device by bare name (`loop0`), checked to exist; `/dev/loop0` is accepted too."""
    value = arg(args, field, "str")
    name = value.removeprefix("/dev/")
    if not _NAME.match(name):
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not a block device name (e.g. loop0)")
    if not (SYS_BLOCK / name).exists():
        raise BuiltinError(404, f"no block device named '{name}'")
    return name


def _size_arg(args: dict[str, Any], field: str) -> str:
    value = args.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _SIZE.match(value):
        raise BuiltinError(400, f"argument '{field}' has value {value!r}: a position like 1MiB, 2048s, "
                                "50% or a number of MB")
    return value


def _lsblk(device: str | None = None) -> list[dict[str, Any]]:
    argv = ["lsblk", "--json", "--output-all", "--bytes", "--exclude", "1,2"]
    out = run_tool([*argv, f"/dev/{device}"] if device else argv)
    try:
        return json.loads(out)["blockdevices"]
    except (ValueError, KeyError, TypeError):
        raise BuiltinError(500, f"lsblk printed something that is not its JSON: {out[:200]!r}") from None


def _table(device: str, pttype: str | None = None) -> dict[str, Any]:
    """parted's view of a whole disk; a disk without a partition table has table ''. A disk
    parted cannot open (in use, not permitted) keeps lsblk's table type and no free list, so
    one unreadable disk does not fail the whole list."""
    try:
        out = run_tool(["parted", "-m", "-s", f"/dev/{device}", "unit", "B", "print", "free"])
    except BuiltinError as exc:
        if "unrecognised disk label" in exc.message:
            return {"table": "", "free": [], "partitions": []}
        if pttype is None:
            raise
        return {"table": "msdos" if pttype == "dos" else pttype, "free": [], "partitions": []}
    try:
        return parse_print(out)
    except PartedOutputError as exc:
        raise BuiltinError(500, f"cannot read the partition table of '{device}': {exc}") from None


# blkid's low-level probe names for the lsblk fields that need udev (absent on a bare node)
_PROBE_FIELDS = {"TYPE": "fstype", "VERSION": "fsver", "LABEL": "label", "UUID": "uuid",
                 "PTTYPE": "pttype", "PTUUID": "ptuuid", "PART_ENTRY_NAME": "partlabel",
                 "PART_ENTRY_UUID": "partuuid", "PART_ENTRY_TYPE": "parttype"}


def parse_blkid_export(text: str) -> dict[str, str]:
    """`blkid -o export` lines `KEY=value` (special characters backslash-escaped)."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key] = re.sub(r"\\(.)", r"\1", value)
    return found


def _probe(device: str) -> dict[str, str]:
    """What blkid reads from the device itself (read-only); empty when it cannot tell."""
    try:
        out = run_tool(["blkid", "-p", "-o", "export", f"/dev/{device}"])
    except BuiltinError:
        return {}
    return {field: value for key, value in parse_blkid_export(out).items()
            if (field := _PROBE_FIELDS.get(key))}


def _describe(entry: dict[str, Any]) -> dict[str, Any]:
    """One lsblk device (and its children) with the 0-core fields start, end, size,
    blocksize, table, free added from parted; the filesystem and partition fields lsblk
    leaves empty without udev are filled from blkid."""
    if any(entry.get(field) is None for field in ("fstype", "uuid", "partuuid")):
        entry = {**entry, **{k: v for k, v in _probe(entry["name"]).items() if entry.get(k) is None}}
    blocksize = entry.get("log-sec") or 512
    size = int(entry.get("size") or 0)
    info = {**entry, "start": 0, "end": max(size - 1, 0), "size": size, "blocksize": blocksize,
            "table": "", "free": []}
    children = entry.get("children") or []
    if entry.get("type") in ("disk", "loop") and size > 0:
        table = _table(entry["name"], entry.get("pttype") or "")
        info.update(table=table["table"], free=table["free"])
        by_number = {part["number"]: part for part in table["partitions"]}
        described = []
        for child in children:
            part = by_number.get(_partition_number(child["name"]))
            child_info = _describe(child)
            if part is not None:
                child_info.update(start=part["start"], end=part["end"], size=part["size"])
            described.append(child_info)
        info["children"] = described
    elif children:
        info["children"] = [_describe(child) for child in children]
    return info


def _partition_number(name: str) -> int | None:
    try:
        return int((SYS_BLOCK / name / "partition").read_text())
    except (OSError, ValueError):
        return None


@builtin("disk.list")
def list_disks(args: dict, ctx: Context) -> list[dict]:
    return [_describe(entry) for entry in _lsblk()]


@builtin("disk.getinfo")
def getinfo(args: dict, ctx: Context) -> dict:
    disk = device_arg(args, "disk")
    part = device_arg(args, "part") if args.get("part") else None
    [info] = [_describe(entry) for entry in _lsblk(disk)]
    if part is None:
        return info
    for child in info.get("children") or []:
        if child["name"] == part:
            return child
    raise BuiltinError(404, f"'{part}' is not a partition of '{disk}'")


def _unescape(field: str) -> str:
    """/proc/self/mounts escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_mounts(text: str) -> dict[str, list[dict[str, str]]]:
    """`{device: [{mountpoint, filesystem, options}]}` from the text of /proc/self/mounts."""
    mounts: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mountpoint, filesystem, options = (_unescape(f) for f in fields[:4])
        mounts.setdefault(device, []).append(
            {"mountpoint": mountpoint, "filesystem": filesystem, "options": options})
    return mounts


def _mounts() -> dict[str, list[dict[str, str]]]:
    return read_mounts(Path("/proc/self/mounts").read_text())


def _mount_pairs(mounts: dict[str, list[dict[str, str]]], source: str) -> collections.Counter:
    """(device, mountpoint) of every mount `source` names, as a device or as a mountpoint."""
    points = {source, source.rstrip("/"), os.path.realpath(source)}
    return collections.Counter((device, m["mountpoint"]) for device, entries in mounts.items()
                               for m in entries if device == source or m["mountpoint"] in points)


@builtin("disk.mounts")
def mounts(args: dict, ctx: Context) -> dict:
    return _mounts()


def _refuse_if_mounted(disk: str) -> None:
    names = {disk, *(p.name for p in (SYS_BLOCK / disk).iterdir() if (p / "partition").exists())}
    table = _mounts()
    busy = sorted(f"/dev/{name} on {m['mountpoint']}" for name in names for m in table.get(f"/dev/{name}", []))
    if busy:
        raise BuiltinError(412, f"disk '{disk}' is in use: {', '.join(busy)}")


def _run_changing(argv: list[str], changed: Callable[[], None]) -> ProcessSpec:
    """The tool as the job's process (its own output and exit code make the result); when it
    succeeds, `changed` records the events."""
    def on_exit(returncode: int) -> None:
        if returncode == 0:
            changed()
    return ProcessSpec(argv, on_exit=on_exit)


def _partitions(disk: str) -> list[dict[str, Any]] | None:
    """The partitions parted reads now; None when it cannot (the change is made all the same)."""
    try:
        return _table(disk)["partitions"]
    except BuiltinError:
        return None


def _partitioned(ctx: Context, disk: str, operation: str, **fields: Any) -> Callable[[], None]:
    def changed() -> None:
        data = {"node": ctx.node_id, "disk": disk, "operation": operation, **fields,
                "partitions": _partitions(disk)}
        ctx.emit("disk.partitioned", "disk", f"{ctx.node_id}-{disk}",
                 {key: value for key, value in data.items() if value is not None})
    return changed


def _parted(ctx: Context, disk: str, operation: str, words: list[str], **fields: Any) -> ProcessSpec:
    return _run_changing([require_tool("parted"), "-s", f"/dev/{disk}", *words],
                         _partitioned(ctx, disk, operation, **fields))


@builtin("disk.mktable")
def mktable(args: dict, ctx: Context) -> ProcessSpec:
    disk = device_arg(args, "disk")
    table_type = arg(args, "table_type", "str")
    if table_type not in TABLE_TYPES:
        raise BuiltinError(400, f"argument 'table_type' has value '{table_type}': must be one of "
                                f"{', '.join(TABLE_TYPES)}")
    _refuse_if_mounted(disk)
    return _parted(ctx, disk, "mktable", ["mktable", table_type], table=table_type)


@builtin("disk.mkpart")
def mkpart(args: dict, ctx: Context) -> ProcessSpec:
    disk = device_arg(args, "disk")
    part_type = arg(args, "part_type", "str", "primary")
    if not _PART_TYPE.match(part_type):
        raise BuiltinError(400, f"argument 'part_type' has value '{part_type}': primary, logical, "
                                "extended or (gpt) a name of letters, digits, _ and -")
    start, end = _size_arg(args, "start"), _size_arg(args, "end")
    _refuse_if_mounted(disk)
    return _parted(ctx, disk, "mkpart", ["mkpart", part_type, start, end], part_type=part_type,
                   start=start, end=end)


@builtin("disk.rmpart")
def rmpart(args: dict, ctx: Context) -> ProcessSpec:
    disk = device_arg(args, "disk")
    number = arg(args, "number", "int")
    numbers = [p["number"] for p in _table(disk)["partitions"]]
    if number not in numbers:
        raise BuiltinError(404, f"disk '{disk}' has no partition number {number} (it has {numbers})")
    _refuse_if_mounted(disk)
    return _parted(ctx, disk, "rmpart", ["rm", str(number)], number=number)


@builtin("disk.mount")
def mount(args: dict, ctx: Context) -> ProcessSpec:
    source, target = arg(args, "source", "str"), arg(args, "target", "str")
    options = arg(args, "options", "str", "")
    if not _OPTIONS.match(options):
        raise BuiltinError(400, f"argument 'options' has value '{options}': comma-separated mount options")
    if not os.path.isabs(target):
        raise BuiltinError(400, f"argument 'target' has value '{target}': must be an absolute path")
    if not source or source.startswith("-"):
        raise BuiltinError(400, f"argument 'source' has value '{source}': a device, path or filesystem name")
    if source.startswith("/") and not os.path.exists(source):
        raise BuiltinError(404, f"mount source '{source}' does not exist")
    os.makedirs(target, exist_ok=True)

    def mounted() -> None:
        mountpoint = os.path.realpath(target)
        found = [m for entries in _mounts().values() for m in entries if m["mountpoint"] == mountpoint]
        data = {"node": ctx.node_id, "source": source, "target": mountpoint, "options": options or None,
                "filesystem": found[-1]["filesystem"] if found else None}
        ctx.emit("disk.mounted", "mount", f"{ctx.node_id}-{mountpoint}",
                 {key: value for key, value in data.items() if value is not None})
    return _run_changing([require_tool("mount"), *(["-o", options] if options else []), "--", source, target],
                         mounted)


@builtin("disk.umount")
def umount(args: dict, ctx: Context) -> ProcessSpec:
    source = arg(args, "source", "str")
    known = _mounts()
    mounted = source in known or any(m["mountpoint"] == source.rstrip("/") or m["mountpoint"] == source
                                     for entries in known.values() for m in entries)
    if not mounted:
        raise BuiltinError(404, f"'{source}' is not mounted")

    def unmounted() -> None:
        gone = _mount_pairs(known, source) - _mount_pairs(_mounts(), source)
        for (device, mountpoint), count in sorted(gone.items()):
            for _ in range(count):
                ctx.emit("disk.unmounted", "mount", f"{ctx.node_id}-{mountpoint}",
                         {"node": ctx.node_id, "source": device, "target": mountpoint})
    return _run_changing([require_tool("umount"), "--", source], unmounted)
