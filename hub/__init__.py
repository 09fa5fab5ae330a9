"""zos.hub: the Hub service (spec §11): repositories of flists, tar.gz -> flist conversion,
the chunk API, a small web UI; every change an event on the bus.

Layout: `_config` (HubConfig, built by the command line) -> `_service` (the operations, blocking,
over `_repo` and the chunk store) -> `_context` (what routes share) -> `routers/` (one module
per area) -> `_app` (assembles them) -> `_serve` (uvicorn).

    app = create_app(HubConfig(data=Path("/var/lib/zos"), tokens={"tok": {"user": "alice", "accounts": []}}))
    # or, on the command line: zos hub serve --port 5555
"""

from ._app import create_app
from ._config import HubConfig
from ._errors import (BadRequestError, ConflictError, ForbiddenError, HubError, MissingChunksError,
                      NotFoundError, TooLargeError, UnauthorizedError)
from ._serve import serve

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "HubConfig",
    "HubError",
    "MissingChunksError",
    "NotFoundError",
    "TooLargeError",
    "UnauthorizedError",
    "create_app",
    "serve",
]
