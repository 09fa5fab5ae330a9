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
from typing import Any
from collections.abc import Callable

_MISSING = object()
_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,),
                                       "float": (int, float), "list": (list,), "dict": (dict,)}


class BuiltinError(Exception):
    """A typed builtin failure: 400 bad request, 404 not found, 406 not acceptable,
    412 precondition failed, 500 plain error, 503 unavailable."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass
class Context:
    """What a builtin may use besides its arguments. The agent fills in `agent` (itself)
    and `job` (the running job: its command, its messages via `agent.jobs.emit`)."""

    node_id: str
    job_id: str
    agent: Any = None
    settings: Any = None
    job: Any = None


@dataclasses.dataclass(frozen=True)
class Builtin:
    name: str
    func: Callable[..., Any]
    is_async: bool


BUILTINS: dict[str, Builtin] = {}


def builtin(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in BUILTINS:
            raise ValueError(f"builtin '{name}' registered twice")
        BUILTINS[name] = Builtin(name, func, inspect.iscoroutinefunction(func))
        return func
    return register


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
