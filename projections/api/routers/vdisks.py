"""`/vdisks` and `/storageclusters`: reads of what the disk part's events say exists.

Vdisks are listed flat (the pre-`vdiskstorage` upstream shape): the disk events carry no
vdisk-storage grouping yet.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from ..._models import metadata
from .._app import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS

router = APIRouter(tags=["vdisks"], responses=ERRORS)
VDISKS = metadata.tables["vdisks"]
CLUSTERS = metadata.tables["storage_clusters"]
GIB = 1 << 30


class VdiskListItem(BaseModel):
    id: str
    type: str
    vdiskstorage: str


class Vdisk(VdiskListItem):
    status: str
    size: int
    blocksize: int
    readOnly: bool
    templatevdisk: str | None = None


class Cluster(BaseModel):
    label: str
    status: str
    storageServers: list[dict[str, Any]]


def _all(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _vdisk(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["name"], "type": row["type"], "vdiskstorage": row["storage"]}


@router.get("/vdisks", response_model=list[VdiskListItem], summary="ListVdisks")
async def list_vdisks(ctx: ApiContext = Depends(context)) -> list[dict]:
    return [_vdisk(r) for r in await ctx.read(_all, sa.select(VDISKS).order_by(VDISKS.c.name))]


@router.get("/vdisks/{vdiskid}", response_model=Vdisk, summary="GetVdiskInfo")
async def get_vdisk(vdiskid: str, ctx: ApiContext = Depends(context)) -> dict:
    rows = await ctx.read(_all, sa.select(VDISKS).where(VDISKS.c.name == vdiskid))
    if not rows:
        raise ApiError(404, f"vdisk '{vdiskid}' not found")
    row = rows[0]
    return {**_vdisk(row), "status": row["status"], "size": row["size"] // GIB,
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
    ready = all(s.get("state", "ok") in ("ok", "ready", "online") for s in servers)
    return {"label": label, "status": "ready" if ready else "error",
            "storageServers": [{"id": str(i), "ip": str(s.get("address", "")).rsplit(":", 1)[0],
                                "port": int(str(s.get("address", ":0")).rsplit(":", 1)[-1] or 0)
                                if str(s.get("address", "")).rsplit(":", 1)[-1].isdigit() else 0,
                                "db": s.get("db", 0), "status": "ready" if s.get("state", "ok") in
                                ("ok", "ready", "online") else "error"}
                               for i, s in enumerate(servers)]}
