"""The original 0-core client against a real node agent (`zos node run --redis-listen`): the
conformance checklist of spec §17 items 1-5, through bridge, bus and process manager."""

from __future__ import annotations

import uuid

import pytest
import zeroos.core0.client as core0

from tests.conftest import NodeAgent
from zos.bus import free_port, wait_for_port


@pytest.fixture(scope="module")
def agent_port(nats_url, tmp_path_factory):
    port = free_port()
    agent = NodeAgent(nats_url, tmp_path_factory.mktemp("bridge-e2e"),
                      args=("--redis-listen", f"127.0.0.1:{port}")).start()
    try:
        wait_for_port("127.0.0.1", port, 30, agent.proc)
        yield port
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def cl(agent_port):
    return core0.Client("127.0.0.1", port=agent_port, ssl=False, timeout=30)


def test_ping_and_echo(cl):
    assert cl.ping()[:4] == "PONG"
    assert cl.bash("echo X").get().stdout == "X\n"


def test_failures_keep_their_codes(cl):
    failed = cl.system("ls /nope").get()
    assert failed.state == "ERROR" and failed.code > 1000 and failed.stderr.endswith("\n")
    missing = cl.system("nosuchbin-" + uuid.uuid4().hex[:6]).get()
    assert (missing.state, missing.code, missing.stdout) == ("ERROR", 404, "")


def test_max_time_kills_with_timeout(cl):
    result = cl.system("sleep 5", max_time=1).get()
    assert (result.state, result.code) == ("TIMEOUT", 999)


def test_stream_sees_every_line(cl):
    seen = []
    response = cl.raw("bash", {"script": "echo one; echo two; echo three >&2", "stdin": ""}, stream=True)
    response.stream(lambda level, line, flags: seen.append((level, line, flags)))
    assert [line for level, line, _ in seen if level == 1 and line] == ["one", "two"]
    assert [line for level, line, _ in seen if level == 2 and line] == ["three"]
    assert seen[-1][2] & 0x6, "the last record carries an exit flag"
    assert all(flags & 0x1 for _, _, flags in seen)


def test_response_for_repeats_and_resubmission_is_not_rerun(cl):
    job = str(uuid.uuid4())
    first = cl.raw("bash", {"script": "echo $RANDOM$RANDOM", "stdin": ""}, id=job).get()
    again = cl.response_for(job).get()
    assert first.payload == again.payload
    cl.raw("bash", {"script": "echo different", "stdin": ""}, id=job)
    assert cl.response_for(job).get().stdout == first.stdout


def test_unknown_job_and_unknown_command(cl):
    with pytest.raises(core0.JobNotFoundError):
        cl.response_for(str(uuid.uuid4())).get()
    result = cl.raw("core.nope", {}).get()
    assert (result.state, result.code) == ("UNKNOWN_CMD", 0)
