"""How a builtin command is declared: a name, a function of (arguments, context), typed errors.

    @builtin("info.os")
    def info_os(args: dict, ctx: Context) -> dict: ...

Plain functions run in a worker thread (they may block: netlink, nft, disks); `async def`
functions run on the loop. The return value becomes the result's `data` (JSON text);
`BuiltinError(code, message)` becomes an ERROR result with that code (spec core0-protocol §5).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

from zos.events import Event, new_event
from .._errors import BuiltinError

_MISSING = object()
_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,),
                                       "float": (int, float), "list": (list,), "dict": (dict,)}


@dataclasses.dataclass
class Context:
    """What a builtin may use besides its arguments: the agent's typed `config` (data dir,
    limits), `agent` (itself) and `job` (the running job: its command, its messages via
    `agent.jobs.emit`).

    A builtin that changes the world says so with `emit()`: the domain events it records are
    appended to the log, caused by the job, before the job's `job.finished`.
    """

    node_id: str
    job_id: str
    agent: Any = None
    config: Any = None
    job: Any = None
    changes: list[Event] = dataclasses.field(default_factory=list)
    _taken: bool = False
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def data_dir(self) -> Path | None:
        """The agent's data directory (None for a context made outside an agent)."""
        return getattr(self.config, "data_dir", None)

    def emit(self, type: str, aggregate: str, aggregate_id: str, data: dict[str, Any]) -> Event:
        """Record a domain event (`bridge.created`, ...) this job caused. Safe from a worker
        thread. Validated against its declared type at once, so a bad event fails the job."""
        cause = getattr(self.job, "accepted", None) or getattr(self.job, "cause", None)
        actor = f"node:{self.node_id}"
        if cause is not None:
            event = cause.caused(type, aggregate, aggregate_id, data, actor=actor)
        else:
            event = new_event(type, aggregate, aggregate_id, data, actor=actor)
        with self._lock:
            late = self._taken
            if not late:
                self.changes.append(event)
        if late:  # the job already ended (a builtin thread past max_time): record it now
            self.agent.record_soon(event)
        return event

    def take_changes(self) -> list[Event]:
        """The events recorded so far; later ones go to the agent directly."""
        with self._lock:
            self._taken = True
            changes, self.changes = self.changes, []
        return changes


@dataclasses.dataclass(frozen=True)
class Builtin:
    name: str
    func: Callable[..., Any]
    is_async: bool


BUILTINS: dict[str, Builtin] = {}
SERVICES: list[Callable[[Any], Awaitable[None]]] = []


def builtin(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in BUILTINS:
            raise ValueError(f"builtin '{name}' registered twice")
        BUILTINS[name] = Builtin(name, func, inspect.iscoroutinefunction(func))
        return func
    return register


def service(func: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """Register `async def func(agent)`, awaited once when the agent starts, after it settled
    its own journal and before it takes commands: the place to re-adopt what outlives an agent
    (containers, VMs, mounts) and to record what was found. Long-running watchers it needs are
    started with `agent.spawn(coro)`; they are cancelled when the agent stops, and what they
    watch keeps running."""
    SERVICES.append(func)
    return func


def arg(args: dict[str, Any], name: str, kind: str, default: Any = _MISSING) -> Any:
    """One argument, checked: a missing or mistyped one is a 400 that names the field."""
    value = args.get(name)
    if value is None:
        if default is _MISSING:
            raise BuiltinError(400, f"argument '{name}' is required")
        return default
    allowed = _KINDS[kind]
    if not isinstance(value, allowed) or (isinstance(value, bool) and kind in ("int", "float")):
        raise BuiltinError(400, f"argument '{name}' must be {kind}, got {type(value).__name__}")
    return value
