"""Uploads (spec §11.6, §11.7): a tar.gz converted to an flist while it streams in, an .flist
taken as it is, and `/listen/<job>`, the progress of a UI upload as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from .._context import HubContext, acting, context
from .._errors import BadRequestError, HubError
from .._multipart import stream_form
from .._pipe import Pipe
from .._responses import JSONLine, success

router = APIRouter()


@router.post("/api/flist/me/upload")
async def upload(request: Request, user: str = Depends(acting), ctx: HubContext = Depends(context)) -> JSONLine:
    """The conversion runs in a worker while the body streams in; the form fields after the file
    part (`metadata-*`) reach it once the body is read."""
    hub = ctx.hub
    job = request.query_params.get("job")
    original = request.headers.get("x-original-name")
    fields_ready = threading.Event()
    fields_box: dict[str, Any] = {}
    started: dict[str, Any] = {}

    def wait_fields() -> dict[str, str]:
        fields_ready.wait()
        if "error" in fields_box:
            raise BadRequestError(f"upload failed: {fields_box['error']}")
        return fields_box["fields"]

    def open_sink(filename: str) -> Pipe:
        name = hub.upload_name(filename, original)
        pipe = Pipe()
        started["name"] = name
        started["future"] = hub.converters.submit(hub.build_from_tar, user, name, pipe, wait_fields, job)
        return pipe

    try:
        fields, _ = await stream_form(request, open_sink, ctx.config.max_upload_size)
        fields_box["fields"] = fields
    except BaseException as exc:
        fields_box["error"] = str(exc) or type(exc).__name__
        fields_ready.set()
        if "future" in started:  # let the worker finish failing before answering
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(started["future"])
        hub.jobs.post(job, {"status": "error", "message": str(exc)})
        raise
    fields_ready.set()
    try:
        result = await asyncio.wrap_future(started["future"])
    except HubError as exc:
        hub.jobs.post(job, {"status": "error", "message": str(exc)})
        raise
    await ctx.emit("flist.uploaded", user, result["name"], user, size=result["size"], md5=result["md5"],
                   source="tar", stats=result["files"])
    return success({"name": result["name"], "user": user, "files": result["files"]})


class _FileSink:
    """Where the `.flist` part of an upload-flist form is written."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "wb")

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def finish(self) -> None:
        self.handle.close()

    def abort(self, exc: BaseException) -> None:
        self.handle.close()


@router.post("/api/flist/me/upload-flist")
async def upload_flist(request: Request, user: str = Depends(acting),
                       ctx: HubContext = Depends(context)) -> JSONLine:
    hub = ctx.hub
    temp = await run_in_threadpool(hub.repos.temp_file, ".upload")
    names: dict[str, str] = {}

    def open_sink(filename: str) -> _FileSink:
        if not filename.endswith(".flist"):
            raise BadRequestError(f"file '{filename}' must end with .flist")
        original = request.headers.get("x-original-name") or filename
        names["name"] = hub.upload_name(original.removesuffix(".flist") + ".tar.gz", None)
        return _FileSink(temp)

    try:
        await stream_form(request, open_sink, ctx.config.max_upload_size)
        result = await run_in_threadpool(hub.accept_flist, user, names["name"], temp)
    finally:
        temp.unlink(missing_ok=True)
    await ctx.emit("flist.uploaded", user, result["name"], user, size=result["size"], md5=result["md5"],
                   source="flist")
    return success({"name": result["name"], "user": user, "chunks": result["chunks"]})


@router.get("/listen/{job}")
async def listen(job: str, ctx: HubContext = Depends(context)) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        seen = 0
        for _ in range(36000):  # at most an hour
            messages = ctx.hub.jobs.read(job, seen)
            for message in messages:
                yield f"data: {json.dumps(message)}\n\n".encode()
                if message["status"] in ("success", "error"):
                    return
            seen += len(messages)
            await asyncio.sleep(0.1)
    return StreamingResponse(events(), media_type="text/event-stream")
