"""Process manager semantics of 0-core (spec §5, §7, §8), through the bus against a real agent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from zos.bus import event_subject
from zos.bus import call


def uid() -> str:
    return "t-" + uuid.uuid4().hex[:12]


async def run(bus, agent, command, arguments=None, **fields):
    return await call(bus, agent.node_id, command, arguments or {}, timeout=90, **fields)


async def job_events(bus, job_id):
    return [item.event.type async for item in bus.replay(event_subject("job", job_id))]


async def wait_started(bus, job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "job.started" in await job_events(bus, job_id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never started")


# -- result shapes and the trailing-newline rule (§5.3, §8.4) --------------------------------

async def test_success_stdout_ends_with_newline(bus, agent):
    result = await run(bus, agent, "core.system", {"name": "echo", "args": ["X"]})
    assert result.state == "SUCCESS" and result.code == 0
    assert result.streams == ["X\n", ""]
    assert result.level == 0 and result.data == ""
    assert set(result.to_wire()) == {"id", "command", "data", "streams", "level", "state", "code",
                           "starttime", "time", "tags", "container"}
    assert result.container == 0 and result.tags is None and result.starttime > 0


async def test_no_output_gives_empty_streams(bus, agent):
    result = await run(bus, agent, "core.system", {"name": "true"})
    assert result.streams == ["", ""] and result.state == "SUCCESS"


async def test_failure_stderr_ends_with_newline_and_code_is_1000_plus_status(bus, agent):
    result = await run(bus, agent, "bash", {"script": "printf 'a\\nb\\n'; echo oops >&2; exit 3"})
    assert result.state == "ERROR" and result.code == 1003
    assert result.streams == ["a\nb", "oops\n"]


async def test_ls_missing_path(bus, agent):
    result = await run(bus, agent, "core.system", {"name": "ls", "args": ["/nope-" + uid()]})
    assert result.state == "ERROR" and result.code == 1002
    assert result.streams[1].endswith("No such file or directory\n")


async def test_spawn_failure_is_404_without_streams(bus, agent):
    result = await run(bus, agent, "core.system", {"name": "nosuchbin-zos"})
    assert result.state == "ERROR" and result.code == 404 and result.level == 0
    assert result.data == 'exec: "nosuchbin-zos": executable file not found in $PATH'
    assert "streams" not in result.to_wire()


async def test_signal_death_is_999(bus, agent):
    result = await run(bus, agent, "bash", {"script": "kill -9 $$"})
    assert result.state == "ERROR" and result.code == 999


async def test_env_dir_and_stdin(bus, agent, tmp_path):
    result = await run(bus, agent, "core.system", {
        "name": "sh", "args": ["-c", "pwd; echo $ZOS_T; cat"], "dir": str(tmp_path),
        "env": {"ZOS_T": "value"}, "stdin": "from-stdin"})
    assert result.streams[0] == f"{tmp_path}\nvalue\nfrom-stdin\n"


async def test_tags_are_copied(bus, agent):
    result = await run(bus, agent, "core.ping", tags=["a", "b"])
    assert result.tags == ["a", "b"]


# -- the N:: / N::: line protocol (§8.3) -------------------------------------------------------

async def test_result_level_message_sets_data_and_level(bus, agent):
    script = "echo before; echo '20:::'; echo '{\"a\": 1,'; echo '\"b\": 2}'; echo ':::'; echo '3::public'"
    result = await run(bus, agent, "bash", {"script": script})
    assert result.level == 20 and json.loads(result.data) == {"a": 1, "b": 2}
    assert result.streams[0] == "before\n"  # protocol lines are not stdout (Q10)


async def test_critical_message(bus, agent):
    result = await run(bus, agent, "bash", {"script": "echo '9::disk on fire'"})
    assert result.critical == "disk on fire"


# -- max_time, kill, restarts, recurrence, queues (§7) ------------------------------------------

async def test_max_time_gives_timeout_999_and_kills_the_group(bus, agent, tmp_path):
    marker = tmp_path / "child-alive"
    script = f"(sleep 3; touch {marker}) & sleep 30"
    result = await run(bus, agent, "bash", {"script": script}, max_time=1)
    assert result.state == "TIMEOUT" and result.code == 999
    assert 900 <= result.time < 20000
    await asyncio.sleep(3.5)
    assert not marker.exists(), "the background child of the timed-out job survived"


async def test_builtin_past_max_time_is_timeout(bus, agent):
    # Fix of Q8: core.subscribe on a long job blocks; max_time ends it.
    long_id = uid()
    long_job = asyncio.ensure_future(run(bus, agent, "bash", {"script": "sleep 20"}, id=long_id))
    await wait_started(bus, long_id)
    result = await run(bus, agent, "core.subscribe", {"id": long_id}, max_time=1)
    assert result.state == "TIMEOUT" and result.code == 999
    assert (await run(bus, agent, "job.kill", {"id": long_id})).data == "true"
    assert (await long_job).code == 999


async def test_job_kill_gives_error_999(bus, agent):
    job_id = uid()
    waiting = asyncio.ensure_future(run(bus, agent, "core.system", {"name": "sleep", "args": ["40"]}, id=job_id))
    await wait_started(bus, job_id)
    killed = await run(bus, agent, "job.kill", {"id": job_id, "signal": 9})
    assert killed.state == "SUCCESS" and json.loads(killed.data) is True
    result = await waiting
    assert result.state == "ERROR" and result.code == 999
    missing = await run(bus, agent, "job.kill", {"id": "no-such-" + uid()})
    assert json.loads(missing.data) is False


async def test_max_restart_counts_total_runs(bus, agent, tmp_path):
    runs = tmp_path / "runs"
    result = await run(bus, agent, "bash", {"script": f"echo run >> {runs}; exit 1"}, max_restart=3)
    assert result.state == "ERROR" and result.code == 1001
    assert runs.read_text().splitlines() == ["run"] * 3  # Q31: total runs, not restarts


async def test_max_restart_stops_at_success(bus, agent, tmp_path):
    runs = tmp_path / "runs"
    script = f"echo run >> {runs}; [ $(wc -l < {runs}) -ge 2 ]"
    result = await run(bus, agent, "bash", {"script": script}, max_restart=5)
    assert result.state == "SUCCESS" and len(runs.read_text().splitlines()) == 2


async def test_recurring_job_killed_while_waiting_is_killed(bus, agent, tmp_path):
    runs = tmp_path / "runs"
    job_id = uid()
    waiting = asyncio.ensure_future(run(bus, agent, "bash", {"script": f"echo tick >> {runs}"},
                                        id=job_id, recurring_period=1))
    deadline = time.monotonic() + 30
    while not (runs.exists() and len(runs.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline, "recurring job did not run twice"
        await asyncio.sleep(0.1)
    assert not waiting.done(), "a live recurring job must not have a result (Q7)"
    await run(bus, agent, "job.kill", {"id": job_id})
    result = await waiting
    assert result.state == "KILLED"


async def test_named_queue_runs_one_job_after_another(bus, agent, tmp_path):
    log = tmp_path / "log"
    queue = "q-" + uid()
    script = f"echo start $(date +%s.%N) >> {log}; sleep 0.5; echo end $(date +%s.%N) >> {log}"
    results = await asyncio.gather(*(run(bus, agent, "bash", {"script": script}, queue=queue)
                                     for _ in range(3)))
    assert all(r.state == "SUCCESS" for r in results)
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in lines] == ["start", "end"] * 3, lines


async def test_unnamed_jobs_run_at_once(bus, agent, tmp_path):
    log = tmp_path / "log"
    script = f"echo start >> {log}; sleep 1; echo end >> {log}"
    await asyncio.gather(*(run(bus, agent, "bash", {"script": script}) for _ in range(3)))
    assert log.read_text().splitlines()[:3] == ["start"] * 3


async def test_recurring_job_blocks_its_queue_until_killed(bus, agent, tmp_path):
    queue = "q-" + uid()
    recurring_id = uid()
    recurring = asyncio.ensure_future(run(bus, agent, "bash", {"script": "true"}, id=recurring_id,
                                          queue=queue, recurring_period=1))
    await wait_started(bus, recurring_id)
    follower_id = uid()
    follower = asyncio.ensure_future(run(bus, agent, "core.ping", id=follower_id, queue=queue))
    await asyncio.sleep(2.5)
    assert "job.started" not in await job_events(bus, follower_id)
    await run(bus, agent, "job.kill", {"id": recurring_id})
    assert (await recurring).state == "KILLED"
    assert (await follower).state == "SUCCESS"


async def test_kill_of_queued_job_is_killed(bus, agent):
    queue = "q-" + uid()
    head_id, queued_id = uid(), uid()
    head = asyncio.ensure_future(run(bus, agent, "core.system", {"name": "sleep", "args": ["30"]},
                                     id=head_id, queue=queue))
    await wait_started(bus, head_id)
    queued = asyncio.ensure_future(run(bus, agent, "core.ping", id=queued_id, queue=queue))
    deadline = time.monotonic() + 30
    while "job.accepted" not in await job_events(bus, queued_id):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await run(bus, agent, "job.kill", {"id": queued_id})
    assert (await queued).state == "KILLED"
    await run(bus, agent, "job.kill", {"id": head_id})
    assert (await head).code == 999


async def test_events_of_a_job(bus, agent):
    result = await run(bus, agent, "bash", {"script": "exit 1"}, max_restart=2)
    types = await job_events(bus, result.id)
    assert types == ["job.accepted", "job.started", "job.started", "job.finished"]


async def test_nul_bytes_are_a_spawn_failure(bus, agent):
    result = await run(bus, agent, "core.system", {"name": "echo", "args": ["a\x00b"]})
    assert result.state == "ERROR" and result.code == 404 and "null byte" in result.data
