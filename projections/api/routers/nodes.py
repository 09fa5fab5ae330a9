"""`/nodes`: the node list, one node, its reported hardware/OS snapshots, state and ping.

Snapshots answer in the RAML types (`CPUInfo[]`, `DiskInfo[]`, `MemInfo`, `NicInfo[]`, `OSInfo`,
`NodeMount[]`; issue 12 §5): a snapshot that cannot (a name list from `node.booted`, a partial
`info` map) counts as not reported, and the node is asked, as upstream always did.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from .. import _queries as q
from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import (ERRORS, CoreStateResult, CPUInfo, DiskInfo, MemInfo, NicInfo, Node,
                        NodeMount, OSInfo)

router = APIRouter(tags=["nodes"], responses=ERRORS)


def _node(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "hostname": row["hostname"], "status": row["status"],
            "ipaddress": row["ipaddress"], "version": row["version"]}


async def existing_node(ctx: ApiContext, nodeid: str) -> dict[str, Any]:
    row = await ctx.read(q.get_node, nodeid)
    if row is None:
        raise ApiError(404, f"node '{nodeid}' not found")
    return row


@router.get("/nodes", response_model=list[Node], summary="ListNodes")
async def list_nodes(ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    return [_node(r) for r in await ctx.read(q.list_nodes)]


@router.get("/nodes/{nodeid}", response_model=Node, summary="GetNode")
async def get_node(nodeid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    return _node(await existing_node(ctx, nodeid))


GIB = 1 << 30
ARCHIVE_GIB = 7 * 1024  # upstream: a rotational disk above 7 TiB is taken for an SMR archive disk


def _objects(value: Any) -> list[dict[str, Any]] | None:
    """The items of a list snapshot, or None when it is not a list of objects: `node.booted`
    of the node agent lists only disk and nic *names* (node/_sysinfo.py `boot_facts`), which
    cannot answer as `DiskInfo[]` / `NicInfo[]`; the node is asked instead."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return None
    return value


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cpus(value: Any) -> list[dict[str, Any]] | None:
    items = _objects(value)
    if items is None:
        return None
    return [{"cacheSize": _int(c.get("cacheSize")), "cores": _int(c.get("cores")),
             "family": _text(c.get("family")), "flags": [str(f) for f in c.get("flags") or []],
             "mhz": float(c.get("mhz") or 0.0)} for c in items]


def _nics(value: Any) -> list[dict[str, Any]] | None:
    items = _objects(value)
    if items is None:
        return None

    def addrs(nic: dict[str, Any]) -> list[str]:
        return [_text(a.get("addr")) if isinstance(a, dict) else str(a) for a in nic.get("addrs") or []]
    return [{"addrs": addrs(n), "flags": [str(f) for f in n.get("flags") or []],
             "hardwareaddr": _text(n.get("hardwareaddr")), "mtu": _int(n.get("mtu")),
             "name": _text(n.get("name"))} for n in items]


def _device(name: Any) -> str:
    return "/dev/" + _text(name).removeprefix("/dev/")


def _disk_type(name: str, size_gib: int, rotational: bool) -> str:
    """RAML `DiskInfo.type` from what lsblk tells, by upstream's rule (api/node/
    node_api_GetDiskInfo.go): rotational is hdd, or archive above 7 TiB; else nvme by name, or ssd."""
    if rotational:
        return "archive" if size_gib > ARCHIVE_GIB else "hdd"
    return "nvme" if "nvme" in name else "ssd"


def _disks(value: Any) -> list[dict[str, Any]] | None:
    """`disk.list` (lsblk --json --bytes, one entry per top-level device) as `DiskInfo[]`:
    /dev paths and whole GiB, as upstream's handler did; absent lsblk fields become ""."""
    items = _objects(value)
    if items is None:
        return None
    disks = []
    for disk in items:
        size = _int(disk.get("size")) // GIB
        rotational = disk.get("rota") in (True, 1, "1", "true")
        disks.append({
            "device": _device(disk.get("name")), "size": size,
            "type": _disk_type(_text(disk.get("name")), size, rotational),
            "partitions": [{"name": _device(p.get("name")), "size": _int(p.get("size")) // GIB,
                            "partuuid": _text(p.get("partuuid")), "label": _text(p.get("label")),
                            "fstype": _text(p.get("fstype"))}
                           for p in disk.get("children") or [] if isinstance(p, dict)]})
    return disks


def _mounts(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, dict):
        return None
    return [{"mountpoint": _text(m.get("mountpoint")), "device": device,
             "opts": _text(m.get("options")), "fstype": _text(m.get("filesystem"))}
            for device, mounts in sorted(value.items()) for m in mounts or [] if isinstance(m, dict)]


def _whole(model: type[BaseModel]) -> Callable[[Any], dict[str, Any] | None]:
    """An object snapshot with every field of `model`, or None: `node.booted` may carry a
    partial `info` (any map), and the RAML type requires them all, so the node is asked."""
    keys = tuple(model.model_fields)

    def pick(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict) or any(value.get(k) is None for k in keys):
            return None
        return {k: value[k] for k in keys}
    return pick


def _anything(value: Any) -> Any:
    return value


# path -> (snapshot kind, command that refreshes it, shape of the answer, response model).
# A shape returns None when the snapshot cannot answer as the RAML type; the node is asked then.
SNAPSHOTS: dict[str, tuple[str, str, Callable[[Any], Any], Any]] = {
    "cpus": ("cpus", "info.cpu", _cpus, list[CPUInfo]),
    "mem": ("mem", "info.mem", _whole(MemInfo), MemInfo),
    "nics": ("nics", "info.nic", _nics, list[NicInfo]),
    "disks": ("disks", "disk.list", _disks, list[DiskInfo]),
    "info": ("info", "info.os", _whole(OSInfo), OSInfo),
    "mounts": ("mounts", "disk.mounts", _mounts, list[NodeMount]),
    "stats": ("stats", "aggregator.query", _anything, Any)}


async def _snapshot(path: str, nodeid: str, max_age: float | None, ctx: ApiContext,
                    response: Response) -> Any:
    """The last reported snapshot; refreshed from the node when missing, older than max_age,
    or not enough for the RAML type."""
    await existing_node(ctx, nodeid)
    kind, command, shape, _ = SNAPSHOTS[path]
    row = await ctx.read(q.get_snapshot, nodeid, kind)
    answer = None if row is None else shape(row["data"])
    stale = answer is None or (max_age is not None and
                               time.time() - row["reported_at"] / 1e9 > max_age)
    if stale:
        await ctx.command(nodeid, command, {}, projectors=["nodes"])
        row = await ctx.read(q.get_snapshot, nodeid, kind)
        if row is None:
            raise ApiError(500, f"node '{nodeid}' answered {command} but reported no {kind}")
        answer = shape(row["data"])
        if answer is None:
            raise ApiError(500, f"node '{nodeid}' answered {command} with {kind} in a shape the "
                                f"API cannot serve")
    when = dt.datetime.fromtimestamp(row["reported_at"] / 1e9, dt.UTC)
    response.headers["X-Zos-Reported-At"] = when.isoformat()
    return answer


def _snapshot_route(path: str) -> None:
    async def read(response: Response, nodeid: str,
                   max_age: float | None = Query(None, ge=0, description="seconds; older snapshots "
                                                 "are refreshed from the node"),
                   ctx: ApiContext = Depends(context)) -> Any:
        return await _snapshot(path, nodeid, max_age, ctx, response)
    read.__name__ = f"get_node_{path}"
    model = SNAPSHOTS[path][3]
    router.add_api_route(f"/nodes/{{nodeid}}/{path}", read, methods=["GET"],
                         response_model=None if model is Any else model,
                         summary=f"GetNode{path.capitalize()}",
                         description="last reported snapshot (time in X-Zos-Reported-At)")


for _path in SNAPSHOTS:
    _snapshot_route(_path)


@router.get("/nodes/{nodeid}/state", response_model=CoreStateResult, summary="GetNodeState")
async def node_state(nodeid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    await existing_node(ctx, nodeid)
    value = (await ctx.command(nodeid, "core.state")).value or {}
    return {"cpu": float(value.get("cpu", 0.0)), "rss": int(value.get("rss", 0)),
            "vms": int(value.get("vms", 0)), "swap": int(value.get("swap", 0))}


@router.post("/nodes/{nodeid}/ping", response_model=bool, summary="PingNode")
async def ping(nodeid: str, ctx: ApiContext = Depends(context)) -> bool:
    await existing_node(ctx, nodeid)
    await ctx.command(nodeid, "core.ping")
    return True
