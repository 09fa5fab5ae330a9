"""`/nodes/{id}/bridges`: list and get from the projection; create and delete as commands."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Response

from .. import _queries as q
from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS, Bridge, BridgeCreate
from .nodes import existing_node

router = APIRouter(tags=["bridges"], responses=ERRORS)


def _bridge(row: dict[str, Any]) -> dict[str, Any]:
    setting = row["setting"] or {}
    return {"name": row["name"], "hwaddr": row["hwaddr"], "networkMode": row["network_mode"],
            "nat": row["nat"], "status": row["status"],
            "setting": {k: str(setting.get(k, "")) for k in ("cidr", "start", "end")}}


@router.get("/nodes/{nodeid}/bridges", response_model=list[Bridge], summary="ListBridges")
async def list_bridges(nodeid: str, ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    await existing_node(ctx, nodeid)
    return [_bridge(r) for r in await ctx.read(q.list_bridges, nodeid)]


@router.get("/nodes/{nodeid}/bridges/{bridgeid}", response_model=Bridge, summary="GetBridge")
async def get_bridge(nodeid: str, bridgeid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    await existing_node(ctx, nodeid)
    row = await ctx.read(q.get_bridge, nodeid, bridgeid)
    if row is None:
        raise ApiError(404, f"bridge '{bridgeid}' not found on node '{nodeid}'")
    return _bridge(row)


def _overlaps(body: BridgeCreate, existing: list[dict[str, Any]]) -> str | None:
    if body.networkMode == "none":
        return None
    net = ipaddress.ip_interface(body.setting.cidr).network
    for row in existing:
        cidr = (row["setting"] or {}).get("cidr")
        if not cidr:
            continue
        try:
            other = ipaddress.ip_interface(cidr).network
        except ValueError:
            continue
        if other.version == net.version and other.overlaps(net):
            return row["name"]
    return None


@router.post("/nodes/{nodeid}/bridges", status_code=201, response_class=Response,
             summary="CreateBridge", responses={201: {"description": "created; Location names it"}})
async def create_bridge(nodeid: str, body: BridgeCreate, ctx: ApiContext = Depends(context)) -> Response:
    await existing_node(ctx, nodeid)
    existing = await ctx.read(q.list_bridges, nodeid)
    if any(r["name"] == body.name for r in existing):
        raise ApiError(409, f"bridge '{body.name}' already exists on node '{nodeid}'")
    clash = _overlaps(body, existing)
    if clash:
        raise ApiError(409, f"setting.cidr {body.setting.cidr} overlaps bridge '{clash}'")
    arguments: dict[str, Any] = {
        "name": body.name, "hwaddr": body.hwaddr or "",
        "network": {"mode": "" if body.networkMode == "none" else body.networkMode, "nat": body.nat,
                    "settings": body.setting.model_dump()}}
    await ctx.command(nodeid, "bridge.create", arguments, projectors=["bridges"])
    return Response(status_code=201, headers={"Location": f"/nodes/{nodeid}/bridges/{body.name}"})


@router.delete("/nodes/{nodeid}/bridges/{bridgeid}", status_code=204, response_class=Response,
               summary="DeleteBridge")
async def delete_bridge(nodeid: str, bridgeid: str, ctx: ApiContext = Depends(context)) -> Response:
    await existing_node(ctx, nodeid)
    if await ctx.read(q.get_bridge, nodeid, bridgeid) is None:
        return Response(status_code=204)
    await ctx.command(nodeid, "bridge.delete", {"name": bridgeid}, projectors=["bridges"])
    return Response(status_code=204)
