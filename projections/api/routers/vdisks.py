"""`/vdisks` and `/storageclusters`: what the disk part's events say exists, and the vdisk
writes (create, resize, delete), which append their event through `zos.disk` and return once
the projection has applied it.

Vdisks are listed flat (the pre-`vdiskstorage` upstream shape): the disk events carry no
vdisk-storage grouping yet.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from zos import disk
from zos.bus import event_subject

from ..._models import metadata
from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS

router = APIRouter(tags=["vdisks"], responses=ERRORS)
VDISKS = metadata.tables["vdisks"]
CLUSTERS = metadata.tables["storage_clusters"]
GIB = 1 << 30


class VdiskListItem(BaseModel):
    """RAML `VdiskListItem` (types.raml:1168): `status` is required by the generated client.
    `rollingback` is in the enum but no event marks a rollback in progress, so it never shows."""

    id: str
    status: Literal["running", "halted", "rollingback"]
    type: str
    vdiskstorage: str


class Vdisk(VdiskListItem):
    size: int
    blocksize: int
    readOnly: bool
    templatevdisk: str | None = None


class VdiskCreate(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    size: int = Field(ge=1, description="GiB")
    blocksize: int = 4096
    type: str = Field(description="boot, db, cache or tmp")
    readOnly: bool = False
    vdiskstorage: str = Field("rocksdb", description="storage URL or cluster name")
    templatevdisk: str | None = None


class VdiskResize(BaseModel):
    newSize: int = Field(ge=1, description="GiB")


class StorageServer(BaseModel):
    """RAML `StorageServer` (types.raml:989), plus our `db`. Servers are registered, not
    deployed in containers (spec A4), so `container` is empty."""

    id: int
    ip: str
    port: int
    db: int = 0
    container: str = ""
    status: Literal["ready", "error"]


class Cluster(BaseModel):
    """RAML `Cluster` (types.raml:1056). The storagecluster events carry only the servers:
    `clusterType` is `block` (zos.disk keeps vdisk blocks; there are no 0-stor object
    clusters), `nodes` is empty (no server was deployed on a node), and `driveType`, which
    the RAML requires but nothing reports, is the RAML example's `ssd`."""

    label: str
    status: Literal["empty", "deploying", "ready", "error"]
    driveType: Literal["nvme", "ssd", "hdd", "archive"] = "ssd"
    nodes: list[str] = Field(default_factory=list)
    clusterType: Literal["block", "object"] = "block"
    storageServers: list[StorageServer]


READY = ("ok", "ready", "online")


def _all(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _vdisk(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["name"], "status": row["status"], "type": row["type"],
            "vdiskstorage": row["storage"]}


@router.get("/vdisks", response_model=list[VdiskListItem], summary="ListVdisks")
async def list_vdisks(ctx: ApiContext = Depends(context)) -> list[dict]:
    return [_vdisk(r) for r in await ctx.read(_all, sa.select(VDISKS).order_by(VDISKS.c.name))]


@router.get("/vdisks/{vdiskid}", response_model=Vdisk, summary="GetVdiskInfo")
async def get_vdisk(vdiskid: str, ctx: ApiContext = Depends(context)) -> dict:
    rows = await ctx.read(_all, sa.select(VDISKS).where(VDISKS.c.name == vdiskid))
    if not rows:
        raise ApiError(404, f"vdisk '{vdiskid}' not found")
    row = rows[0]
    return {**_vdisk(row), "size": row["size"] // GIB,
            "blocksize": row["block_size"], "readOnly": row["read_only"],
            "templatevdisk": row["template"] or None}


@router.get("/storageclusters", response_model=list[str], summary="ListAllClusters")
async def list_clusters(ctx: ApiContext = Depends(context)) -> list[str]:
    rows = await ctx.read(_all, sa.select(CLUSTERS.c.label).order_by(CLUSTERS.c.label))
    return [r["label"] for r in rows]


@router.get("/storageclusters/{label}", response_model=Cluster, summary="GetClusterInfo")
async def get_cluster(label: str, ctx: ApiContext = Depends(context)) -> dict:
    rows = await ctx.read(_all, sa.select(CLUSTERS).where(CLUSTERS.c.label == label))
    if not rows:
        raise ApiError(404, f"storage cluster '{label}' not found")
    servers = [s for s in rows[0]["servers"] or [] if isinstance(s, dict)]
    ready = all(s.get("state", "ok") in READY for s in servers)
    return {"label": label, "status": "ready" if ready else "error",
            "storageServers": [_server(i, s) for i, s in enumerate(servers)]}


def _server(index: int, server: dict[str, Any]) -> dict[str, Any]:
    """One `host:port` of the event as RAML `StorageServer`; a rip server (no address) has
    ip "" and port 0."""
    host, _, port = str(server.get("address") or "").rpartition(":")
    return {"id": index, "ip": host, "port": int(port) if port.isdigit() else 0,
            "db": server.get("db", 0), "container": "",
            "status": "ready" if server.get("state", "ok") in READY else "error"}


async def _applied(ctx: ApiContext, name: str, what: str) -> None:
    """Read-your-writes: return once the vdisks projection has applied the vdisk's last event."""
    seq = await ctx.bus.last_seq(event_subject("vdisk", name))
    if not await ctx.wait_applied(seq, ["vdisks"], ctx.wait):
        raise ApiError(504, f"{what} of vdisk '{name}' is on the log (seq {seq}) but the projection "
                            f"did not apply it within {ctx.wait} s", details={"seq": seq})


@router.post("/vdisks", status_code=201, response_class=Response, summary="CreateNewVdisk",
             responses={201: {"description": "created; Location names it"}})
async def create_vdisk(body: VdiskCreate, ctx: ApiContext = Depends(context)) -> Response:
    try:
        config = disk.make_vdisk(body.id, body.size * GIB, body.type, block_size=body.blocksize,
                                 storage=body.vdiskstorage, template=body.templatevdisk,
                                 read_only=body.readOnly)
        await disk.create_vdisk(ctx.bus, config, actor="api")
    except disk.VdiskExists as exc:
        raise ApiError(409, str(exc)) from None
    except disk.VdiskConfigError as exc:
        raise ApiError(400, str(exc)) from None
    await _applied(ctx, body.id, "creation")
    return Response(status_code=201, headers={"Location": f"/vdisks/{body.id}"})


@router.post("/vdisks/{vdiskid}/resize", status_code=204, response_class=Response,
             summary="ResizeVdisk")
async def resize_vdisk(vdiskid: str, body: VdiskResize, ctx: ApiContext = Depends(context)) -> Response:
    try:
        await disk.resize_vdisk(ctx.bus, vdiskid, body.newSize * GIB, actor="api")
    except disk.VdiskNotFound as exc:
        raise ApiError(404, exc.args[0]) from None
    except disk.VdiskConfigError as exc:
        raise ApiError(400, f"field 'newSize': {exc}") from None
    await _applied(ctx, vdiskid, "resize")
    return Response(status_code=204)


@router.delete("/vdisks/{vdiskid}", status_code=204, response_class=Response, summary="DeleteVdisk")
async def delete_vdisk(vdiskid: str, ctx: ApiContext = Depends(context)) -> Response:
    if not await ctx.read(_all, sa.select(VDISKS.c.name).where(VDISKS.c.name == vdiskid)):
        return Response(status_code=204)
    try:
        # The blocks are removed where the stack keeps them (ZOS_DATA), then the event.
        if ctx.config.data_dir is None:
            raise ApiError(503, "this API was started without a data directory: it cannot "
                                "delete vdisk blocks (start it with --data or ZOS_DATA)")
        await disk.delete_vdisk(ctx.bus, vdiskid, data_dir=ctx.config.data_dir, actor="api")
    except disk.VdiskNotFound:
        return Response(status_code=204)
    await _applied(ctx, vdiskid, "deletion")
    return Response(status_code=204)
