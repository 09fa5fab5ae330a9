"""The web UI: repositories, one repository, one flist, and the upload page (`_ui` renders)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from .. import _ui
from .._context import HubContext, context

router = APIRouter()


@router.get("/")
async def index() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/", response_class=HTMLResponse)
async def ui_index(ctx: HubContext = Depends(context)) -> str:
    return _ui.repositories(await run_in_threadpool(ctx.hub.repos.repositories, ctx.config.official))


@router.get("/ui/upload", response_class=HTMLResponse)
async def ui_upload() -> str:
    return _ui.UPLOAD


@router.get("/ui/{user}", response_class=HTMLResponse)
async def ui_user(user: str, ctx: HubContext = Depends(context)) -> str:
    return _ui.user(user, await run_in_threadpool(ctx.hub.repos.listing, user))


@router.get("/ui/{user}/{name}", response_class=HTMLResponse)
async def ui_flist(user: str, name: str, ctx: HubContext = Depends(context)) -> str:
    contents = await run_in_threadpool(ctx.hub.contents, user, name)
    meta = await run_in_threadpool(ctx.hub.metadata, user, name)
    return _ui.flist(user, name, contents, meta)
