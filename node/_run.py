"""`zos node run` as a coroutine: a typed config in, an agent serving until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from zos.bus import BusConfig, connect

from ._agent import Agent
from ._config import AgentConfig

log = logging.getLogger("zos.node")

# How long a stop may take: jobs get their SIGTERM grace and results are recorded, but with the
# broker gone (its owner died with it) recording could retry for minutes; past this, give up.
STOP_GRACE = 30.0


async def run_agent(config: AgentConfig, bus_config: BusConfig,
                    stop: asyncio.Event | None = None) -> None:
    """Connect, recover, announce, serve; SIGTERM or SIGINT ends the jobs and returns."""
    bus = await connect(bus_config, actor=f"node:{config.node_id}", name=f"zos-node-{config.node_id}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        agent = Agent(bus, config)
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
        await bus.close(drain=False)
