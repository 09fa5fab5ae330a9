"""Downloads (spec §11.4, non-API routes): `/<user>/<name>.flist` and its `.flist.md5`, `.json`
and `.txt` companions, and `/<user>/tags/<tag>/<name>`. Included last: `/{user}/{filename}`
matches any two-segment path."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from zos.fs import file_digest

from .._context import HubContext, context
from .._errors import NotFoundError
from .._repo import flist_name
from .._responses import JSONLine

router = APIRouter()


@router.get("/{user}/tags/{tag}/{name}")
async def tag_download(user: str, tag: str, name: str, ctx: HubContext = Depends(context)) -> FileResponse:
    path = await run_in_threadpool(ctx.hub.repos.tag_file, user, tag, name)
    return FileResponse(path, media_type="application/octet-stream", filename=flist_name(name))


@router.get("/{user}/{filename}")
async def download(user: str, filename: str, ctx: HubContext = Depends(context)) -> Response:
    for suffix in (".flist.md5", ".json", ".txt"):
        if filename.endswith(suffix) and filename != suffix:
            name = flist_name(filename[: -len(suffix)])
            path = await run_in_threadpool(ctx.hub.repos.resolve, user, name)
            md5 = await run_in_threadpool(file_digest, path, "md5")
            if suffix == ".flist.md5":
                return Response(md5 + "\n", media_type="text/plain")
            url = f"{ctx.config.public_url}/{user}/{name}"
            if suffix == ".txt":
                return Response(url + "\n", media_type="text/plain")
            backend = ctx.config.backend()
            return JSONLine({"flist": name, "uploader": user, "source": url,
                             "storage": f"zdb://{backend['host']}:{backend['port']}", "checksum": md5})
    if not filename.endswith(".flist"):
        raise NotFoundError(f"'{user}/{filename}' not found")
    path = await run_in_threadpool(ctx.hub.repos.resolve, user, filename)
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
