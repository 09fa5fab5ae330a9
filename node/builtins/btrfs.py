"""`btrfs.*` builtins: upstream 0-core's ten commands with its argument and result shapes
(spec containers-vms §3). All return null unless noted.

These act on the devices and paths they are given, as upstream's do: they are the raw tool.
Storage pools as the orchestrator sees them (named, mounted under the pool root, recorded as
events) are the `storagepool.*` commands of `storagepool.py`, built on the same operations.
"""

from __future__ import annotations

from typing import Any

from . import _btrfs_ops as ops
from ._btrfs_parse import parse_limit
from ._registry import BuiltinError, Context, arg, builtin


def _devices(args: dict[str, Any], *, free: bool) -> list[str]:
    devices = arg(args, "devices", "list", [])
    if not all(isinstance(d, str) and d for d in devices):
        raise BuiltinError(400, "argument 'devices' must be a list of device paths")
    return [ops.free_device(d) if free else f"/dev/{ops.block_device(d)}" for d in devices]


@builtin("btrfs.create")
def create(args: dict, ctx: Context) -> None:
    """`{label, metadata, data, devices, overwrite}` ⇒ mkfs.btrfs."""
    if not arg(args, "devices", "list", []):
        raise BuiltinError(400, "need to specify devices to create btrfs")
    metadata = ops.check_profile("metadata", arg(args, "metadata", "str", ""))
    data = ops.check_profile("data", arg(args, "data", "str", ""))
    devices = _devices(args, free=True)
    ops.mkfs(devices, label=arg(args, "label", "str", ""), metadata=metadata, data=data,
             overwrite=arg(args, "overwrite", "bool", False))


@builtin("btrfs.list")
def list_(args: dict, ctx: Context) -> list[dict]:
    """`[{label, uuid, total_devices, used, devices:[{dev_id, size, used, path}]}]`."""
    return ops.show()


@builtin("btrfs.info")
def info(args: dict, ctx: Context) -> dict:
    """The filesystem at `mountpoint` as in `list`, plus `data`, `system`, `metadata`,
    `globalreserve` each `{profile, total, used}`."""
    return ops.info(arg(args, "mountpoint", "str"))


@builtin("btrfs.device_add")
def device_add(args: dict, ctx: Context) -> None:
    mountpoint = ops.btrfs_path(arg(args, "mountpoint", "str"), "mountpoint")
    ops.device_add(mountpoint, _devices(args, free=True))


@builtin("btrfs.device_remove")
def device_remove(args: dict, ctx: Context) -> None:
    mountpoint = ops.btrfs_path(arg(args, "mountpoint", "str"), "mountpoint")
    ops.device_remove(mountpoint, _devices(args, free=False))


@builtin("btrfs.subvol_create")
def subvol_create(args: dict, ctx: Context) -> None:
    ops.subvol_create(arg(args, "path", "str", ""))


@builtin("btrfs.subvol_delete")
def subvol_delete(args: dict, ctx: Context) -> None:
    ops.subvol_delete(arg(args, "path", "str", ""))


@builtin("btrfs.subvol_list")
def subvol_list(args: dict, ctx: Context) -> list[dict]:
    """`[{ID, Gen, TopLevel, Path}]` of the subvolumes directly below `path`."""
    return ops.subvol_list(arg(args, "path", "str", ""))


@builtin("btrfs.subvol_quota")
def subvol_quota(args: dict, ctx: Context) -> None:
    """`{path, limit}`: enable quotas on the filesystem, then limit the subvolume's qgroup."""
    path = ops.btrfs_path(arg(args, "path", "str", ""))
    limit = arg(args, "limit", "str")
    try:
        parse_limit(limit)
    except ValueError as exc:
        raise BuiltinError(400, f"argument 'limit': {exc}") from None
    ops.quota_enable(path)
    ops.qgroup_limit(path, limit)


@builtin("btrfs.subvol_snapshot")
def subvol_snapshot(args: dict, ctx: Context) -> None:
    ops.snapshot(arg(args, "source", "str", ""), arg(args, "destination", "str", ""),
                 arg(args, "read_only", "bool", False))
