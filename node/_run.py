"""`zos node run` as a coroutine: settings in, an agent serving until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from zos.settings import connect_bus

from ._agent import Agent
from ._config import load_config

log = logging.getLogger("zos.node")

# How long a stop may take: jobs get their SIGTERM grace and results are recorded, but with the
# broker gone (its owner died with it) recording could retry for minutes; past this, give up.
STOP_GRACE = 30.0


async def run_agent(settings: Any, node_id: str | None = None,
                    stop: asyncio.Event | None = None) -> None:
    """Connect, recover, announce, serve; SIGTERM or SIGINT ends the jobs and returns."""
    config = load_config(settings, node_id)
    bus = await connect_bus(settings, actor=f"node:{config.node_id}", name=f"zos-node-{config.node_id}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        agent = Agent(bus, config, settings)
        log.info("node %s: serving commands", config.node_id)
        serving = asyncio.ensure_future(agent.run(stop))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await asyncio.shield(serving)
            except TimeoutError:
                log.error("node %s: stop took over %s s (bus unreachable?); giving up", config.node_id,
                          STOP_GRACE)
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
        finally:
            stopping.cancel()
            if not serving.done():
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        # Every append and publish of the agent awaited its JetStream ack, so there is nothing
        # to drain; draining would wait on the pull subscription bus.consume leaves behind.
        await bus.nc.close()
