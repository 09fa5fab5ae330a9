"""Extensions and startup services from the agent's TOML config (spec §12.8, §14)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.conftest import NodeAgent
from zos.bus import event_subject
from zos.bus import call


@pytest.fixture
def configured(nats_url, tmp_path):
    log, guard = tmp_path / "startup.log", tmp_path / "guard.log"
    config = tmp_path / "agent.toml"
    config.write_text(f'''
[node]
cmdline = "debug zerotier=abc"
stats_interval = 0

[extension."test.greet"]
binary = "sh"
args = ["-c", "echo hello {{name}}; echo $GREETING; pwd; cat"]
cwd = "{tmp_path}"
env = {{GREETING = "hi"}}

[startup.first]
name = "bash"
args = {{script = "sleep 0.3; echo first >> {log}"}}
after = ["init"]
running_delay = -1

[startup.second]
name = "bash"
args = {{script = "echo second-{{zerotier}} >> {log}"}}
after = ["first", "net"]
running_delay = -1

[startup.never]
name = "bash"
args = {{script = "echo never >> {log}"}}
condition = "development and debug"

[startup.guard]
name = "bash"
args = {{script = "echo guard >> {guard}; sleep 0.2"}}
protected = true
''')
    agent = NodeAgent(nats_url, tmp_path / "data", args=("--config", str(config))).start()
    try:
        yield agent, log, guard
    finally:
        agent.stop()


async def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_extension_runs_its_binary(bus, configured):
    agent, _, _ = configured
    result = await call(bus, agent.node_id, "test.greet", {"name": "bob", "stdin": "piped"}, timeout=60)
    assert result.state == "SUCCESS" and result.level == 0
    assert result.streams[0] == f"hello bob\nhi\n{agent.data_dir.parent}\npiped\n"


async def test_startup_order_conditions_and_phases(bus, configured):
    agent, log, _ = configured
    await wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, what="startup")
    await asyncio.sleep(0.5)
    assert log.read_text().splitlines() == ["first", "second-abc"]
    finished = [i.event async for i in bus.replay(event_subject("job", f"startup-{agent.node_id}-first"))]
    assert finished[-1].type == "job.finished" and finished[-1].data["result"]["state"] == "SUCCESS"


async def test_protected_service_respawns_and_survives_kill(bus, configured):
    agent, _, guard = configured
    await wait_for(lambda: guard.exists() and len(guard.read_text().splitlines()) >= 3, what="respawns")
    listed = json.loads((await call(bus, agent.node_id, "job.list", {"id": "guard"}, timeout=60)).data)
    assert listed[0]["cmd"]["command"] == "bash"
    assert (await call(bus, agent.node_id, "job.killall", timeout=60)).state == "SUCCESS"
    killed = json.loads((await call(bus, agent.node_id, "job.kill", {"id": "guard"}, timeout=60)).data)
    assert killed is True
    runs = len(guard.read_text().splitlines())
    await wait_for(lambda: len(guard.read_text().splitlines()) > runs, what="respawn after kill")
    # A command may not take the id of a live service (Q4 fixed): dropped, nothing recorded.
    assert (await call(bus, agent.node_id, "job.list", {"id": "guard"}, timeout=60)).state == "SUCCESS"


async def test_bad_config_is_refused_with_the_key(nats_url, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[startup.x]\nname = "bash"\nafter = ["nowhere"]\n')
    agent = NodeAgent(nats_url, tmp_path / "data", node_id="bad-" + uuid.uuid4().hex[:6],
                      args=("--config", str(config)))
    with pytest.raises(RuntimeError, match="nowhere"):
        agent.start(timeout=60)


async def test_agent_with_redis_bridge_serves_the_0core_protocol(nats_url, tmp_path):
    import redis.asyncio as aioredis

    from zos.bus import free_port

    port = free_port()
    agent = NodeAgent(nats_url, tmp_path / "data", args=("--redis-listen", f"127.0.0.1:{port}")).start()
    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        job_id = str(uuid.uuid4())
        await client.rpush("core:default", json.dumps({
            "id": job_id, "command": "core.system", "arguments": {"name": "echo", "args": ["bridged"]},
            "queue": None, "max_time": None, "stream": False, "tags": None}))
        raw = await client.brpoplpush(f"result:{job_id}", f"result:{job_id}", 30)
        result = json.loads(raw)
        assert result["state"] == "SUCCESS" and result["streams"] == ["bridged\n", ""]
    finally:
        await client.aclose()
        agent.stop()
