"""`/nodes/{id}/storagepools` (+ `/devices`, `/filesystems`, `/filesystems/{fs}/snapshots`,
rollback) in the orchestrator's RAML shapes (types.raml:802-940). Reads come from the
`storagepools` projection; writes are commands to the node (`storagepool.*`) that return once
the projection applied the events they caused (read-your-writes). Sizes: GiB for pools, MiB
for filesystems and snapshots, as the RAML says; `sizeOnDisk` is as of the last event that
reported it (a create, a quota change, a snapshot).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from ..._models import metadata
from .._context import ApiContext, context
from .._errors import ApiError
from .._schemas import ERRORS
from .nodes import existing_node

router = APIRouter(tags=["storagepools"], responses=ERRORS)
POOLS = metadata.tables["storagepools"]
FILESYSTEMS = metadata.tables["pool_filesystems"]
SNAPSHOTS = metadata.tables["pool_snapshots"]
PROJECTORS = ["storagepools"]
GIB, MIB = 1 << 30, 1 << 20
Profile = Literal["raid0", "raid1", "raid5", "raid6", "raid10", "dup", "single"]
NAME = r"^[a-z0-9][a-z0-9_-]*$"


class StoragePoolListItem(BaseModel):
    """RAML `StoragePoolListItem` (types.raml:802); capacity = free GiB."""

    name: str
    capacity: int
    status: Literal["healthy", "degraded", "error", "unknown"]


class StoragePool(StoragePoolListItem):
    """RAML `StoragePool` (types.raml:815)."""

    totalCapacity: int
    metadataProfile: Profile
    dataProfile: Profile
    mountpoint: str


class StoragePoolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, pattern=NAME)
    metadataProfile: Profile = "single"
    dataProfile: Profile = "single"
    devices: list[str] = Field(min_length=1)


class StoragePoolDevice(BaseModel):
    """RAML `StoragePoolDevice` (types.raml:865)."""

    deviceName: str
    uuid: str
    status: Literal["healthy", "removing"]


class Filesystem(BaseModel):
    """RAML `Filesystem` (types.raml:880): sizes in MiB, `parent` is the pool."""

    name: str
    parent: str
    sizeOnDisk: int
    readOnly: bool
    quota: int
    mountpoint: str


class FilesystemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, pattern=NAME)
    quota: int = Field(0, ge=0, description="MiB, 0 = none")
    readOnly: bool = False


class Snapshot(BaseModel):
    """RAML `Snapshot` (types.raml:925)."""

    name: str
    sizeOnDisk: int
    timestamp: int


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")


def _all(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


async def _pool(ctx: ApiContext, node: str, pool: str) -> dict[str, Any]:
    await existing_node(ctx, node)
    rows = await ctx.read(_all, sa.select(POOLS).where(POOLS.c.node == node, POOLS.c.name == pool))
    if not rows:
        raise ApiError(404, f"storage pool '{pool}' not found on node '{node}'")
    return rows[0]


async def _filesystem(ctx: ApiContext, node: str, pool: str, fs: str) -> dict[str, Any]:
    await _pool(ctx, node, pool)
    rows = await ctx.read(_all, sa.select(FILESYSTEMS).where(
        FILESYSTEMS.c.node == node, FILESYSTEMS.c.pool == pool, FILESYSTEMS.c.name == fs))
    if not rows:
        raise ApiError(404, f"filesystem '{fs}' not found in storage pool '{pool}' on node '{node}'")
    return rows[0]


async def _snapshot(ctx: ApiContext, node: str, pool: str, fs: str, snap: str) -> dict[str, Any]:
    await _filesystem(ctx, node, pool, fs)
    rows = await ctx.read(_all, sa.select(SNAPSHOTS).where(
        SNAPSHOTS.c.node == node, SNAPSHOTS.c.pool == pool, SNAPSHOTS.c.filesystem == fs,
        SNAPSHOTS.c.name == snap))
    if not rows:
        raise ApiError(404, f"snapshot '{snap}' of filesystem '{fs}' not found")
    return rows[0]


def _list_item(row: dict[str, Any]) -> dict[str, Any]:
    status = row["status"] if row["status"] in ("healthy", "degraded", "error") else "unknown"
    return {"name": row["name"], "capacity": max(row["size"] - row["used"], 0) // GIB, "status": status}


# -- pools ----------------------------------------------------------------------------------

@router.get("/nodes/{nodeid}/storagepools", response_model=list[StoragePoolListItem],
            summary="ListStoragePools")
async def list_pools(nodeid: str, ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    await existing_node(ctx, nodeid)
    rows = await ctx.read(_all, sa.select(POOLS).where(POOLS.c.node == nodeid).order_by(POOLS.c.name))
    return [_list_item(r) for r in rows]


@router.get("/nodes/{nodeid}/storagepools/{pool}", response_model=StoragePool, summary="GetStoragePoolInfo")
async def get_pool(nodeid: str, pool: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    row = await _pool(ctx, nodeid, pool)
    return {**_list_item(row), "totalCapacity": row["size"] // GIB,
            "metadataProfile": row["metadata_profile"] or "single",
            "dataProfile": row["data_profile"] or "single", "mountpoint": row["mountpoint"]}


@router.post("/nodes/{nodeid}/storagepools", status_code=201, response_class=Response,
             summary="CreateStoragePool", responses={201: {"description": "created; Location names it"}})
async def create_pool(nodeid: str, body: StoragePoolCreate, ctx: ApiContext = Depends(context)) -> Response:
    await existing_node(ctx, nodeid)
    await ctx.command(nodeid, "storagepool.create", {
        "name": body.name, "devices": body.devices, "metadata_profile": body.metadataProfile,
        "data_profile": body.dataProfile}, projectors=PROJECTORS)
    return Response(status_code=201, headers={"Location": f"/nodes/{nodeid}/storagepools/{body.name}"})


@router.delete("/nodes/{nodeid}/storagepools/{pool}", status_code=204, response_class=Response,
               summary="DeleteStoragePool")
async def delete_pool(nodeid: str, pool: str, ctx: ApiContext = Depends(context)) -> Response:
    await existing_node(ctx, nodeid)
    if not await ctx.read(_all, sa.select(POOLS.c.name).where(POOLS.c.node == nodeid, POOLS.c.name == pool)):
        return Response(status_code=204)
    await ctx.command(nodeid, "storagepool.delete", {"name": pool}, projectors=PROJECTORS)
    return Response(status_code=204)


# -- devices --------------------------------------------------------------------------------

def _device(entry: dict[str, Any]) -> dict[str, Any]:
    return {"deviceName": entry["device"], "uuid": entry.get("uuid") or "", "status": "healthy"}


@router.get("/nodes/{nodeid}/storagepools/{pool}/devices", response_model=list[StoragePoolDevice],
            summary="ListStoragePoolDevices")
async def list_devices(nodeid: str, pool: str, ctx: ApiContext = Depends(context)) -> list[dict[str, Any]]:
    return [_device(d) for d in (await _pool(ctx, nodeid, pool))["devices"] or []]


@router.post("/nodes/{nodeid}/storagepools/{pool}/devices", status_code=201, response_class=Response,
             summary="CreateStoragePoolDevices")
async def add_devices(nodeid: str, pool: str, devices: list[str] = Body(..., min_length=1),
                      ctx: ApiContext = Depends(context)) -> Response:
    row = await _pool(ctx, nodeid, pool)
    known = {d["device"] for d in row["devices"] or []}
    new = [d for d in dict.fromkeys(devices) if d not in known]  # already members: nothing to do
    if new:
        await ctx.command(nodeid, "storagepool.device_add", {"name": pool, "devices": new},
                          projectors=PROJECTORS)
    return Response(status_code=201, headers={"Location": f"/nodes/{nodeid}/storagepools/{pool}/devices"})


@router.get("/nodes/{nodeid}/storagepools/{pool}/devices/{deviceuuid}", response_model=StoragePoolDevice,
            summary="GetStoragePoolDeviceInfo")
async def get_device(nodeid: str, pool: str, deviceuuid: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    for entry in (await _pool(ctx, nodeid, pool))["devices"] or []:
        if entry.get("uuid") == deviceuuid:
            return _device(entry)
    raise ApiError(404, f"device '{deviceuuid}' not found in storage pool '{pool}'")


@router.delete("/nodes/{nodeid}/storagepools/{pool}/devices/{deviceuuid}", status_code=204,
               response_class=Response, summary="DeleteStoragePoolDevice")
async def remove_device(nodeid: str, pool: str, deviceuuid: str, ctx: ApiContext = Depends(context)) -> Response:
    row = await _pool(ctx, nodeid, pool)
    if not any(d.get("uuid") == deviceuuid for d in row["devices"] or []):
        raise ApiError(404, f"device '{deviceuuid}' not found in storage pool '{pool}'")
    await ctx.command(nodeid, "storagepool.device_remove", {"name": pool, "devices": [deviceuuid]},
                      projectors=PROJECTORS)
    return Response(status_code=204)


# -- filesystems ----------------------------------------------------------------------------

@router.get("/nodes/{nodeid}/storagepools/{pool}/filesystems", response_model=list[str],
            summary="ListFilesystems")
async def list_filesystems(nodeid: str, pool: str, ctx: ApiContext = Depends(context)) -> list[str]:
    await _pool(ctx, nodeid, pool)
    rows = await ctx.read(_all, sa.select(FILESYSTEMS.c.name).where(
        FILESYSTEMS.c.node == nodeid, FILESYSTEMS.c.pool == pool).order_by(FILESYSTEMS.c.name))
    return [r["name"] for r in rows]


@router.get("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}", response_model=Filesystem,
            summary="GetFilesystemInfo")
async def get_filesystem(nodeid: str, pool: str, fs: str, ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    row = await _filesystem(ctx, nodeid, pool, fs)
    return {"name": row["name"], "parent": pool, "sizeOnDisk": row["used"] // MIB,
            "readOnly": row["read_only"], "quota": row["quota"] // MIB, "mountpoint": row["path"]}


@router.post("/nodes/{nodeid}/storagepools/{pool}/filesystems", status_code=201, response_class=Response,
             summary="CreateFilesystem")
async def create_filesystem(nodeid: str, pool: str, body: FilesystemCreate,
                            ctx: ApiContext = Depends(context)) -> Response:
    await _pool(ctx, nodeid, pool)
    await ctx.command(nodeid, "storagepool.filesystem_create", {
        "pool": pool, "name": body.name, "quota": body.quota * MIB, "read_only": body.readOnly},
        projectors=PROJECTORS)
    return Response(status_code=201, headers={
        "Location": f"/nodes/{nodeid}/storagepools/{pool}/filesystems/{body.name}"})


@router.delete("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}", status_code=204,
               response_class=Response, summary="DeleteFilesystem")
async def delete_filesystem(nodeid: str, pool: str, fs: str, ctx: ApiContext = Depends(context)) -> Response:
    await _pool(ctx, nodeid, pool)
    if not await ctx.read(_all, sa.select(FILESYSTEMS.c.name).where(
            FILESYSTEMS.c.node == nodeid, FILESYSTEMS.c.pool == pool, FILESYSTEMS.c.name == fs)):
        return Response(status_code=204)
    await ctx.command(nodeid, "storagepool.filesystem_delete", {"pool": pool, "name": fs}, projectors=PROJECTORS)
    return Response(status_code=204)


# -- snapshots ------------------------------------------------------------------------------

@router.get("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots", response_model=list[str],
            summary="ListFilesystemSnapshots")
async def list_snapshots(nodeid: str, pool: str, fs: str, ctx: ApiContext = Depends(context)) -> list[str]:
    await _filesystem(ctx, nodeid, pool, fs)
    rows = await ctx.read(_all, sa.select(SNAPSHOTS.c.name).where(
        SNAPSHOTS.c.node == nodeid, SNAPSHOTS.c.pool == pool, SNAPSHOTS.c.filesystem == fs)
        .order_by(SNAPSHOTS.c.name))
    return [r["name"] for r in rows]


@router.get("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots/{snap}",
            response_model=Snapshot, summary="GetFilesystemSnapshotInfo")
async def get_snapshot(nodeid: str, pool: str, fs: str, snap: str,
                       ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    row = await _snapshot(ctx, nodeid, pool, fs, snap)
    return {"name": row["name"], "sizeOnDisk": row["used"] // MIB, "timestamp": row["timestamp"]}


@router.post("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots", status_code=201,
             response_class=Response, summary="CreateSnapshot")
async def create_snapshot(nodeid: str, pool: str, fs: str, body: SnapshotCreate,
                          ctx: ApiContext = Depends(context)) -> Response:
    await _filesystem(ctx, nodeid, pool, fs)
    await ctx.command(nodeid, "storagepool.snapshot_create", {"pool": pool, "filesystem": fs, "name": body.name},
                      projectors=PROJECTORS)
    return Response(status_code=201, headers={
        "Location": f"/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots/{body.name}"})


@router.delete("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots/{snap}", status_code=204,
               response_class=Response, summary="DeleteFilesystemSnapshot")
async def delete_snapshot(nodeid: str, pool: str, fs: str, snap: str,
                          ctx: ApiContext = Depends(context)) -> Response:
    await _filesystem(ctx, nodeid, pool, fs)
    if not await ctx.read(_all, sa.select(SNAPSHOTS.c.name).where(
            SNAPSHOTS.c.node == nodeid, SNAPSHOTS.c.pool == pool, SNAPSHOTS.c.filesystem == fs,
            SNAPSHOTS.c.name == snap)):
        return Response(status_code=204)
    await ctx.command(nodeid, "storagepool.snapshot_delete", {"pool": pool, "filesystem": fs, "name": snap},
                      projectors=PROJECTORS)
    return Response(status_code=204)


@router.post("/nodes/{nodeid}/storagepools/{pool}/filesystems/{fs}/snapshots/{snap}/rollback",
             status_code=204, response_class=Response, summary="RollbackFilesystemSnapshot")
async def rollback(nodeid: str, pool: str, fs: str, snap: str, ctx: ApiContext = Depends(context)) -> Response:
    await _snapshot(ctx, nodeid, pool, fs, snap)
    await ctx.command(nodeid, "storagepool.snapshot_rollback", {"pool": pool, "filesystem": fs, "name": snap},
                      projectors=PROJECTORS)
    return Response(status_code=204)
