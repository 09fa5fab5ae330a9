"""The chunk API (project-defined, spec §11.5): which chunks are missing, get, put; ciphertext only."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from .._context import HubContext, acting, context
from .._errors import BadRequestError, TooLargeError
from .._responses import JSONLine, success

router = APIRouter()
_CHUNK_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_MISSING = 10000


def chunk_id(text: str) -> bytes:
    if not _CHUNK_ID.match(text):
        raise BadRequestError(f"chunk id '{text}' is not 32 lowercase hex characters")
    return bytes.fromhex(text)


@router.api_route("/api/chunks/missing", methods=["POST"])
async def chunks_missing(request: Request, ctx: HubContext = Depends(context)) -> JSONLine:
    try:
        ids = json.loads(await request.body())
    except ValueError:
        raise BadRequestError("body must be a JSON array of hex chunk ids") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequestError("body must be a JSON array of hex chunk ids")
    if len(ids) > _MAX_MISSING:
        raise TooLargeError(f"{len(ids)} ids in one request (limit {_MAX_MISSING})")
    missing = await run_in_threadpool(ctx.hub.chunks_missing, [chunk_id(i) for i in ids])
    return success({"missing": missing})


@router.api_route("/api/chunks/{cid}", methods=["GET", "HEAD"])
async def chunk_get(cid: str, request: Request, ctx: HubContext = Depends(context)) -> Response:
    data = await run_in_threadpool(ctx.hub.chunk_get, chunk_id(cid))
    headers = {"ETag": f'"{cid}"', "Cache-Control": "public, max-age=31536000, immutable"}
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.put("/api/chunks/{cid}", dependencies=[Depends(acting)])
async def chunk_put(cid: str, request: Request, ctx: HubContext = Depends(context)) -> JSONLine:
    raw = chunk_id(cid)
    limit = ctx.config.max_chunk_size
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise TooLargeError(f"chunk larger than {limit} bytes")
    created = await run_in_threadpool(ctx.hub.chunk_put, raw, bytes(body))
    response = success({"id": cid, "created": created})
    response.status_code = 201 if created else 200
    return response
