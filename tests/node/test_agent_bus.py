"""The agent on the bus: exactly-once execution, bad input, streams, crash recovery, the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import NodeAgent
from zos.bus import command_subject, dlq_subject, event_subject, io_subject, log_subject
from zos.events import Command, Event, command_to_event, decode_value, new_id
from zos.bus import call, wait_result
from zos.node import EXIT_ERROR, EXIT_SUCCESS, FLAG_STREAM


def uid() -> str:
    return "t-" + uuid.uuid4().hex[:12]


async def run(bus, node, command, arguments=None, **fields):
    return await call(bus, node, command, arguments or {}, timeout=90, **fields)


async def events_of(bus, job_id):
    return [item.event async for item in bus.replay(event_subject("job", job_id))]


# -- exactly once -------------------------------------------------------------------------------

async def test_redelivered_command_is_not_run_twice(bus, agent, tmp_path):
    runs = tmp_path / "runs"
    cmd = Command(id=uid(), command="bash", arguments={"script": f"echo run >> {runs}"})
    first = await run(bus, agent.node_id, "bash", cmd.arguments, id=cmd.id)
    assert first.state == "SUCCESS"
    # The same command again as a new message (what a redelivery or a resend outside the
    # server's dedup window looks like to the agent).
    again = dataclasses.replace(command_to_event(cmd, agent.node_id), id=new_id())
    await bus.append(again, subject=command_subject(agent.node_id))
    ping = await run(bus, agent.node_id, "core.ping")  # the agent has consumed past it
    assert ping.state == "SUCCESS"
    assert runs.read_text().splitlines() == ["run"]
    types = [e.type for e in await events_of(bus, cmd.id)]
    assert types == ["job.accepted", "job.started", "job.finished"]
    assert "was accepted before" in agent.log()


async def test_finished_result_is_served_again(bus, agent):
    result = await run(bus, agent.node_id, "core.ping")
    assert await wait_result(bus, result.id, timeout=10) == result


# -- bad input ------------------------------------------------------------------------------------

async def test_unknown_command_is_exactly_0core(bus, agent):
    result = await run(bus, agent.node_id, "core.kill", tags=["x"])  # Q20: not registered
    assert result.to_wire() == {"id": result.id, "command": "core.kill", "data": "", "level": 0,
                      "state": "UNKNOWN_CMD", "code": 0, "starttime": 0, "time": 0,
                      "tags": ["x"], "container": 0}


@pytest.mark.parametrize(("arguments", "field"), [
    pytest.param({"name": 5}, "name", id="int-for-str"),
    pytest.param({}, "name", id="missing"),
    pytest.param({"name": "ls", "args": "-l"}, "args", id="str-for-list"),
    pytest.param({"name": "ls", "args": [1]}, "args", id="list-of-int"),
    pytest.param({"name": "ls", "env": {"A": 1}}, "env", id="env-values"),
])
async def test_wrong_argument_types_are_400_naming_the_field(bus, agent, arguments, field):
    result = await run(bus, agent.node_id, "core.system", arguments)
    assert result.state == "ERROR" and result.code == 400 and result.level == 20
    assert f"'{field}'" in json.loads(result.data)


async def test_null_arguments_are_empty(bus, agent):
    # Q5 fixed: a builtin with `arguments: null` works.
    job_id = uid()
    event = Event("command", "job", job_id, {"id": job_id, "command": "core.ping", "arguments": None,
                                             "node": agent.node_id}, id=new_id())
    await bus.append(event, subject=command_subject(agent.node_id))
    result = await wait_result(bus, job_id, timeout=60)
    assert result.state == "SUCCESS"


async def dlq_reasons(bus, subject):
    return [item.headers.get("Zos-Dlq-Reason", "") async for item in bus.replay(dlq_subject("ZOS_COMMANDS"),
                                                                                  decode_events=False)
            if item.headers.get("Zos-Dlq-Subject") == subject]


async def test_garbage_on_the_command_subject_goes_to_the_dlq(bus, agent):
    subject = command_subject(agent.node_id, "garbage-" + uid()[2:])
    await bus.publish(subject, b"\xc1 this is not msgpack")
    assert (await run(bus, agent.node_id, "core.ping")).state == "SUCCESS"
    deadline = time.monotonic() + 30
    while not await dlq_reasons(bus, subject):
        assert time.monotonic() < deadline, "garbage was not parked"
        await asyncio.sleep(0.2)
    assert (await dlq_reasons(bus, subject))[0].startswith("decode")


async def test_command_with_mistyped_field_goes_to_the_dlq_naming_it(bus, agent):
    subject = command_subject(agent.node_id, "mistyped-" + uid()[2:])
    job_id = uid()
    await bus.append(Event("command", "job", job_id, {"id": job_id, "command": "core.ping",
                                                      "max_time": "soon"}, id=new_id()), subject=subject)
    deadline = time.monotonic() + 60
    while not await dlq_reasons(bus, subject):
        assert time.monotonic() < deadline, "mistyped command was not parked"
        await asyncio.sleep(0.3)
    assert "'max_time'" in (await dlq_reasons(bus, subject))[0]
    assert (await run(bus, agent.node_id, "core.ping")).state == "SUCCESS"


@pytest.mark.parametrize(("data", "reason"), [
    pytest.param({"command": "core.ping"}, "needs field 'id'", id="missing-id"),
    pytest.param({"id": "", "command": "core.ping"}, "without an id", id="empty-id"),
])
async def test_command_without_id_goes_to_the_dlq(bus, agent, data, reason):
    subject = command_subject(agent.node_id, "noid-" + uid()[2:])
    await bus.append(Event("command", "job", "x", data, id=new_id()), subject=subject)
    deadline = time.monotonic() + 60
    while not await dlq_reasons(bus, subject):
        assert time.monotonic() < deadline, "command without id was not parked"
        await asyncio.sleep(0.3)
    assert reason in (await dlq_reasons(bus, subject))[0]
    assert (await run(bus, agent.node_id, "core.ping")).state == "SUCCESS"


# -- streamed jobs (§8.2, §9) ----------------------------------------------------------------------

async def records_of(bus, node, job_id):
    items = [item async for item in bus.replay(log_subject(node, job_id), decode_events=False)]
    return [(json.loads(item.data), item.headers) for item in items]


async def test_stream_records_and_meta(bus, agent):
    result = await run(bus, agent.node_id, "bash", {"script": "echo out; echo err >&2; echo '3::note'"},
                       stream=True)
    records = await records_of(bus, agent.node_id, result.id)
    assert all(h["Zos-Redis-Key"] == f"stream:{result.id}" for _, h in records)
    metas = {r["message"]["message"]: r["message"]["meta"] for r, _ in records}
    assert metas["out"] == 65537 and metas["err"] == 131073 and metas["note"] == (3 << 16 | FLAG_STREAM)
    last = records[-1][0]
    assert last["message"] == {"message": "", "epoch": last["message"]["epoch"], "meta": 65539}
    assert last["core"] == 0 and last["command"] == result.id
    assert last["message"]["epoch"] > 1_500_000_000 * 10**9


async def test_stream_of_a_failing_job_ends_with_exit_error(bus, agent):
    result = await run(bus, agent.node_id, "bash", {"script": "exit 2"}, stream=True)
    records = await records_of(bus, agent.node_id, result.id)
    assert records[-1][0]["message"]["meta"] == 2 << 16 | FLAG_STREAM | EXIT_ERROR == 131077


async def test_stream_of_a_builtin(bus, agent):
    result = await run(bus, agent.node_id, "core.ping", stream=True)
    (record, _), = await records_of(bus, agent.node_id, result.id)
    assert record["message"]["meta"] == 20 << 16 | FLAG_STREAM | EXIT_SUCCESS == 1310723
    assert record["message"]["message"] == result.data


async def test_core_subscribe_replays_and_follows(bus, agent):
    watched = uid()
    script = "for i in 1 2 3; do echo line$i; done; sleep 1.5; echo late"
    job = asyncio.ensure_future(run(bus, agent.node_id, "bash", {"script": script}, id=watched))
    deadline = time.monotonic() + 30
    while "job.started" not in [e.type for e in await events_of(bus, watched)]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    sub = await run(bus, agent.node_id, "core.subscribe", {"id": watched}, stream=True)
    assert sub.state == "SUCCESS" and (await job).state == "SUCCESS"
    texts = [r["message"]["message"] for r, _ in await records_of(bus, agent.node_id, sub.id)]
    assert texts[:4] == ["line1", "line2", "line3", "late"]
    metas = [r["message"]["meta"] for r, _ in await records_of(bus, agent.node_id, sub.id)]
    assert metas[4] & 0x6  # the watched job's exit record is relayed


async def test_core_subscribe_to_missing_job_is_404(bus, agent):
    result = await run(bus, agent.node_id, "core.subscribe", {"id": "nope-" + uid()})
    assert result.state == "ERROR" and result.code == 404


# -- huge output (bounded memory) -----------------------------------------------------------------

def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def test_huge_output_keeps_memory_bounded(bus, agent):
    before = rss(agent.proc.pid)
    # 300 MB on one line without newline, and 200k short lines.
    result = await run(bus, agent.node_id, "bash", {
        "script": "head -c 300000000 /dev/zero | tr '\\0' 'x'; echo; seq 1 200000"})
    assert result.state == "SUCCESS"
    stdout = result.streams[0]
    assert stdout.endswith("199999\n200000\n") and len(stdout.split("\n")) == 100  # 99 + exit message
    grown = rss(agent.proc.pid) - before
    assert grown < 100 * 1024 * 1024, f"agent grew by {grown} bytes"


async def test_huge_lines_fit_the_result(bus, agent):
    result = await run(bus, agent.node_id, "bash", {"script": "head -c 5000000 /dev/zero | tr '\\0' 'y'"})
    assert result.state == "SUCCESS"
    assert 0 < len(result.streams[0]) <= 200 * 1024 and set(result.streams[0]) <= {"y", "\n"}


# -- node statistics ------------------------------------------------------------------------------

async def test_node_statistics_on_zos_io(bus, nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path, args=("--stats-interval", "0.5")).start()
    try:
        deadline = time.monotonic() + 30
        samples = []
        while len(samples) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
            samples = [decode_value(i.data) async for i in bus.replay(io_subject("node", node.node_id),
                                                                      decode_events=False)]
        assert samples[-1]["node"] == node.node_id and samples[-1]["mem_total"] > 0
        assert 0.0 <= samples[-1]["cpu_percent"] <= 100.0
        booted = [i.event async for i in bus.replay(event_subject("node", node.node_id))][0]
        assert booted.type == "node.booted"
        assert booted.data["cpus"] >= 1 and booted.data["memory"] > 0 and booted.data["kernel"]
        assert "lo" in booted.data["nics"] and booted.data["version"].startswith("Version:")
    finally:
        assert node.stop() == 0
    last = [i.event async for i in bus.replay(event_subject("node", node.node_id))][-1]
    assert last.type == "node.stopped"


# -- kill -9 of the agent mid-job, then restart ---------------------------------------------------

async def test_agent_killed_mid_job_records_error_after_restart(bus, nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path / "data").start()
    pidfile = tmp_path / "pid"
    job_id = uid()
    await bus.send_command(Command(id=job_id, command="bash",
                                   arguments={"script": f"echo $$ > {pidfile}; exec sleep 120"}), node.node_id)
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, node.log()
        await asyncio.sleep(0.05)
    pid = int(pidfile.read_text())
    node.kill()
    os.kill(pid, 0)  # the job outlived its agent
    node.start()
    try:
        result = await wait_result(bus, job_id, timeout=60)
        assert result.state == "ERROR" and result.code == 500
        assert "agent stopped while the job ran" in json.loads(result.data)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
            assert time.monotonic() < deadline, "the orphaned job was not killed"
            await asyncio.sleep(0.1)
        types = [e.type for e in await events_of(bus, job_id)]
        assert types == ["job.accepted", "job.started", "job.finished"]
        assert (await run(bus, node.node_id, "core.ping")).state == "SUCCESS"
    finally:
        node.stop()


# -- the CLI --------------------------------------------------------------------------------------

def zos(env, *args):
    return subprocess.run([sys.executable, "-m", "zos", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_publish_wait(agent, zos_env):
    out = zos(zos_env, "cmd", "publish", "--node", agent.node_id, "bash", '{"script": "echo X"}', "--wait")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["streams"] == ["X\n", ""] and result["state"] == "SUCCESS"
    out = zos(zos_env, "cmd", "publish", "--node", agent.node_id, "core.system",
              '{"name": "sleep", "args": ["10"]}', "--max-time", "1", "--wait")
    assert out.returncode == 1
    assert json.loads(out.stdout)["state"] == "TIMEOUT"


def test_cli_node_run_help(zos_env):
    out = zos(zos_env, "node", "run", "--help")
    assert out.returncode == 0 and "--redis-listen" in out.stdout and "--node-id" in out.stdout


async def test_sigterm_ends_running_jobs_with_a_result(bus, nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path / "data").start()
    job_id = uid()
    await bus.send_command(Command(id=job_id, command="core.system", arguments={"name": "sleep", "args": ["60"]}),
                           node.node_id)
    deadline = time.monotonic() + 30
    while "job.started" not in [e.type for e in await events_of(bus, job_id)]:
        assert time.monotonic() < deadline, node.log()
        await asyncio.sleep(0.05)
    assert node.stop() == 0
    result = await wait_result(bus, job_id, timeout=10)
    assert result.state == "ERROR" and result.code == 999
    assert not (node.data_dir / "node" / node.node_id / "ready").exists()


def test_public_names_are_pinned():
    import types

    import zos.node

    public = {name for name, value in vars(zos.node).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert sorted(zos.node.__all__) == sorted(public)


async def test_stop_kills_jobs_that_ignore_sigterm(bus, nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path / "data").start()
    job_id = uid()
    await bus.send_command(Command(id=job_id, command="bash",
                                   arguments={"script": "trap '' TERM; echo ready; sleep 60 & wait"}),
                           node.node_id)
    deadline = time.monotonic() + 30
    while "job.started" not in [e.type for e in await events_of(bus, job_id)]:
        assert time.monotonic() < deadline, node.log()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert node.stop(timeout=40) == 0
    result = await wait_result(bus, job_id, timeout=10)
    assert result.state == "ERROR" and result.code == 999


async def test_command_taken_but_never_accepted_runs_after_restart(bus, nats_url, tmp_path):
    """A crash after the consumer took a command but before the log stored its job.accepted:
    the journal still has the command, and the next agent accepts and runs it."""
    from zos.events import encode
    from zos.node._journal import Journal

    node = NodeAgent(nats_url, tmp_path / "data")
    marker = tmp_path / "ran"
    cmd = Command(id=uid(), command="bash", arguments={"script": f"echo once >> {marker}"})
    journal = Journal(tmp_path / "data" / "node" / node.node_id / "journal")
    journal.accepted(cmd.id, encode(command_to_event(cmd, node.node_id)))
    journal.close()
    node.start()
    try:
        result = await wait_result(bus, cmd.id, timeout=60)
        assert result.state == "SUCCESS" and marker.read_text() == "once\n"
        assert [e.type for e in await events_of(bus, cmd.id)] == ["job.accepted", "job.started", "job.finished"]
    finally:
        node.stop()
