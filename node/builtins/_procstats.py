"""Per-process resource figures shared by job.list, core.state and process.list (blocking)."""

from __future__ import annotations

from typing import Any

import psutil


def process_stats(pid: int | None) -> dict[str, Any]:
    """`{cpu, rss, vms, swap}` of a process and its children (zeros when it is gone)."""
    stats = {"cpu": 0.0, "rss": 0, "vms": 0, "swap": 0}
    if not pid:
        return stats
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return stats
    for proc in procs:
        try:
            with proc.oneshot():
                mem = proc.memory_info()
                stats["cpu"] += proc.cpu_percent(interval=None)
                stats["rss"] += mem.rss
                stats["vms"] += mem.vms
                try:
                    stats["swap"] += getattr(proc.memory_full_info(), "swap", 0)
                except psutil.Error:
                    pass
        except psutil.Error:
            continue
    return stats
