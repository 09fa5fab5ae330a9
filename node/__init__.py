"""The node agent (0-core's core0): commands from the bus, the process manager, the builtins.

    await run_agent(Settings(args, "node"), node_id="n1")          # serve (zos node run)
    result = await call(bus, "n1", "core.system", {"name": "ls"})  # ask, wait for the result

`call` / `wait_result` are the one way to wait for a job's 0-core result on the bus.
"""

from ._agent import Agent, CommandRejected
from ._call import ResultTimeout, call, send_and_wait, wait_result
from ._config import AgentConfig, ConfigError, Extension, StartupService, load_config
from ._messages import EXIT_ERROR, EXIT_SUCCESS, FLAG_STREAM, Message
from ._run import run_agent

__all__ = [
    "Agent",
    "AgentConfig",
    "CommandRejected",
    "ConfigError",
    "EXIT_ERROR",
    "EXIT_SUCCESS",
    "Extension",
    "FLAG_STREAM",
    "Message",
    "ResultTimeout",
    "StartupService",
    "call",
    "load_config",
    "run_agent",
    "send_and_wait",
    "wait_result",
]
