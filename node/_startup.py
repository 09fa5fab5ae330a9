"""Startup services (spec §14.3): `[startup.<id>]` jobs started in `after` order, gated by
kernel-argument conditions, each counted as running after a delay, a matching output line, or
its exit. The consumer does not wait for them (Q30 fixed)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from zos.events import Command

from ._config import StartupService, condition_holds, service_weight, startup_arguments
from ._jobs import Job

log = logging.getLogger("zos.node.startup")


async def run_startup(agent: Any, services: dict[str, StartupService]) -> None:
    """Start every service once its `after` services run; returns when all were started."""
    if not services:
        return
    running = {sid: asyncio.Event() for sid in services}
    order = sorted(services.values(), key=lambda s: service_weight(s, services))
    async with asyncio.TaskGroup() as group:
        for service in order:
            group.create_task(_start_one(agent, service, running))


async def _start_one(agent: Any, service: StartupService, running: dict[str, asyncio.Event]) -> None:
    for dep in service.after:
        if dep in running:
            await running[dep].wait()
    try:
        if agent.stopping:
            return
        if not condition_holds(service.condition, agent.config.kernel_args):
            log.info("startup %s skipped: condition '%s' is false", service.id, service.condition)
            return
        target = agent.commands.get(service.name)
        if target is None:
            log.error("startup %s: unknown command '%s'", service.id, service.name)
            return
        cmd = Command(id=service.id, command=service.name,
                      arguments=startup_arguments(service.args, agent.config.kernel_args),
                      recurring_period=service.recurring_period, max_restart=service.max_restart,
                      tags=list(service.tags) if service.tags is not None else None)
        job = Job(cmd, target, protected=service.protected, internal=True)
        watch: asyncio.Queue = asyncio.Queue()
        job.subscribers.append(watch)
        agent.start(job)
        await _until_running(job, watch, service)
    finally:
        running[service.id].set()


async def _until_running(job: Job, watch: asyncio.Queue, service: StartupService) -> None:
    """Running after `running_delay` s, on a `running_match` line, or (delay -1) at exit."""
    pattern = re.compile(service.running_match) if service.running_match else None
    deadline = None if pattern or service.running_delay < 0 else time.monotonic() + service.running_delay
    try:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                async with asyncio.timeout(timeout):
                    message = await watch.get()
            except TimeoutError:
                return
            if message is None or (pattern and pattern.search(message.text)):
                return
    finally:
        if watch in job.subscribers:
            job.subscribers.remove(watch)
