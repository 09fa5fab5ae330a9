"""job.list, job.kill, job.killall (spec §12.1). Kill runs on the loop: it touches live jobs."""

from __future__ import annotations

import signal
from typing import Any

from ._procstats import process_stats
from ._registry import BuiltinError, Context, arg, builtin


def _signal(args: dict) -> int:
    signum = arg(args, "signal", "int", int(signal.SIGTERM))
    if signum not in signal.valid_signals():
        raise BuiltinError(400, f"argument 'signal' is {signum}, not a signal number")
    return signum


@builtin("job.list")
def job_list(args: dict, ctx: Context) -> list[dict[str, Any]]:
    wanted = arg(args, "id", "str", None)
    jobs = list(ctx.agent.jobs.jobs.values())
    if wanted is not None:
        jobs = [job for job in jobs if job.id == wanted]
        if not jobs:
            raise BuiltinError(404, f"no job with id '{wanted}'")
    rows = []
    for job in jobs:
        proc = job.process
        stats = process_stats(proc.pid if proc is not None else None)
        rows.append({**stats, "debug": "", "starttime": job.starttime, "cmd": job.cmd.to_dict()})
    return rows


@builtin("job.kill")
async def job_kill(args: dict, ctx: Context) -> bool:
    """Signal a job's process group (SIGTERM by default); False when there is no such job."""
    job_id = arg(args, "id", "str")
    signum = _signal(args)
    job = ctx.agent.jobs.get(job_id)
    if job is None:
        return False
    job.kill(signum)
    return True


@builtin("job.killall")
async def job_killall(args: dict, ctx: Context) -> bool:
    """Every job but protected services and the caller itself."""
    for job in list(ctx.agent.jobs.jobs.values()):
        if job is not ctx.job and not job.protected:
            job.kill(signal.SIGTERM)
    return True
