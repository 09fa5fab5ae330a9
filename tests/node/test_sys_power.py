"""core.reboot / core.poweroff (spec core0-protocol §12.1).

Refused unless the agent is PID 1 or allowed. The real path runs as PID 1 of a child PID
namespace that the test creates (`unshare --pid --fork`): there reboot(2) ends only that
namespace, its init dying of SIGHUP (restart) or SIGINT (power off), never the machine.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid

from pathlib import Path

import pytest

from tests.node._sys_fixtures import need_root, need_tool
from zos.node.builtins import BUILTINS, BuiltinError, Context
from zos.node.builtins.power import power_allowed
from zos.node import AgentConfig

CHILD = """
import asyncio, os, sys
from zos.node.builtins import BUILTINS, Context, load_all
load_all()
assert os.getpid() == 1, "not PID 1 of a new PID namespace: refusing to go on"
asyncio.run(BUILTINS[sys.argv[1]].func({}, Context(node_id="t", job_id="j")))
print("still alive")
"""


def run_power(name: str, ctx: Context) -> None:
    asyncio.run(BUILTINS[name].func({}, ctx))


@pytest.mark.parametrize("name", ["core.reboot", "core.poweroff"])
def test_refused_when_not_pid1_and_not_allowed(name: str) -> None:
    for ctx in (Context(node_id="t", job_id=uuid.uuid4().hex),
                Context(node_id="t", job_id="j", config=AgentConfig(node_id="t", data_dir=Path("/nonexistent"), allow_power=False))):
        with pytest.raises(BuiltinError) as exc:
            run_power(name, ctx)
        assert exc.value.code == 412 and "refused" in exc.value.message and "--allow-power" in exc.value.message


def test_allowed_by_settings() -> None:
    """The one check reads the agent's settings (flag, ZOS_ALLOW_POWER or TOML)."""
    assert power_allowed(Context("t", "j", config=AgentConfig(node_id="t", data_dir=Path("/x"),
                                                              allow_power=True)))
    assert not power_allowed(Context("t", "j", config=AgentConfig(node_id="t", data_dir=Path("/x"))))
    assert not power_allowed(Context("t", "j"))


@pytest.mark.parametrize("name, died_of", [("core.reboot", signal.SIGHUP), ("core.poweroff", signal.SIGINT)])
def test_pid1_reboots_its_pid_namespace(name: str, died_of: int) -> None:
    need_root()
    need_tool("unshare", "util-linux")
    done = subprocess.run(["unshare", "--pid", "--fork", sys.executable, "-c", CHILD, name],
                          capture_output=True, text=True, timeout=120)
    assert "still alive" not in done.stdout
    # unshare re-raises the signal its child died of.
    assert done.returncode == -died_of, (done.returncode, done.stderr)
