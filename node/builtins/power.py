"""`core.reboot` / `core.poweroff` (spec core0-protocol §12.1): stop every job, sync the
disks and reboot or power off the machine through reboot(2), as 0-core (PID 1) did.

These act on the whole machine, so they are refused (412) unless the agent is the machine's
init (PID 1, the real node) or its settings allow power (`--allow-power` / `ZOS_ALLOW_POWER` /
`allow_power` in the TOML file). In a child PID namespace, reboot(2) from its PID 1 ends only
that namespace: that is how the tests exercise the real path.
"""

from __future__ import annotations

import asyncio
import ctypes
import os

from ._registry import BuiltinError, Context, builtin

RB_AUTOBOOT = 0x01234567
RB_POWER_OFF = 0x4321FEDC


def power_allowed(ctx: Context) -> bool:
    """The one check: is this agent allowed to reboot or power off the machine?"""
    if os.getpid() == 1:
        return True
    return bool(getattr(ctx.config, "allow_power", False))


def _stop_jobs(ctx: Context) -> None:
    """End every other job of the agent (when there is one) before the machine goes down.
    Runs on the agent's loop: jobs are loop objects."""
    jobs = getattr(getattr(ctx.agent, "jobs", None), "jobs", {})
    for job in list(jobs.values()):
        if job is not ctx.job:
            job.stop()


def _sync_and_reboot(command: int, what: str) -> None:
    os.sync()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.reboot(ctypes.c_int(command)) != 0:
        raise BuiltinError(500, f"{what} failed: reboot(2): {os.strerror(ctypes.get_errno())}")


async def _power(ctx: Context, command: int, what: str) -> None:
    if not power_allowed(ctx):
        raise BuiltinError(412, f"{what} refused: the agent is not PID 1 and power commands are not "
                                "allowed (start it with --allow-power)")
    _stop_jobs(ctx)
    await asyncio.to_thread(_sync_and_reboot, command, what)


@builtin("core.reboot")
async def reboot(args: dict, ctx: Context) -> None:
    await _power(ctx, RB_AUTOBOOT, "reboot")


@builtin("core.poweroff")
async def poweroff(args: dict, ctx: Context) -> None:
    await _power(ctx, RB_POWER_OFF, "poweroff")
