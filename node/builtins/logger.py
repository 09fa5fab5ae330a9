"""logger.subscribe, logger.unsubscribe (spec §10) and aggregator.query (§11)."""

from __future__ import annotations

import uuid
from typing import Any

from ._registry import BuiltinError, Context, arg, builtin


@builtin("logger.subscribe")
async def subscribe(args: dict, ctx: Context) -> str:
    """Start feeding `logger:<queue>` (a fresh uuid when no name); returns the key."""
    name = arg(args, "queue", "str", None) or str(uuid.uuid4())
    levels = arg(args, "levels", "list", [])
    if not all(isinstance(level, int) and not isinstance(level, bool) for level in levels):
        raise BuiltinError(400, "argument 'levels' must be a list of integers")
    name = name.removeprefix("logger:")
    return await ctx.agent.loggers.subscribe(name, levels)


@builtin("logger.unsubscribe")
async def unsubscribe(args: dict, ctx: Context) -> None:
    key = arg(args, "queue", "str")
    if not ctx.agent.loggers.unsubscribe(key):
        raise BuiltinError(404, f"no logger queue '{key}'")
    return None


@builtin("aggregator.query")
async def query(args: dict, ctx: Context) -> dict[str, Any]:
    key = arg(args, "key", "str", None)
    tags = arg(args, "tags", "dict", {})
    return ctx.agent.aggregator.query(key, {str(k): str(v) for k, v in tags.items()})
