"""btrfs operations shared by the `btrfs.*` builtins and the storage pools: each runs one
btrfs-progs command (or reads sysfs) and turns failures into `BuiltinError` with a code that
says whose fault it was (400 bad argument, 404 missing, 412 in use / refused, 500 the tool)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ._btrfs_parse import PROFILES, BtrfsOutputError, parse_qgroups, parse_show, parse_subvol_list, read_allocation
from ._registry import BuiltinError
from ._sys_run import run_tool

SYS_BTRFS = Path("/sys/fs/btrfs")
SYS_BLOCK = Path("/sys/class/block")


def _parsed(what: str, fn: Any, text: str) -> Any:
    try:
        return fn(text)
    except BtrfsOutputError as exc:
        raise BuiltinError(500, f"cannot read btrfs {what} output: {exc}") from None


def check_profile(field: str, value: str) -> str:
    if value not in (*PROFILES, ""):
        # upstream's literal message (`invalid metadata profile:<v>`), with the choices
        raise BuiltinError(400, f"invalid {field} profile:{value} (one of {', '.join(PROFILES)})")
    return value


def mounted_sources() -> dict[str, list[str]]:
    """`{device path: [mountpoints]}` from /proc/self/mounts."""
    table: dict[str, list[str]] = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2:
            table.setdefault(fields[0], []).append(fields[1].replace("\\040", " "))
    return table


def block_device(path: str) -> str:
    """A device argument checked to be an existing block device: its kernel name (`loop3`).
    404 when it does not exist, 400 when it is something else."""
    if not path.startswith("/"):
        path = f"/dev/{path}"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BuiltinError(404, f"device '{path}' does not exist") from None
    if not stat.S_ISBLK(mode):
        raise BuiltinError(400, f"'{path}' is not a block device")
    return Path(os.path.realpath(path)).name


def device_users(name: str) -> list[str]:
    """What holds a block device (or one of its partitions): mounts, a mounted btrfs, holders
    (dm, md). Empty when it is free to format."""
    names = {name}
    base = SYS_BLOCK / name
    if base.exists():
        names |= {p.name for p in base.iterdir() if (p / "partition").exists()}
    users = []
    mounts = mounted_sources()
    for dev in sorted(names):
        users += [f"/dev/{dev} is mounted on {mp}" for mp in mounts.get(f"/dev/{dev}", [])]
        if any((fs / "devices" / dev).exists() for fs in _mounted_btrfs()):
            users.append(f"/dev/{dev} is in a mounted btrfs filesystem")
        holders = SYS_BLOCK / dev / "holders"
        if holders.exists():
            users += [f"/dev/{dev} is held by {h.name}" for h in holders.iterdir()]
    return sorted(set(users))


def free_device(path: str) -> str:
    """`block_device(path)` that nothing uses (412 otherwise); returns `/dev/<name>`."""
    name = block_device(path)
    users = device_users(name)
    if users:
        raise BuiltinError(412, f"device '{path}' is in use: {'; '.join(users)}")
    return f"/dev/{name}"


def _mounted_btrfs() -> list[Path]:
    if not SYS_BTRFS.exists():
        return []
    return [p for p in SYS_BTRFS.iterdir() if (p / "devices").is_dir()]


def mkfs(devices: list[str], label: str = "", metadata: str = "", data: str = "",
         overwrite: bool = False) -> None:
    argv = ["mkfs.btrfs"]
    if overwrite:
        argv.append("-f")
    if label:
        argv += ["-L", label]
    if metadata:
        argv += ["-m", metadata]
    if data:
        argv += ["-d", data]
    try:
        run_tool([*argv, "--", *devices])
    except BuiltinError as exc:
        if "existing filesystem" in exc.message or "appears to contain" in exc.message:
            raise BuiltinError(412, f"{exc.message} (pass overwrite to format it anyway)") from None
        if "unable to" in exc.message or "not enough" in exc.message or "too small" in exc.message:
            raise BuiltinError(400, exc.message) from None
        raise


def show(target: str | None = None) -> list[dict[str, Any]]:
    argv = ["btrfs", "filesystem", "show", "--raw"]
    return _parsed("filesystem show", parse_show, run_tool([*argv, target] if target else argv))


def is_btrfs_mount(path: str) -> bool:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == path.rstrip("/") and fields[2] == "btrfs":
            return True
    return False


def btrfs_path(path: str, field: str = "path") -> str:
    """An absolute path inside a btrfs filesystem (400 relative, 404 missing)."""
    if not path or not path.startswith("/"):
        raise BuiltinError(400, f"invalid {field}={path}")  # upstream's text
    if not os.path.exists(path):
        raise BuiltinError(404, f"{field} '{path}' does not exist")
    return path


def info(mountpoint: str) -> dict[str, Any]:
    """Upstream `btrfs.info`: the filesystem of `show` plus its allocation per kind."""
    btrfs_path(mountpoint, "mountpoint")
    found = show(mountpoint)
    if not found:
        raise BuiltinError(404, f"no btrfs filesystem at '{mountpoint}'")
    fs = found[0]
    try:
        allocation = read_allocation(SYS_BTRFS / fs["uuid"])
    except (OSError, ValueError) as exc:
        raise BuiltinError(412, f"btrfs {fs['uuid']} at '{mountpoint}' is not mounted: {exc}") from None
    return {**fs, **allocation}


def device_add(mountpoint: str, devices: list[str]) -> None:
    if devices:
        run_tool(["btrfs", "device", "add", "-K", "-f", *devices, mountpoint])


def device_remove(mountpoint: str, devices: list[str]) -> None:
    if devices:
        try:
            run_tool(["btrfs", "device", "remove", *devices, mountpoint])
        except BuiltinError as exc:
            if "unable to go below" in exc.message or "not a member" in exc.message.lower():
                raise BuiltinError(412, exc.message) from None
            raise


def subvol_create(path: str) -> None:
    if not path.startswith("/"):
        raise BuiltinError(400, f"invalid path={path}")
    if os.path.lexists(path):
        raise BuiltinError(409, f"'{path}' already exists")
    parent = os.path.dirname(path.rstrip("/"))
    if not os.path.isdir(parent):
        raise BuiltinError(404, f"parent directory '{parent}' does not exist")
    run_tool(["btrfs", "subvolume", "create", path], code=400)


def is_subvolume(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    # Every subvolume's root directory has inode 256 (BTRFS_FIRST_FREE_OBJECTID).
    return st.st_ino == 256 and stat.S_ISDIR(st.st_mode)


def subvol_delete(path: str) -> None:
    btrfs_path(path)
    if not is_subvolume(path):
        raise BuiltinError(400, f"'{path}' is not a btrfs subvolume")
    run_tool(["btrfs", "subvolume", "delete", path], code=412)


def rootid(path: str) -> int:
    return int(run_tool(["btrfs", "inspect-internal", "rootid", path]).strip())


def subvol_list(path: str) -> list[dict[str, Any]]:
    """The subvolumes directly below `path`'s subvolume (upstream `list -o`; btrfs-progs 6.2's
    `-o` prints nothing for the top level, so the filter is done here on the parent id)."""
    btrfs_path(path)
    parent = rootid(path)
    listed = _parsed("subvolume list", parse_subvol_list, run_tool(["btrfs", "subvolume", "list", path]))
    return [sv for sv in listed if sv["TopLevel"] == parent]


def quota_enable(path: str) -> None:
    run_tool(["btrfs", "quota", "enable", path])


def qgroups(path: str) -> dict[str, dict[str, int | None]]:
    """Every level-0 qgroup of the filesystem at `path`, after a sync (qgroup numbers are
    updated at transaction commit). Empty when quotas are off."""
    run_tool(["btrfs", "filesystem", "sync", path])
    try:
        out = run_tool(["btrfs", "qgroup", "show", "-re", "--raw", path])
    except BuiltinError as exc:
        if "quota" in exc.message.lower() and ("not enabled" in exc.message or "ENOTCONN" in exc.message
                                               or "not connected" in exc.message):
            return {}
        raise
    return _parsed("qgroup show", parse_qgroups, out)


def qgroup_limit(path: str, limit: str) -> None:
    run_tool(["btrfs", "qgroup", "limit", limit, path], code=400)


def snapshot(source: str, destination: str, read_only: bool) -> None:
    btrfs_path(source, "source")
    if not is_subvolume(source):
        raise BuiltinError(400, f"source '{source}' is not a btrfs subvolume")
    if not destination.startswith("/"):
        raise BuiltinError(400, f"invalid destination={destination}")
    if os.path.lexists(destination):
        raise BuiltinError(409, f"destination '{destination}' already exists")
    run_tool(["btrfs", "subvolume", "snapshot", *(["-r"] if read_only else []), source, destination],
             code=400)


def set_read_only(path: str, read_only: bool) -> None:
    run_tool(["btrfs", "property", "set", "-ts", path, "ro", "true" if read_only else "false"])


def subvol_list_all(path: str) -> list[dict[str, Any]]:
    """Every subvolume of the filesystem at `path`, paths relative to its top level."""
    return _parsed("subvolume list", parse_subvol_list, run_tool(["btrfs", "subvolume", "list", path]))
