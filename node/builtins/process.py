"""process.list, process.kill (spec §12.1): any process of the node, by pid."""

from __future__ import annotations

import os
import signal
from typing import Any

import psutil

from ._registry import BuiltinError, Context, arg, builtin

_CPU_FIELDS = ("guestnice", "idle", "iowait", "irq", "nice", "softirq", "steal", "stolen", "system", "user")


def _describe(proc: psutil.Process) -> dict[str, Any]:
    with proc.oneshot():
        times = proc.cpu_times()
        mem = proc.memory_info()
        try:
            swap = getattr(proc.memory_full_info(), "swap", 0)
        except psutil.Error:
            swap = 0
        try:
            ofd = proc.num_fds()
        except psutil.Error:
            ofd = 0
        rlimit = []
        for resource in (psutil.RLIMIT_NOFILE, psutil.RLIMIT_NPROC):
            try:
                soft, hard = proc.rlimit(resource)
                rlimit.append({"resource": resource, "soft": soft, "hard": hard})
            except (psutil.Error, OSError):
                pass
        cpu = dict.fromkeys(_CPU_FIELDS, 0.0)
        cpu.update(user=times.user, system=times.system, iowait=getattr(times, "iowait", 0.0))
        return {"pid": proc.pid, "ppid": proc.ppid(), "cmdline": " ".join(proc.cmdline()),
                "name": proc.name(), "createtime": int(proc.create_time() * 1000), "cpu": cpu,
                "rss": mem.rss, "vms": mem.vms, "swap": swap, "rlimit": rlimit, "ofd": ofd}


@builtin("process.list")
def process_list(args: dict, ctx: Context) -> list[dict[str, Any]]:
    pid = arg(args, "pid", "int", 0)
    if pid:
        try:
            return [_describe(psutil.Process(pid))]
        except psutil.NoSuchProcess:
            raise BuiltinError(404, f"no process with pid {pid}") from None
    rows = []
    for proc in psutil.process_iter():
        try:
            rows.append(_describe(proc))
        except psutil.Error:
            continue  # it ended while we looked
    return rows


@builtin("process.kill")
def process_kill(args: dict, ctx: Context) -> None:
    pid = arg(args, "pid", "int")
    signum = arg(args, "signal", "int", int(signal.SIGTERM))
    if pid <= 1:
        raise BuiltinError(400, f"argument 'pid' is {pid}: pids <= 1 cannot be killed")
    if pid == os.getpid():
        raise BuiltinError(400, "argument 'pid' is the node agent itself")
    if signum not in signal.valid_signals():
        raise BuiltinError(400, f"argument 'signal' is {signum}, not a signal number")
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        raise BuiltinError(404, f"no process with pid {pid}") from None
    return None
