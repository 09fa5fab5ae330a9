"""Every change the hub makes becomes an event on the bus (aggregate `flist`, id `user/name`)."""

from __future__ import annotations

import logging
from typing import Any

from zos.events import Event, new_event

log = logging.getLogger("zos.hub")


class Emitter:
    """Appends events when a bus is connected (otherwise the event is only logged) and never
    fails the request that caused them: the change is already on disk."""

    def __init__(self, bus: Any = None) -> None:
        self.bus = bus

    async def emit(self, type: str, user: str, name: str, data: dict[str, Any], actor: str) -> Event:
        event = new_event(type, "flist", f"{user}/{name}", {"user": user, "name": name, **data},
                          actor=f"user:{actor}")
        log.info("%s %s/%s by %s", type, user, name, actor)
        if self.bus is not None:
            try:
                await self.bus.append(event)
            except Exception as exc:  # the change is done; losing the bus must not undo it
                log.error("could not append %s for %s/%s: %s", type, user, name, exc)
        return event
