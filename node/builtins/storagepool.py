"""Storage pools as the orchestrator sees them (ARCHITECTURE §6): `storagepool.*`,
`filesystem.*` and `snapshot.*` commands. Each change is recorded as its domain event
(events/catalog/storagepool.py); a failed command leaves nothing half-made (a failed create
unmounts, removes its mount point and wipes the devices it formatted).

Layout and ids: `_storagepool_layout.py`. Finding pools again at agent start:
`_storagepool_adopt.py`. Sizes in arguments and results are bytes.

Persistent volumes: `volume_path(config, "storagepool://<pool>/<fs>")` is the host path a
container bind mount (or a VM's raw file) uses; it survives the container.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from . import _btrfs_ops as ops
from ._registry import BuiltinError, Context, arg, builtin, service
from ._storagepool_adopt import adopt_pools
from ._storagepool_layout import (SNAPSHOT_NAME, Pool, check_name, filesystem_id, pool_id, snapshot_id,
                                  users_of)
from ._storagepool_layout import volume_path as _volume_path
from ._sys_run import run_tool

DEFAULT_ROOT = Path("/mnt/storagepools")


def pool_root(config: Any) -> Path:
    return Path(getattr(config, "storagepool_root", None) or DEFAULT_ROOT)


def volume_path(config: Any, source: str) -> Path:
    """Host path of `storagepool://<pool>/<fs>[/sub]` (or a path inside a pool filesystem)
    on this node; `BuiltinError` 404/400 when it is not there (see `_storagepool_layout`)."""
    return _volume_path(pool_root(config), source)


# -- reading a pool -------------------------------------------------------------------------

def _mounted_pool(ctx: Context, name: str) -> Pool:
    pool = Pool(pool_root(ctx.config), check_name("pool", name))
    if not ops.is_btrfs_mount(str(pool.mountpoint)):
        raise BuiltinError(404, f"storage pool '{name}' does not exist on this node "
                                f"(nothing mounted at {pool.mountpoint})")
    return pool


def _device_uuid(device: str) -> str:
    """The btrfs device uuid (`UUID_SUB` of blkid's probe), '' when it cannot be read."""
    try:
        out = run_tool(["blkid", "-p", "-o", "export", device])
    except BuiltinError:
        return ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key == "UUID_SUB":
            return value
    return ""


def _devices_of(fs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"device": d["path"], "uuid": _device_uuid(d["path"]) if d["path"] else "",
             "size": d["size"], "used": d["used"], "missing": bool(d.get("missing"))}
            for d in fs["devices"]]


def _filesystem_usage(pool: Pool) -> dict[str, dict[str, int | None]]:
    """`{fs or fs/snap: {referenced, exclusive, max_referenced}}` from the qgroups."""
    groups = ops.qgroups(str(pool.mountpoint))
    by_id = {}
    for sv in ops.subvol_list_all(str(pool.mountpoint)):
        by_id[sv["Path"]] = groups.get(f"0/{sv['ID']}", {})
    return by_id


def _filesystem_facts(pool: Pool, usage: dict[str, Any], fs: str) -> dict[str, Any]:
    group = usage.get(f"filesystems/{fs}", {})
    snaps = []
    if pool.snapshot_dir(fs).is_dir():
        for snap in sorted(p.name for p in pool.snapshot_dir(fs).iterdir() if ops.is_subvolume(str(p))):
            g = usage.get(f"snapshots/{fs}/{snap}", {})
            snaps.append({"name": snap, "path": str(pool.snapshot(fs, snap)),
                          "referenced": g.get("referenced") or 0, "exclusive": g.get("exclusive") or 0})
    return {"name": fs, "path": str(pool.filesystem(fs)), "quota": group.get("max_referenced") or 0,
            "referenced": group.get("referenced") or 0, "exclusive": group.get("exclusive") or 0,
            "read_only": _read_only(pool.filesystem(fs)), "snapshots": snaps}


def _read_only(path: Path) -> bool:
    out = run_tool(["btrfs", "property", "get", "-ts", str(path), "ro"]).strip()
    return out == "ro=true"


def _filesystem_names(pool: Pool) -> list[str]:
    if not pool.filesystems.is_dir():
        return []
    return sorted(p.name for p in pool.filesystems.iterdir()
                  if not p.name.startswith(".") and ops.is_subvolume(str(p)))


def pool_facts(pool: Pool) -> dict[str, Any]:
    """What btrfs says about a mounted pool: the storagepool.info result."""
    [fs] = ops.show(str(pool.mountpoint))
    info = ops.info(str(pool.mountpoint))
    usage = _filesystem_usage(pool)
    size = sum(d["size"] for d in fs["devices"])
    return {"name": pool.name, "uuid": fs["uuid"], "label": fs["label"], "mountpoint": str(pool.mountpoint),
            "devices": _devices_of(fs), "size": size, "used": fs["used"],
            "metadata_profile": info["metadata"]["profile"].lower(),
            "data_profile": info["data"]["profile"].lower(),
            "filesystems": [_filesystem_facts(pool, usage, name) for name in _filesystem_names(pool)]}


@builtin("storagepool.list")
def list_pools(args: dict, ctx: Context) -> list[dict]:
    """Every pool mounted under the pool root (`storagepool.info` of each)."""
    root = pool_root(ctx.config)
    if not root.is_dir():
        return []
    return [pool_facts(Pool(root, p.name)) for p in sorted(root.iterdir())
            if ops.is_btrfs_mount(str(p))]


@builtin("storagepool.info")
def pool_info(args: dict, ctx: Context) -> dict:
    return pool_facts(_mounted_pool(ctx, arg(args, "name", "str")))


# -- pools ----------------------------------------------------------------------------------

def _mount(devices: list[str], mountpoint: Path) -> None:
    options = ",".join(f"device={d}" for d in devices)
    run_tool(["mount", "-t", "btrfs", "-o", options, devices[0], str(mountpoint)])


def _undo_create(pool: Pool, devices: list[str], made_dir: bool) -> None:
    """Take back a create that failed half-way: unmount, remove the mount point, wipe."""
    if os.path.ismount(pool.mountpoint):
        run_tool(["umount", str(pool.mountpoint)])
    if made_dir:
        try:
            pool.mountpoint.rmdir()
        except OSError:
            pass
    for device in devices:
        try:
            run_tool(["wipefs", "-a", device])
        except BuiltinError:
            pass


@builtin("storagepool.create")
def create_pool(args: dict, ctx: Context) -> dict:
    """`{name, devices, metadata_profile?, data_profile?, overwrite?}` ⇒ the pool's facts."""
    root = pool_root(ctx.config)
    pool = Pool(root, check_name("pool", arg(args, "name", "str")))
    raw_devices = arg(args, "devices", "list")
    if not raw_devices or not all(isinstance(d, str) and d for d in raw_devices):
        raise BuiltinError(400, "need to specify devices to create a storage pool")
    metadata = ops.check_profile("metadata", arg(args, "metadata_profile", "str", ""))
    data = ops.check_profile("data", arg(args, "data_profile", "str", ""))
    if os.path.lexists(pool.mountpoint) and (os.path.ismount(pool.mountpoint) or not pool.mountpoint.is_dir()
                                              or any(pool.mountpoint.iterdir())):
        raise BuiltinError(409, f"storage pool '{pool.name}' already exists ({pool.mountpoint} is in use)")
    if any(fs["label"] == pool.label for fs in ops.show()):
        raise BuiltinError(409, f"storage pool '{pool.name}' already exists (a btrfs labelled "
                                f"'{pool.label}' is on this node's disks)")
    devices = [ops.free_device(d) for d in raw_devices]
    if len(set(devices)) != len(devices):
        raise BuiltinError(400, f"a device is named twice in {raw_devices}")
    ops.mkfs(devices, label=pool.label, metadata=metadata, data=data,
             overwrite=arg(args, "overwrite", "bool", False))
    made_dir = not pool.mountpoint.exists()
    try:
        pool.mountpoint.mkdir(parents=True, exist_ok=True)
        _mount(devices, pool.mountpoint)
        pool.filesystems.mkdir()
        pool.snapshots.mkdir()
        ops.quota_enable(str(pool.mountpoint))
        facts = pool_facts(pool)
    except BaseException:
        _undo_create(pool, devices, made_dir)
        raise
    ctx.emit("storagepool.created", "storagepool", pool_id(ctx.node_id, pool.name), {
        "node": ctx.node_id, "name": pool.name, "uuid": facts["uuid"], "label": pool.label,
        "devices": [{"device": d["device"], "uuid": d["uuid"]} for d in facts["devices"]],
        "metadata_profile": facts["metadata_profile"], "data_profile": facts["data_profile"],
        "mountpoint": str(pool.mountpoint), "size": facts["size"], "used": facts["used"]})
    return facts


@builtin("storagepool.delete")
def delete_pool(args: dict, ctx: Context) -> None:
    """Unmount the pool and wipe its devices; refused (412) while anything mounts a part of it."""
    pool = _mounted_pool(ctx, arg(args, "name", "str"))
    users = users_of(pool.mountpoint)
    if users:
        raise BuiltinError(412, f"storage pool '{pool.name}' is in use: mounted at {', '.join(users)}")
    [fs] = ops.show(str(pool.mountpoint))
    devices = [d["path"] for d in fs["devices"] if d["path"]]
    try:
        run_tool(["umount", str(pool.mountpoint)])
    except BuiltinError as exc:
        raise BuiltinError(412, f"storage pool '{pool.name}' is in use: {exc.message}") from None
    pool.mountpoint.rmdir()
    for device in devices:
        run_tool(["wipefs", "-a", device])
    ctx.emit("storagepool.deleted", "storagepool", pool_id(ctx.node_id, pool.name),
             {"node": ctx.node_id, "name": pool.name, "uuid": fs["uuid"]})


def _device_list(args: dict) -> list[str]:
    devices = arg(args, "devices", "list")
    if not devices or not all(isinstance(d, str) and d for d in devices):
        raise BuiltinError(400, "argument 'devices' must be a non-empty list of device paths")
    return devices


@builtin("storagepool.device_add")
def device_add(args: dict, ctx: Context) -> dict:
    pool = _mounted_pool(ctx, arg(args, "name", "str"))
    devices = [ops.free_device(d) for d in _device_list(args)]
    ops.device_add(str(pool.mountpoint), devices)
    [fs] = ops.show(str(pool.mountpoint))
    added = [{"device": d, "uuid": _device_uuid(d)} for d in devices]
    size = sum(d["size"] for d in fs["devices"])
    ctx.emit("storagepool.device_added", "storagepool", pool_id(ctx.node_id, pool.name),
             {"node": ctx.node_id, "name": pool.name, "devices": added, "size": size})
    return {"devices": added, "size": size}


@builtin("storagepool.device_remove")
def device_remove(args: dict, ctx: Context) -> dict:
    """`{name, devices}`: devices by path or by btrfs device uuid; their data moves first."""
    pool = _mounted_pool(ctx, arg(args, "name", "str"))
    [fs] = ops.show(str(pool.mountpoint))
    members = {d["device"]: d for d in _devices_of(fs)}
    by_uuid = {d["uuid"]: d for d in members.values() if d["uuid"]}
    chosen = []
    for wanted in _device_list(args):
        if wanted in by_uuid:
            chosen.append(by_uuid[wanted])
            continue
        path = f"/dev/{ops.block_device(wanted)}" if os.path.exists(wanted) or not wanted.startswith("/") else wanted
        if path not in members:
            raise BuiltinError(404, f"device '{wanted}' is not in storage pool '{pool.name}' "
                                    f"(its devices: {', '.join(sorted(members))})")
        chosen.append(members[path])
    ops.device_remove(str(pool.mountpoint), [d["device"] for d in chosen])
    [fs] = ops.show(str(pool.mountpoint))
    removed = [{"device": d["device"], "uuid": d["uuid"]} for d in chosen]
    size = sum(d["size"] for d in fs["devices"])
    ctx.emit("storagepool.device_removed", "storagepool", pool_id(ctx.node_id, pool.name),
             {"node": ctx.node_id, "name": pool.name, "devices": removed, "size": size})
    return {"devices": removed, "size": size}


# -- filesystems ----------------------------------------------------------------------------

def _existing_fs(ctx: Context, args: dict) -> tuple[Pool, str]:
    pool = _mounted_pool(ctx, arg(args, "pool", "str"))
    name = check_name("filesystem", arg(args, "name" if "name" in args else "filesystem", "str"))
    if not ops.is_subvolume(str(pool.filesystem(name))):
        raise BuiltinError(404, f"storage pool '{pool.name}' has no filesystem '{name}'")
    return pool, name


def _quota_arg(args: dict) -> int:
    quota = arg(args, "quota", "int", 0)
    if quota < 0:
        raise BuiltinError(400, f"argument 'quota' has value {quota}: bytes, 0 for none")
    return quota


def _fs_usage(pool: Pool, name: str) -> int:
    return _filesystem_usage(pool).get(f"filesystems/{name}", {}).get("referenced") or 0


@builtin("storagepool.filesystem_create")
def create_filesystem(args: dict, ctx: Context) -> dict:
    """`{pool, name, quota (bytes, 0 = none), read_only}`."""
    pool = _mounted_pool(ctx, arg(args, "pool", "str"))
    name = check_name("filesystem", arg(args, "name", "str"))
    quota = _quota_arg(args)
    read_only = arg(args, "read_only", "bool", False)
    path = pool.filesystem(name)
    if os.path.lexists(path):
        raise BuiltinError(409, f"filesystem '{name}' already exists in storage pool '{pool.name}'")
    ops.subvol_create(str(path))
    try:
        if quota:
            ops.qgroup_limit(str(path), str(quota))
        if read_only:
            ops.set_read_only(str(path), True)
    except BaseException:
        ops.subvol_delete(str(path))
        raise
    ctx.emit("filesystem.created", "filesystem", filesystem_id(ctx.node_id, pool.name, name), {
        "node": ctx.node_id, "pool": pool.name, "name": name, "path": str(path), "quota": quota,
        "read_only": read_only})
    return {"name": name, "path": str(path), "quota": quota, "read_only": read_only}


@builtin("storagepool.filesystem_quota")
def set_quota(args: dict, ctx: Context) -> dict:
    """`{pool, name, quota}`: refused (412) below what the filesystem already holds."""
    pool, name = _existing_fs(ctx, args)
    quota = _quota_arg(args)
    used = _fs_usage(pool, name)
    if quota and quota < used:
        raise BuiltinError(412, f"quota {quota} bytes is below what filesystem '{name}' already "
                                f"holds ({used} bytes)")
    ops.qgroup_limit(str(pool.filesystem(name)), str(quota) if quota else "none")
    ctx.emit("filesystem.quota_set", "filesystem", filesystem_id(ctx.node_id, pool.name, name), {
        "node": ctx.node_id, "pool": pool.name, "name": name, "quota": quota, "used": used})
    return {"name": name, "quota": quota, "used": used}


@builtin("storagepool.filesystem_info")
def filesystem_info(args: dict, ctx: Context) -> dict:
    pool, name = _existing_fs(ctx, args)
    return _filesystem_facts(pool, _filesystem_usage(pool), name)


@builtin("storagepool.filesystem_delete")
def delete_filesystem(args: dict, ctx: Context) -> None:
    """Delete the filesystem and its snapshots; refused (412) while something mounts it."""
    pool, name = _existing_fs(ctx, args)
    users = users_of(pool.mountpoint, f"/filesystems/{name}")
    if users:
        raise BuiltinError(412, f"filesystem '{name}' of storage pool '{pool.name}' is in use: "
                                f"mounted at {', '.join(users)}")
    snapdir = pool.snapshot_dir(name)
    if snapdir.is_dir():
        for snap in sorted(p.name for p in snapdir.iterdir() if ops.is_subvolume(str(p))):
            ops.subvol_delete(str(pool.snapshot(name, snap)))
            ctx.emit("snapshot.deleted", "snapshot", snapshot_id(ctx.node_id, pool.name, name, snap),
                     {"node": ctx.node_id, "pool": pool.name, "filesystem": name, "name": snap})
        shutil.rmtree(snapdir, ignore_errors=True)
    ops.set_read_only(str(pool.filesystem(name)), False)
    ops.subvol_delete(str(pool.filesystem(name)))
    ctx.emit("filesystem.deleted", "filesystem", filesystem_id(ctx.node_id, pool.name, name),
             {"node": ctx.node_id, "pool": pool.name, "name": name})


# -- snapshots ------------------------------------------------------------------------------

def _snapshot_args(ctx: Context, args: dict, *, exists: bool) -> tuple[Pool, str, str]:
    pool = _mounted_pool(ctx, arg(args, "pool", "str"))
    fs = check_name("filesystem", arg(args, "filesystem", "str"))
    snap = check_name("snapshot", arg(args, "name", "str"), SNAPSHOT_NAME)
    if not ops.is_subvolume(str(pool.filesystem(fs))):
        raise BuiltinError(404, f"storage pool '{pool.name}' has no filesystem '{fs}'")
    present = ops.is_subvolume(str(pool.snapshot(fs, snap)))
    if exists and not present:
        raise BuiltinError(404, f"filesystem '{fs}' of storage pool '{pool.name}' has no snapshot '{snap}'")
    if not exists and os.path.lexists(pool.snapshot(fs, snap)):
        raise BuiltinError(409, f"snapshot '{snap}' of filesystem '{fs}' already exists")
    return pool, fs, snap


@builtin("storagepool.snapshot_create")
def create_snapshot(args: dict, ctx: Context) -> dict:
    """`{pool, filesystem, name}` ⇒ a read-only snapshot."""
    pool, fs, snap = _snapshot_args(ctx, args, exists=False)
    pool.snapshot_dir(fs).mkdir(parents=True, exist_ok=True)
    path = pool.snapshot(fs, snap)
    ops.snapshot(str(pool.filesystem(fs)), str(path), read_only=True)
    timestamp = int(time.time())
    used = _filesystem_usage(pool).get(f"snapshots/{fs}/{snap}", {}).get("referenced") or 0
    ctx.emit("snapshot.created", "snapshot", snapshot_id(ctx.node_id, pool.name, fs, snap), {
        "node": ctx.node_id, "pool": pool.name, "filesystem": fs, "name": snap, "path": str(path),
        "timestamp": timestamp, "used": used})
    return {"name": snap, "path": str(path), "timestamp": timestamp, "used": used}


@builtin("storagepool.snapshot_delete")
def delete_snapshot(args: dict, ctx: Context) -> None:
    pool, fs, snap = _snapshot_args(ctx, args, exists=True)
    ops.subvol_delete(str(pool.snapshot(fs, snap)))
    ctx.emit("snapshot.deleted", "snapshot", snapshot_id(ctx.node_id, pool.name, fs, snap),
             {"node": ctx.node_id, "pool": pool.name, "filesystem": fs, "name": snap})


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE): no moment without either."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")


@builtin("storagepool.snapshot_rollback")
def rollback(args: dict, ctx: Context) -> None:
    """`{pool, filesystem, name}`: the filesystem becomes a writable copy of the snapshot, swapped
    in atomically; its quota and read-only flag are kept, the replaced subvolume is deleted.
    Refused (412) while something mounts the filesystem (it would keep the old data)."""
    pool, fs, snap = _snapshot_args(ctx, args, exists=True)
    current = pool.filesystem(fs)
    users = users_of(pool.mountpoint, f"/filesystems/{fs}")
    if users:
        raise BuiltinError(412, f"filesystem '{fs}' is in use (mounted at {', '.join(users)}): "
                                "stop its users before a rollback")
    group = _filesystem_usage(pool).get(f"filesystems/{fs}", {})
    quota = group.get("max_referenced") or 0
    read_only = _read_only(current)
    staged = pool.filesystems / f".{fs}.rollback-{uuid.uuid4().hex[:8]}"
    ops.snapshot(str(pool.snapshot(fs, snap)), str(staged), read_only=False)
    try:
        if quota:
            ops.qgroup_limit(str(staged), str(quota))
        if read_only:
            ops.set_read_only(str(staged), True)
        exchange(staged, current)
    except BaseException:
        ops.subvol_delete(str(staged))
        raise
    # `staged` now holds the replaced filesystem.
    ops.set_read_only(str(staged), False)
    ops.subvol_delete(str(staged))
    ctx.emit("snapshot.rolled_back", "snapshot", snapshot_id(ctx.node_id, pool.name, fs, snap),
             {"node": ctx.node_id, "pool": pool.name, "filesystem": fs, "name": snap})


@service
async def find_pools_again(agent: Any) -> None:
    """At agent start: mount the pools the log says this node has (see `_storagepool_adopt`)."""
    await adopt_pools(agent)
