"""`/nodes`: the node list, one node, its reported hardware/OS snapshots, state and ping."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from .. import _queries as q
from .._app import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS, CoreStateResult, Node

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


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _cpus(value: Any) -> Any:
    return [{"cacheSize": c.get("cacheSize", 0), "cores": c.get("cores", 0),
             "family": str(c.get("family", "")), "flags": c.get("flags") or [],
             "mhz": c.get("mhz", 0.0)} if isinstance(c, dict) else c for c in _items(value)]


def _nics(value: Any) -> Any:
    def addrs(nic: dict[str, Any]) -> list[str]:
        return [a.get("addr", "") if isinstance(a, dict) else str(a) for a in nic.get("addrs") or []]
    return [{"addrs": addrs(n), "flags": n.get("flags") or [], "hardwareaddr": n.get("hardwareaddr", ""),
             "mtu": n.get("mtu", 0), "name": n.get("name", "")} if isinstance(n, dict) else n
            for n in _items(value)]


def _mounts(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return [{"mountpoint": m.get("mountpoint", ""), "device": device, "opts": m.get("options", ""),
             "fstype": m.get("filesystem", "")}
            for device, mounts in sorted(value.items()) for m in _items(mounts) if isinstance(m, dict)]


_MEM = ("active", "available", "buffers", "cached", "free", "inactive", "total", "used",
        "usedPercent", "wired")
_OS = ("bootTime", "hostname", "os", "platform", "platformFamily", "platformVersion", "procs",
       "uptime", "virtualizationRole", "virtualizationSystem")


def _pick(keys: tuple[str, ...]) -> Any:
    return lambda value: {k: value.get(k) for k in keys} if isinstance(value, dict) else value


# path -> (snapshot kind, command that refreshes it, shape of the answer)
SNAPSHOTS = {"cpus": ("cpus", "info.cpu", _cpus), "mem": ("mem", "info.mem", _pick(_MEM)),
             "nics": ("nics", "info.nic", _nics), "disks": ("disks", "disk.list", lambda v: v),
             "info": ("info", "info.os", _pick(_OS)), "mounts": ("mounts", "disk.mounts", _mounts),
             "stats": ("stats", "aggregator.query", lambda v: v)}


async def _snapshot(path: str, nodeid: str, max_age: float | None, ctx: ApiContext,
                    response: Response) -> Any:
    """The last reported snapshot; refreshed from the node when missing or older than max_age."""
    await existing_node(ctx, nodeid)
    kind, command, shape = SNAPSHOTS[path]
    row = await ctx.read(q.get_snapshot, nodeid, kind)
    stale = row is None or (max_age is not None and time.time() - row["reported_at"] / 1e9 > max_age)
    if stale:
        await ctx.command(nodeid, command, {}, projectors=["nodes"])
        row = await ctx.read(q.get_snapshot, nodeid, kind)
        if row is None:
            raise ApiError(500, f"node '{nodeid}' answered {command} but reported no {kind}")
    when = dt.datetime.fromtimestamp(row["reported_at"] / 1e9, dt.UTC)
    response.headers["X-Zos-Reported-At"] = when.isoformat()
    return shape(row["data"])


def _snapshot_route(path: str) -> None:
    async def read(response: Response, nodeid: str,
                   max_age: float | None = Query(None, ge=0, description="seconds; older snapshots "
                                                 "are refreshed from the node"),
                   ctx: ApiContext = Depends(context)) -> Any:
        return await _snapshot(path, nodeid, max_age, ctx, response)
    read.__name__ = f"get_node_{path}"
    router.add_api_route(f"/nodes/{{nodeid}}/{path}", read, methods=["GET"],
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
