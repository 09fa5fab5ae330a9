"""The command envelope: what a client asks a node to run (0-core command fields)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._envelope import Event, new_event
from .._errors import ValidationError
from .._registry import declare

COMMAND = declare("command", "job", [
    "id:str", "command:str", "arguments:map?", "queue:str?", "max_time:int?",
    "max_restart:int?", "recurring_period:int?", "stream:bool?", "tags:list?",
    "stats_interval:int?", "log_levels:list?", "node:str?",
], doc="A command sent to a node; the same fields the 0-core client pushes on core:default.")


@dataclasses.dataclass(frozen=True)
class Command:
    """A 0-core command with its defaults applied (spec core0-protocol §3)."""

    id: str
    command: str
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)
    queue: str = ""
    max_time: int = 0
    max_restart: int = 0
    recurring_period: int = 0
    stream: bool = False
    tags: list[str] | None = None
    stats_interval: int = 0
    log_levels: list[int] = dataclasses.field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Any) -> Command:
        """Validate a decoded JSON or msgpack command; errors name the field at fault."""
        if not isinstance(raw, dict):
            raise ValidationError(f"command must be an object, got {type(raw).__name__}")
        def typed(name: str, kinds: tuple[type, ...], default: Any) -> Any:
            value = raw.get(name)
            if value is None:
                return default
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                want = "/".join(k.__name__ for k in kinds)
                raise ValidationError(f"command field '{name}' must be {want}, got {type(value).__name__}")
            return value
        tags = typed("tags", (list,), None)
        if tags is not None and not all(isinstance(t, str) for t in tags):
            raise ValidationError("command field 'tags' must be a list of strings")
        return cls(
            id=typed("id", (str,), ""),
            command=typed("command", (str,), ""),
            arguments=typed("arguments", (dict,), {}),
            queue=typed("queue", (str,), ""),
            max_time=typed("max_time", (int,), 0),
            max_restart=typed("max_restart", (int,), 0),
            recurring_period=typed("recurring_period", (int,), 0),
            stream=typed("stream", (bool,), False),
            tags=tags,
            stats_interval=typed("stats_interval", (int,), 0),
            log_levels=typed("log_levels", (list,), []),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def command_to_event(cmd: Command, node: str, *, actor: str | None = None,
                     correlation_id: str | None = None) -> Event:
    """The envelope for a command; the event id is the command id so a resend is deduplicated."""
    if not cmd.id:
        raise ValidationError("command field 'id' must not be empty")
    if not cmd.command:
        raise ValidationError("command field 'command' must not be empty")
    return new_event("command", "job", cmd.id, {**cmd.to_dict(), "node": node},
                     id=f"cmd-{cmd.id}", actor=actor, correlation_id=correlation_id or cmd.id)


def command_from_event(event: Event) -> Command:
    data = {k: v for k, v in event.data.items() if k != "node"}
    return Command.from_dict(data)
