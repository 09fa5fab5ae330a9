"""The public flist API (spec §11.4): listings, repositories, one flist's contents, info and
metadata. Read-only, no authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from .._context import HubContext, context
from .._responses import JSONLine

router = APIRouter()


@router.get("/api/flist")
async def all_flists(ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.repos.all_flists))


@router.get("/api/repositories")
async def repositories(ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.repos.repositories, ctx.config.official))


@router.get("/api/fileslist")
async def fileslist(ctx: HubContext = Depends(context)) -> JSONLine:
    repos = ctx.hub.repos

    def build() -> dict[str, Any]:
        return {user: repos.listing(user) for user in repos.users()}
    return JSONLine(await run_in_threadpool(build))


@router.get("/api/flist/{user}")
async def user_listing(user: str, ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.repos.listing, user))


@router.get("/api/flist/{user}/tags/{tag}")
async def tag_listing(user: str, tag: str, ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.repos.tag_listing, user, tag))


@router.api_route("/api/flist/{user}/{name}", methods=["GET", "INFO"])
async def inspect(user: str, name: str, request: Request, ctx: HubContext = Depends(context)) -> JSONLine:
    if request.method == "INFO":
        return JSONLine(await run_in_threadpool(ctx.hub.repos.info, user, name))
    return JSONLine(await run_in_threadpool(ctx.hub.contents, user, name))


@router.get("/api/flist/{user}/{name}/light")
async def light(user: str, name: str, ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.repos.info, user, name))


@router.get("/api/flist/{user}/{name}/taglink")
async def taglink(user: str, name: str, ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine({"target": await run_in_threadpool(ctx.hub.repos.taglink_target, user, name)})


@router.get("/api/flist/{user}/{name}/metadata")
async def metadata(user: str, name: str, ctx: HubContext = Depends(context)) -> JSONLine:
    return JSONLine(await run_in_threadpool(ctx.hub.metadata, user, name))
