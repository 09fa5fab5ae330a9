"""The envelope every event and command travels in."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any


def new_id() -> str:
    """A fresh event id (uuid4 text): the server's dedup key (`Nats-Msg-Id`)."""
    return str(uuid.uuid4())


def now_ns() -> int:
    return time.time_ns()


@dataclasses.dataclass(frozen=True)
class Event:
    """One immutable fact (or command) on the log.

    `data` holds the type's fields; `version` is the schema version of `data`.
    """

    type: str
    aggregate: str
    aggregate_id: str
    data: dict[str, Any]
    id: str = dataclasses.field(default_factory=new_id)
    version: int = 1
    time: int = dataclasses.field(default_factory=now_ns)
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() deep-copies `data`, a large share of an agent's CPU.
        return {"type": self.type, "aggregate": self.aggregate, "aggregate_id": self.aggregate_id,
                "data": self.data, "id": self.id, "version": self.version, "time": self.time,
                "causation_id": self.causation_id, "correlation_id": self.correlation_id,
                "actor": self.actor}

    def caused(self, type: str, aggregate: str, aggregate_id: str, data: dict[str, Any],
               actor: str | None = None) -> Event:
        """A new event caused by this one (causation and correlation carried over)."""
        return new_event(type, aggregate, aggregate_id, data, actor=actor or self.actor,
                         causation_id=self.id, correlation_id=self.correlation_id or self.id)


def new_event(type: str, aggregate: str, aggregate_id: str, data: dict[str, Any] | None = None,
              *, actor: str | None = None, causation_id: str | None = None,
              correlation_id: str | None = None, id: str | None = None,
              time: int | None = None) -> Event:
    """Build an event of a declared type at its current version, validating its fields."""
    from ._registry import get_type

    data = dict(data or {})
    declared = get_type(type)
    version = 1
    if declared is not None:
        declared.validate(data)
        version = declared.version
    return Event(type=type, aggregate=aggregate, aggregate_id=aggregate_id, data=data,
                 id=id or new_id(), version=version, time=time if time is not None else now_ns(),
                 causation_id=causation_id, correlation_id=correlation_id, actor=actor)
