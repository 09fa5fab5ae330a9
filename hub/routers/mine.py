"""The authenticated flist API (spec §11.4, `me` = the acting user): who am I, merge, promote,
links, renames, tags, inspect and delete. Every change is recorded as an event."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from .._context import HubContext, acting, context
from .._errors import BadRequestError, HubError
from .._responses import JSONLine, success

router = APIRouter()


@router.get("/api/flist/me")
async def whoami(user: str = Depends(acting)) -> JSONLine:
    return success({"username": user})


@router.post("/api/flist/me/merge/{target}")
async def merge(target: str, request: Request, user: str = Depends(acting),
                ctx: HubContext = Depends(context)) -> JSONLine:
    try:
        sources = json.loads(await request.body())
    except ValueError:
        raise BadRequestError("body must be a JSON array of 'repo/name' strings") from None
    result = await run_in_threadpool(ctx.hub.merge, user, target, sources)
    await ctx.emit("flist.merged", user, result["name"], user, size=result["size"], md5=result["md5"],
                   sources=sources, collisions=result["collisions"])
    return success({"name": result["name"], "collisions": result["collisions"],
                    "warnings": result["warnings"]})


@router.post("/api/flist/me/docker", dependencies=[Depends(acting)])
async def docker() -> JSONLine:
    raise HubError("docker image conversion is not available on this hub", 501)


@router.get("/api/flist/me/promote/{repo}/{source}/{localname}")
async def promote(repo: str, source: str, localname: str, user: str = Depends(acting),
                  ctx: HubContext = Depends(context)) -> JSONLine:
    result = await run_in_threadpool(ctx.hub.promote, user, repo, source, localname)
    await ctx.emit("flist.promoted", user, localname, user, source_user=repo, source=source, **result)
    return success({"source": {"username": repo, "filename": source},
                    "destination": {"username": user, "filename": localname}})


@router.get("/api/flist/me/{source}/link/{linkname}")
async def link(source: str, linkname: str, user: str = Depends(acting),
               ctx: HubContext = Depends(context)) -> JSONLine:
    await run_in_threadpool(ctx.hub.repos.symlink, user, source, linkname)
    await ctx.emit("flist.linked", user, linkname, user, target_user=user, target=source, kind="link")
    return success()


@router.get("/api/flist/me/{linkname}/crosslink/{repo}/{source}")
async def crosslink(linkname: str, repo: str, source: str, user: str = Depends(acting),
                    ctx: HubContext = Depends(context)) -> JSONLine:
    await run_in_threadpool(ctx.hub.repos.crosslink, user, linkname, repo, source)
    await ctx.emit("flist.linked", user, linkname, user, target_user=repo, target=source, kind="crosslink")
    return success()


@router.get("/api/flist/me/{source}/rename/{dest}")
async def rename(source: str, dest: str, user: str = Depends(acting),
                 ctx: HubContext = Depends(context)) -> JSONLine:
    await run_in_threadpool(ctx.hub.repos.rename, user, source, dest)
    await ctx.emit("flist.renamed", user, source, user, new_name=dest)
    return success()


@router.api_route("/api/flist/me/{tag}/{name}/tag/{repo}/{source}", methods=["GET", "DELETE"])
async def tag(tag: str, name: str, repo: str, source: str, request: Request, user: str = Depends(acting),
              ctx: HubContext = Depends(context)) -> JSONLine:
    if request.method == "DELETE":
        await run_in_threadpool(ctx.hub.repos.untag, user, tag, name)
        await ctx.emit("flist.untagged", user, name, user, tag=tag)
    else:
        await run_in_threadpool(ctx.hub.repos.tag, user, tag, name, repo, source)
        await ctx.emit("flist.tagged", user, name, user, tag=tag, target_user=repo, target=source)
    return success()


@router.api_route("/api/flist/me/{name}/crosstag/{repo}/{tag}", methods=["GET", "DELETE"])
async def crosstag(name: str, repo: str, tag: str, request: Request, user: str = Depends(acting),
                   ctx: HubContext = Depends(context)) -> JSONLine:
    if request.method == "DELETE":
        kind = await run_in_threadpool(ctx.hub.repos.delete, user, name)
        await ctx.emit("flist.deleted", user, name, user, kind=kind)
    else:
        await run_in_threadpool(ctx.hub.repos.crosstag, user, name, repo, tag)
        await ctx.emit("flist.linked", user, name, user, target_user=repo, target=tag, kind="crosstag")
    return success()


@router.api_route("/api/flist/me/{name}", methods=["GET", "DELETE"])
async def mine(name: str, request: Request, user: str = Depends(acting),
               ctx: HubContext = Depends(context)) -> Any:
    if request.method == "DELETE":
        kind = await run_in_threadpool(ctx.hub.repos.delete, user, name)
        await ctx.emit("flist.deleted", user, name, user, kind=kind)
        return success()
    return JSONLine(await run_in_threadpool(ctx.hub.contents, user, name))
