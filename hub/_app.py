"""The hub's HTTP surface (spec §11.3-11.5): public and authenticated flist API, downloads,
the chunk API, upload progress events and the web UI. Blocking work runs in threads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from typing import Any
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from . import _ui
from ._config import HubConfig
from ._errors import (BadRequestError, ForbiddenError, HubError, NotFoundError, TooLargeError,
                      UnauthorizedError)
from ._events import Emitter
from ._multipart import stream_form
from ._pipe import Pipe
from ._repo import check_name, flist_name, md5_of
from ._service import Hub

log = logging.getLogger("zos.hub")
_CHUNK_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_MISSING = 10000


class JSONLine(JSONResponse):
    """JSON replies end with a newline (spec §11.3)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode() + b"\n"


def success(payload: Any = None) -> JSONLine:
    body: dict[str, Any] = {"status": "success"}
    if payload is not None:
        body["payload"] = payload
    return JSONLine(body)


def create_app(config: HubConfig, bus: Any = None) -> FastAPI:
    """The ASGI app. With `bus` (or `config.nats`), every change is appended as an event."""
    hub = Hub(config)
    emitter = Emitter(bus)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(hub.self_check)
        owned = None
        if emitter.bus is None and config.nats:
            from zos.settings import Settings, connect_bus
            owned = await connect_bus(Settings(environ={"ZOS_NATS": config.nats}), actor="hub", name="zos-hub")
            emitter.bus = owned
        try:
            yield
        finally:
            if owned is not None:
                await owned.close()
            hub.close()

    app = FastAPI(title="zos hub", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub
    app.state.events = emitter

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> JSONLine:
        return JSONLine({"status": "error", "message": str(exc)}, status_code=exc.status)

    @app.middleware("http")
    async def cors(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    def me(request: Request) -> str:
        """The acting user (spec §11.2): bearer token, optional `active-user` cookie."""
        if config.readonly:
            raise ForbiddenError("this hub is read-only")
        if not config.authentication:
            return "Administrator"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("missing bearer token (header 'Authorization: bearer <token>')")
        token = token.strip()
        if config.guest_token and token == config.guest_token:
            account: dict[str, Any] = {"user": "guest", "accounts": []}
        elif token in config.tokens:
            account = config.tokens[token]
        else:
            raise UnauthorizedError("invalid token")
        active = request.cookies.get("active-user")
        if active and active != account["user"]:
            if active not in account["accounts"]:
                raise ForbiddenError(f"user '{account['user']}' may not act as '{active}'")
            return check_name(active, "user")
        return check_name(account["user"], "user")

    async def emit(type: str, user: str, name: str, actor: str, **data: Any) -> None:
        await emitter.emit(type, user, name, data, actor)

    # -- chunk API (before the catch-all download routes) -------------------------------------
    def chunk_id(text: str) -> bytes:
        if not _CHUNK_ID.match(text):
            raise BadRequestError(f"chunk id '{text}' is not 32 lowercase hex characters")
        return bytes.fromhex(text)

    @app.api_route("/api/chunks/missing", methods=["POST"])
    async def chunks_missing(request: Request) -> JSONLine:
        try:
            ids = json.loads(await request.body())
        except ValueError:
            raise BadRequestError("body must be a JSON array of hex chunk ids") from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BadRequestError("body must be a JSON array of hex chunk ids")
        if len(ids) > _MAX_MISSING:
            raise TooLargeError(f"{len(ids)} ids in one request (limit {_MAX_MISSING})")
        missing = await run_in_threadpool(hub.chunks_missing, [chunk_id(i) for i in ids])
        return success({"missing": missing})

    @app.api_route("/api/chunks/{cid}", methods=["GET", "HEAD"])
    async def chunk_get(cid: str, request: Request) -> Response:
        data = await run_in_threadpool(hub.chunk_get, chunk_id(cid))
        headers = {"ETag": f'"{cid}"', "Cache-Control": "public, max-age=31536000, immutable"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return Response(status_code=200, headers=headers, media_type="application/octet-stream")
        return Response(data, media_type="application/octet-stream", headers=headers)

    @app.put("/api/chunks/{cid}")
    async def chunk_put(cid: str, request: Request) -> JSONLine:
        me(request)
        raw = chunk_id(cid)
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > config.max_chunk_size:
                raise TooLargeError(f"chunk larger than {config.max_chunk_size} bytes")
        created = await run_in_threadpool(hub.chunk_put, raw, bytes(body))
        response = success({"id": cid, "created": created})
        response.status_code = 201 if created else 200
        return response

    # -- authenticated flist API --------------------------------------------------------------
    @app.get("/api/flist/me")
    async def whoami(request: Request) -> JSONLine:
        return success({"username": me(request)})

    @app.post("/api/flist/me/upload")
    async def upload(request: Request) -> JSONLine:
        user = me(request)
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
            fields, _ = await stream_form(request, open_sink, config.max_upload_size)
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
        await emit("flist.uploaded", user, result["name"], user, size=result["size"], md5=result["md5"],
                   source="tar", stats=result["files"])
        return success({"name": result["name"], "user": user, "files": result["files"]})

    @app.post("/api/flist/me/upload-flist")
    async def upload_flist(request: Request) -> JSONLine:
        user = me(request)
        temp = await run_in_threadpool(hub.repos.temp_file, ".upload")
        names: dict[str, str] = {}

        class FileSink:
            def __init__(self) -> None:
                self.handle = open(temp, "wb")

            def write(self, data: bytes) -> None:
                self.handle.write(data)

            def finish(self) -> None:
                self.handle.close()

            def abort(self, exc: BaseException) -> None:
                self.handle.close()

        def open_sink(filename: str) -> FileSink:
            if not filename.endswith(".flist"):
                raise BadRequestError(f"file '{filename}' must end with .flist")
            original = request.headers.get("x-original-name") or filename
            names["name"] = hub.upload_name(original.removesuffix(".flist") + ".tar.gz", None)
            return FileSink()

        try:
            await stream_form(request, open_sink, config.max_upload_size)
            result = await run_in_threadpool(hub.accept_flist, user, names["name"], temp)
        finally:
            temp.unlink(missing_ok=True)
        await emit("flist.uploaded", user, result["name"], user, size=result["size"], md5=result["md5"],
                   source="flist")
        return success({"name": result["name"], "user": user, "chunks": result["chunks"]})

    @app.post("/api/flist/me/merge/{target}")
    async def merge(target: str, request: Request) -> JSONLine:
        user = me(request)
        try:
            sources = json.loads(await request.body())
        except ValueError:
            raise BadRequestError("body must be a JSON array of 'repo/name' strings") from None
        result = await run_in_threadpool(hub.merge, user, target, sources)
        await emit("flist.merged", user, result["name"], user, size=result["size"], md5=result["md5"],
                   sources=sources, collisions=result["collisions"])
        return success({"name": result["name"], "collisions": result["collisions"],
                        "warnings": result["warnings"]})

    @app.post("/api/flist/me/docker")
    async def docker(request: Request) -> JSONLine:
        me(request)
        raise HubError("docker image conversion is not available on this hub", 501)

    @app.get("/api/flist/me/promote/{repo}/{source}/{localname}")
    async def promote(repo: str, source: str, localname: str, request: Request) -> JSONLine:
        user = me(request)
        result = await run_in_threadpool(hub.promote, user, repo, source, localname)
        await emit("flist.promoted", user, localname, user, source_user=repo, source=source, **result)
        return success({"source": {"username": repo, "filename": source},
                        "destination": {"username": user, "filename": localname}})

    @app.get("/api/flist/me/{source}/link/{linkname}")
    async def link(source: str, linkname: str, request: Request) -> JSONLine:
        user = me(request)
        await run_in_threadpool(hub.repos.symlink, user, source, linkname)
        await emit("flist.linked", user, linkname, user, target_user=user, target=source, kind="link")
        return success()

    @app.get("/api/flist/me/{linkname}/crosslink/{repo}/{source}")
    async def crosslink(linkname: str, repo: str, source: str, request: Request) -> JSONLine:
        user = me(request)
        await run_in_threadpool(hub.repos.crosslink, user, linkname, repo, source)
        await emit("flist.linked", user, linkname, user, target_user=repo, target=source, kind="crosslink")
        return success()

    @app.get("/api/flist/me/{source}/rename/{dest}")
    async def rename(source: str, dest: str, request: Request) -> JSONLine:
        user = me(request)
        await run_in_threadpool(hub.repos.rename, user, source, dest)
        await emit("flist.renamed", user, source, user, new_name=dest)
        return success()

    @app.api_route("/api/flist/me/{tag}/{name}/tag/{repo}/{source}", methods=["GET", "DELETE"])
    async def tag(tag: str, name: str, repo: str, source: str, request: Request) -> JSONLine:
        user = me(request)
        if request.method == "DELETE":
            await run_in_threadpool(hub.repos.untag, user, tag, name)
            await emit("flist.untagged", user, name, user, tag=tag)
        else:
            await run_in_threadpool(hub.repos.tag, user, tag, name, repo, source)
            await emit("flist.tagged", user, name, user, tag=tag, target_user=repo, target=source)
        return success()

    @app.api_route("/api/flist/me/{name}/crosstag/{repo}/{tag}", methods=["GET", "DELETE"])
    async def crosstag(name: str, repo: str, tag: str, request: Request) -> JSONLine:
        user = me(request)
        if request.method == "DELETE":
            kind = await run_in_threadpool(hub.repos.delete, user, name)
            await emit("flist.deleted", user, name, user, kind=kind)
        else:
            await run_in_threadpool(hub.repos.crosstag, user, name, repo, tag)
            await emit("flist.linked", user, name, user, target_user=repo, target=tag, kind="crosstag")
        return success()

    @app.api_route("/api/flist/me/{name}", methods=["GET", "DELETE"])
    async def mine(name: str, request: Request) -> Any:
        user = me(request)
        if request.method == "DELETE":
            kind = await run_in_threadpool(hub.repos.delete, user, name)
            await emit("flist.deleted", user, name, user, kind=kind)
            return success()
        return JSONLine(await run_in_threadpool(hub.contents, user, name))

    # -- public API ---------------------------------------------------------------------------
    @app.get("/api/flist")
    async def all_flists() -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.repos.all_flists))

    @app.get("/api/repositories")
    async def repositories() -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.repos.repositories, config.official))

    @app.get("/api/fileslist")
    async def fileslist() -> JSONLine:
        def build() -> dict[str, Any]:
            return {user: hub.repos.listing(user) for user in hub.repos.users()}
        return JSONLine(await run_in_threadpool(build))

    @app.get("/api/flist/{user}")
    async def user_listing(user: str) -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.repos.listing, user))

    @app.get("/api/flist/{user}/tags/{tag}")
    async def tag_listing(user: str, tag: str) -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.repos.tag_listing, user, tag))

    @app.api_route("/api/flist/{user}/{name}", methods=["GET", "INFO"])
    async def inspect(user: str, name: str, request: Request) -> JSONLine:
        if request.method == "INFO":
            return JSONLine(await run_in_threadpool(hub.repos.info, user, name))
        return JSONLine(await run_in_threadpool(hub.contents, user, name))

    @app.get("/api/flist/{user}/{name}/light")
    async def light(user: str, name: str) -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.repos.info, user, name))

    @app.get("/api/flist/{user}/{name}/taglink")
    async def taglink(user: str, name: str) -> JSONLine:
        return JSONLine({"target": await run_in_threadpool(hub.repos.taglink_target, user, name)})

    @app.get("/api/flist/{user}/{name}/metadata")
    async def metadata(user: str, name: str) -> JSONLine:
        return JSONLine(await run_in_threadpool(hub.metadata, user, name))

    @app.get("/listen/{job}")
    async def listen(job: str) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            seen = 0
            for _ in range(36000):  # at most an hour
                messages = hub.jobs.read(job, seen)
                for message in messages:
                    yield f"data: {json.dumps(message)}\n\n".encode()
                    if message["status"] in ("success", "error"):
                        return
                seen += len(messages)
                await asyncio.sleep(0.1)
        return StreamingResponse(events(), media_type="text/event-stream")

    # -- web UI -------------------------------------------------------------------------------
    @app.get("/")
    async def index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/", response_class=HTMLResponse)
    async def ui_index() -> str:
        return _ui.repositories(await run_in_threadpool(hub.repos.repositories, config.official))

    @app.get("/ui/upload", response_class=HTMLResponse)
    async def ui_upload() -> str:
        return _ui.UPLOAD

    @app.get("/ui/{user}", response_class=HTMLResponse)
    async def ui_user(user: str) -> str:
        return _ui.user(user, await run_in_threadpool(hub.repos.listing, user))

    @app.get("/ui/{user}/{name}", response_class=HTMLResponse)
    async def ui_flist(user: str, name: str) -> str:
        contents = await run_in_threadpool(hub.contents, user, name)
        meta = await run_in_threadpool(hub.metadata, user, name)
        return _ui.flist(user, name, contents, meta)

    # -- downloads (last: they match any two-segment path) ---------------------------------------
    @app.get("/{user}/tags/{tag}/{name}")
    async def tag_download(user: str, tag: str, name: str) -> FileResponse:
        path = await run_in_threadpool(hub.repos.tag_file, user, tag, name)
        return FileResponse(path, media_type="application/octet-stream", filename=flist_name(name))

    @app.get("/{user}/{filename}")
    async def download(user: str, filename: str) -> Response:
        for suffix in (".flist.md5", ".json", ".txt"):
            if filename.endswith(suffix) and filename != suffix:
                name = flist_name(filename[: -len(suffix)])
                path = await run_in_threadpool(hub.repos.resolve, user, name)
                md5 = await run_in_threadpool(md5_of, path)
                if suffix == ".flist.md5":
                    return Response(md5 + "\n", media_type="text/plain")
                url = f"{config.public_url}/{user}/{name}"
                if suffix == ".txt":
                    return Response(url + "\n", media_type="text/plain")
                backend = config.backend()
                return JSONLine({"flist": name, "uploader": user, "source": url,
                                 "storage": f"zdb://{backend['host']}:{backend['port']}", "checksum": md5})
        if not filename.endswith(".flist"):
            raise NotFoundError(f"'{user}/{filename}' not found")
        path = await run_in_threadpool(hub.repos.resolve, user, filename)
        return FileResponse(path, media_type="application/octet-stream", filename=filename)

    return app
