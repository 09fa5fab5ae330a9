"""Running the hub under uvicorn (loopback by default)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from pathlib import Path

import uvicorn

from zos.bus import Bus

from ._app import create_app
from ._config import HubConfig


def token_path(data: Path) -> Path:
    return data / "hub" / "token"


def admin_token(data: Path) -> str:
    """The local admin token, created once (mode 0600) so a plain `zos up` hub is usable."""
    path = token_path(data)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


async def serve(config: HubConfig, bus: Bus | None = None) -> None:
    """Serve until cancelled; prints the address once the self-check passed and it listens."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if config.authentication and not config.tokens and not config.guest_token:
        config.tokens = {admin_token(config.data): {"user": "admin", "accounts": []}}
        print(f"hub: no tokens configured; user 'admin' uses the token in {token_path(config.data)}",
              file=sys.stderr, flush=True)
    app = create_app(config, bus)
    server = uvicorn.Server(uvicorn.Config(app, host=config.listen, port=config.port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        print(f"hub listening on http://{config.listen}:{config.port} (data {config.data})", file=sys.stderr,
              flush=True)
    await task
