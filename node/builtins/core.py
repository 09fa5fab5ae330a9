"""core.ping, core.system, bash, core.state, core.subscribe (spec §12.1, §9)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .. import _process
from .._sysinfo import version_text
from ._procstats import process_stats
from ._registry import BuiltinError, Context, arg, builtin


@builtin("core.ping")
async def ping(args: dict, ctx: Context) -> str:
    # On the loop: the version text is computed once at start (in a thread) and cached.
    return "PONG " + version_text()


def _strings(args: dict, name: str) -> list[str]:
    values = arg(args, name, "list", [])
    if not all(isinstance(v, str) for v in values):
        raise BuiltinError(400, f"argument '{name}' must be a list of strings")
    return values


def _env(args: dict) -> dict[str, str] | None:
    env = arg(args, "env", "dict", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise BuiltinError(400, "argument 'env' must map strings to strings")
    return env or None


@builtin("core.system")
def system(args: dict, ctx: Context) -> _process.ProcessSpec:
    """A process: PATH lookup of `name`, own process group, stdin piped when given."""
    name = arg(args, "name", "str")
    return _process.ProcessSpec([name, *_strings(args, "args")], cwd=arg(args, "dir", "str", "") or "/",
                                env=_env(args), stdin=arg(args, "stdin", "str", "").encode())


@builtin("bash")
def bash(args: dict, ctx: Context) -> _process.ProcessSpec:
    script = arg(args, "script", "str")
    return _process.ProcessSpec(["sh", "-c", script], cwd="/",
                                stdin=arg(args, "stdin", "str", "").encode())


@builtin("core.state")
def state(args: dict, ctx: Context) -> dict[str, Any]:
    """Resources of every job plus the agent itself."""
    total = process_stats(os.getpid())
    total.pop("debug", None)
    for job in list(ctx.agent.jobs.jobs.values()):
        proc = job.process
        stats = process_stats(proc.pid if proc is not None else None)
        for key in ("cpu", "rss", "vms", "swap"):
            total[key] += stats[key]
    return {**total, "debug": ""}


@builtin("core.subscribe")
async def subscribe(args: dict, ctx: Context) -> None:
    """Relay a running job's messages onto this job: its last 10 first, then each new one,
    until the watched job's exit message."""
    watched_id = arg(args, "id", "str")
    jobs = ctx.agent.jobs
    watched = jobs.get(watched_id)
    if watched is None:
        raise BuiltinError(404, f"no running job with id '{watched_id}'")
    if watched is ctx.job:
        raise BuiltinError(400, "a job cannot subscribe to itself")
    # Backlog copy and registration with no await between: no message falls in the gap.
    backlog = list(watched.backlog)
    queue: asyncio.Queue = asyncio.Queue()
    watched.subscribers.append(queue)
    try:
        for message in backlog:
            await jobs.emit(ctx.job, message)
        while True:
            message = await queue.get()
            if message is None:
                return None
            await jobs.emit(ctx.job, message)
            if message.is_exit:
                return None
    finally:
        if queue in watched.subscribers:
            watched.subscribers.remove(queue)
