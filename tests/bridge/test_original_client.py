"""The original 0-core python client (`0-core-client` from PyPI, zeroos.core0.client) driven
unchanged through the bridge, on current redis-py, with only `ssl=False` and a port (spec §17).

The node side answers through the bus as the agent does (`BusAgent`); tests/bridge/test_e2e.py
runs the same client against a real node agent."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from .conftest import BusAgent, cancel, result_for

import zeroos.core0.client as core0
to_thread = asyncio.to_thread


def handler(cmd):
    if cmd.command == "core.ping":
        return result_for(cmd, data=json.dumps("PONG Version: zos @Revision: test"), level=20), []
    if cmd.command == "bash" and cmd.arguments["script"] == "echo X":
        records = [("X", 1 << 16 | 1), ("", 1 << 16 | 0x3)] if cmd.stream else []
        return result_for(cmd, streams=("X\n", "")), records
    if cmd.command == "core.system" and cmd.arguments["name"] == "ls":
        return result_for(cmd, state="ERROR", code=1002, streams=("", "ls: /nope: No such file or directory\n")), []
    if cmd.command == "info.cpu":
        return result_for(cmd, data=json.dumps([{"cpu": 0, "modelName": "test"}]), level=20), []
    if cmd.command == "corex.terminate":
        return result_for(cmd, state="ERROR", code=500, data=json.dumps("no container with id '7'"), level=20), []
    if cmd.command == "core.system" and cmd.arguments["name"] == "sleep":
        return None, []  # still running
    return result_for(cmd, state="UNKNOWN_CMD"), []


@pytest.fixture
async def agent(bus, bridge):
    running = BusAgent(bus, bridge.node, handler)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        await cancel(task)


def client(bridge, **options):
    return core0.Client("127.0.0.1", port=bridge.port, ssl=False, **options)


async def test_constructor_ping_and_calls(bridge, agent):
    def calls():
        cl = client(bridge)  # the constructor runs a full core.ping job
        return cl.ping(), cl.bash("echo X").get(), cl.info.cpu()
    pong, result, cpus = await to_thread(calls)
    assert pong[:4] == "PONG"
    assert (result.state, result.code, result.stdout, result.stderr) == ("SUCCESS", 0, "X\n", "")
    assert cpus == [{"cpu": 0, "modelName": "test"}]
    assert [c.command for c in agent.seen] == ["core.ping", "core.ping", "bash", "info.cpu"]


async def test_errors_reach_the_caller(bridge, agent):
    def calls():
        cl = client(bridge)
        failed = cl.system("ls /nope").get()
        with pytest.raises(core0.ResultError) as raised:
            cl.json("corex.terminate", {"container": 7})
        return failed, raised.value
    failed, error = await to_thread(calls)
    assert (failed.state, failed.code) == ("ERROR", 1002) and failed.stderr.endswith("\n")
    assert (error.code, error.message) == (500, "\"no container with id '7'\"")


async def test_response_for_repeats_the_result(bridge, agent):
    def calls():
        cl = client(bridge)
        job = cl.raw("core.ping", {}).id
        first = cl.response_for(job).get()
        again = cl.response_for(job).get()
        return first.payload, again.payload, cl.response_for(job).exists, cl.response_for(job).running
    first, again, exists, running = await to_thread(calls)
    assert first == again and exists and not running


async def test_unknown_job_raises_job_not_found_at_once(bridge, agent):
    def call():
        cl = client(bridge)
        with pytest.raises(core0.JobNotFoundError):
            cl.response_for(str(uuid.uuid4())).get(timeout=60)
    await asyncio.wait_for(to_thread(call), 30)


async def test_running_job_times_out_client_side_with_fractional_slices(bridge, agent):
    def call():
        cl = client(bridge)
        response = cl.system("sleep 40")
        assert response.running, "flag without TTL while the job lives"
        with pytest.raises(TimeoutError):
            response.get(timeout=1.5)  # one BRPOPLPUSH of 1.5 s, then TimeoutError
    await to_thread(call)


async def test_stream_sees_every_line_and_stops_on_the_exit_record(bridge, agent):
    def call():
        cl = client(bridge)
        seen = []
        response = cl.raw("bash", {"script": "echo X", "stdin": ""}, stream=True)
        response.stream(lambda level, line, flags: seen.append((level, line, flags)))
        return seen, response.get().stdout
    seen, stdout = await to_thread(call)
    assert seen == [(1, "X", 0x1), (1, "", 0x3)]
    assert stdout == "X\n"


async def test_client_with_password(start_bridge, bus):
    running = start_bridge(password="a-jwt")
    agent = BusAgent(bus, running.node, handler)
    task = asyncio.create_task(agent.run())
    try:
        pong = await to_thread(lambda: core0.Client("127.0.0.1", port=running.port, password="a-jwt",
                                                    ssl=False).ping())
        assert pong.startswith("PONG")
        with pytest.raises(ConnectionError, match="Could not connect"):
            await to_thread(lambda: core0.Client("127.0.0.1", port=running.port, password="wrong", ssl=False))
    finally:
        await cancel(task)
