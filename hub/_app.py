"""The hub's HTTP surface (spec §11.3-11.5), assembled: the lifespan (self-check, the bus),
errors as JSON lines, CORS, and the routers of `routers/` in their order. Routes run blocking
work in threads."""

from __future__ import annotations

import contextlib
from typing import Any
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from zos.bus import Bus, connect

from . import routers
from ._config import HubConfig
from ._context import HubContext
from ._errors import HubError
from ._events import Emitter
from ._responses import JSONLine
from ._service import Hub


def create_app(config: HubConfig, bus: Bus | None = None) -> FastAPI:
    """The ASGI app. With `bus` (owned by the caller) or `config.bus` (connected at start-up,
    closed at shutdown), every change is appended as an event."""
    hub = Hub(config)
    emitter = Emitter(bus)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(hub.self_check)
        owned = None
        if emitter.bus is None and config.bus is not None:
            owned = await connect(config.bus, actor="hub", name="zos-hub")
            emitter.bus = owned
        try:
            yield
        finally:
            if owned is not None:
                await owned.close()
            hub.close()

    app = FastAPI(title="zos hub", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = HubContext(config, hub, emitter)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> JSONLine:
        return JSONLine({"status": "error", "message": str(exc)}, status_code=exc.status)

    @app.middleware("http")
    async def cors(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    for module in routers.ORDER:
        app.include_router(module.router)
    return app
