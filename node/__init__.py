"""The node agent (0-core's core0): commands from the bus, the process manager, the builtins.

    await run_agent(config, BusConfig.from_urls("nats://127.0.0.1:4222"))  # serve (zos node run)
    result = await zos.bus.call(bus, "n1", "core.system", {"name": "ls"})  # ask, wait

The command line builds the typed `AgentConfig`; the agent never reads settings itself.
Builtins record what they change with `ctx.emit(...)` (domain events, caused by the job).
"""

from ._agent import Agent
from ._errors import (BridgeError, BuiltinError, CommandRejected, ConfigError, NodeError,
                      SpawnError)
from ._config import (AgentConfig, Extension, StartupService, parse_cmdline,
                      parse_extensions, parse_startup)
from ._messages import EXIT_ERROR, EXIT_SUCCESS, FLAG_STREAM, Message
from ._run import run_agent

__all__ = [
    "Agent",
    "AgentConfig",
    "BridgeError",
    "BuiltinError",
    "CommandRejected",
    "ConfigError",
    "EXIT_ERROR",
    "EXIT_SUCCESS",
    "Extension",
    "FLAG_STREAM",
    "Message",
    "NodeError",
    "SpawnError",
    "StartupService",
    "parse_cmdline",
    "parse_extensions",
    "parse_startup",
    "run_agent",
]
