"""`/flists`: what the hub's events say exists (uploads and links stay on the hub's API)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from ..._models import metadata
from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS

router = APIRouter(tags=["flists"], responses=ERRORS)
FLISTS = metadata.tables["flists"]


class FlistListItem(BaseModel):
    repo: str
    name: str
    type: str
    size: int
    updated: int


class Flist(FlistListItem):
    md5: str
    target: str | None = None
    entries: dict[str, str] | None = None


def _rows(engine: Engine, repo: str | None, name: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(FLISTS).order_by(FLISTS.c.repo, FLISTS.c.name)
    if repo is not None:
        query = query.where(FLISTS.c.repo == repo)
    if name is not None:
        query = query.where(FLISTS.c.name == name)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {"repo": row["repo"], "name": row["name"], "type": row["type"], "size": row["size"],
            "updated": row["updated"] // 1_000_000_000}


@router.get("/flists", response_model=list[FlistListItem], summary="ListFlists")
async def list_flists(repo: str | None = Query(None), ctx: ApiContext = Depends(context)) -> list[dict]:
    return [_item(r) for r in await ctx.read(_rows, repo)]


@router.get("/flists/{repo}", response_model=list[FlistListItem], summary="ListRepositoryFlists")
async def list_repo(repo: str, ctx: ApiContext = Depends(context)) -> list[dict]:
    rows = await ctx.read(_rows, repo)
    if not rows:
        raise ApiError(404, f"repository '{repo}' has no flists")
    return [_item(r) for r in rows]


@router.get("/flists/{repo}/{name}", response_model=Flist, summary="GetFlist")
async def get_flist(repo: str, name: str, ctx: ApiContext = Depends(context)) -> dict:
    rows = await ctx.read(_rows, repo, name)
    if not rows:
        raise ApiError(404, f"flist '{repo}/{name}' not found")
    row = rows[0]
    return {**_item(row), "md5": row["md5"], "target": row["target"] or None,
            "entries": row["members"] if row["type"] == "tag" else None}
