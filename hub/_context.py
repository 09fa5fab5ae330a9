"""What every route shares, and the FastAPI dependencies that hand it out.

`create_app` puts one `HubContext` on `app.state`; routers take it with
`ctx: HubContext = Depends(context)` and the acting user with `user: str = Depends(acting)`.
Routers import this module, never `_app` (which imports them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import Depends, Request

from ._auth import acting_user
from ._config import HubConfig
from ._events import Emitter
from ._service import Hub


@dataclasses.dataclass
class HubContext:
    config: HubConfig
    hub: Hub
    events: Emitter

    async def emit(self, type: str, user: str, name: str, actor: str, **data: Any) -> None:
        """Record a change of `user/name` (aggregate `flist`) made by `actor`."""
        await self.events.emit(type, user, name, data, actor)


async def context(request: Request) -> HubContext:
    return request.app.state.context


async def acting(request: Request, ctx: HubContext = Depends(context)) -> str:
    """The acting user of an authenticated route (401/403 otherwise)."""
    return acting_user(ctx.config, request)
