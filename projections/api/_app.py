"""The FastAPI application: lifespan (engine, bus, in-process runner), auth, routers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
from typing import Any
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zos.bus import connect

from .._db import make_engine
from .._migrate import upgrade
from .._projector import all_projectors
from .._runner import Runner
from . import _errors, routers
from ._auth import TokenError, check_token
from ._config import ApiConfig
from ._context import ApiContext
from ._errors import ApiError

log = logging.getLogger("zos.api")
_bearer = HTTPBearer(auto_error=False, description="token from api_tokens, or signed with api_secret")


def _authorize(request: Request,
               credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    config: ApiConfig = request.app.state.config
    if not config.auth:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)",
                       headers={"WWW-Authenticate": "Bearer"})
    try:
        check_token(credentials.credentials, config.tokens, config.secret)
    except TokenError as exc:
        raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def _routers() -> list[Any]:
    found = []
    for info in sorted(pkgutil.iter_modules(routers.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{routers.__name__}.{info.name}").router)
    return found


def _report_runner_end(task: asyncio.Task) -> None:
    # Reads keep working on the last applied state; writes will time out (504) from now on.
    if not task.cancelled() and task.exception() is not None:
        log.error("in-process projectors stopped: %r", task.exception(), exc_info=task.exception())


def create_app(config: ApiConfig) -> FastAPI:
    """The app; the lifespan connects to the bus and, unless told not to, runs the projectors
    in-process so that a write's wait is a notification rather than a poll."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(config.db_url)
        await asyncio.to_thread(upgrade, engine)
        bus = await connect(config.nats, actor="api", name="zos-api", **config.nats_options)
        runner = Runner(engine, bus, all_projectors()) if config.run_projectors else None
        task = asyncio.create_task(runner.run(follow=True)) if runner else None
        if task is not None:
            task.add_done_callback(_report_runner_end)
        app.state.ctx = ApiContext(config, engine, bus, runner)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await bus.close()
            engine.dispose()

    app = FastAPI(title="zos resource pool", version="1.1.0-zos",
                  description="Zero-OS orchestrator API over an event-sourced log",
                  lifespan=lifespan)
    app.state.config = config
    _errors.install(app)
    for router in _routers():
        app.include_router(router, dependencies=[Depends(_authorize)])
    return app
