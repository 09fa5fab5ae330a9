"""The 0-core key protocol through the bridge (spec §4, §6, §9, §10), with current redis-py
replaying the exact call sequences of the original client. The node side is the bus: commands
are read from it and results / output records are written to it as the node agent does."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time
import uuid

import pytest
import redis

from zos.bus import log_subject, node_commands_filter
from zos.events import Command, command_from_event, new_event

from .conftest import BusAgent, cancel, default_handler, record, result_for

to_thread = asyncio.to_thread


def payload(job_id: str, command: str = "core.ping", arguments: dict | None = None, stream: bool = False) -> str:
    """What `Client.raw()` pushes: these fields, this order, json.dumps separators (spec §3)."""
    return json.dumps({"id": job_id, "command": command, "arguments": arguments or {}, "queue": None,
                       "max_time": None, "stream": stream, "tags": None})


async def commands_on_bus(bus, node: str) -> list[Command]:
    return [command_from_event(item.event) async for item in bus.replay(node_commands_filter(node))]


async def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


async def test_rpush_flags_at_once_then_sends_the_command(bus, bridge):
    r = bridge.redis()
    job = str(uuid.uuid4())

    def push_and_look():
        r.rpush("core:default", payload(job, "core.system", {"name": "ls", "args": ["/"], "dir": "",
                                                             "stdin": "", "env": None}))
        return r.exists(f"result:{job}:flag"), r.ttl(f"result:{job}:flag"), r.lrange(f"result:{job}:flag", 0, -1)
    assert await to_thread(push_and_look) == (1, -1, [b""])
    sent = await wait_for(lambda: commands_on_bus(bus, bridge.node))
    assert [(c.id, c.command, c.arguments["args"], c.queue, c.max_time) for c in sent] == \
        [(job, "core.system", ["/"], "", 0)]
    assert await to_thread(r.llen, "core:default") == 0, "the queue is consumed at once"


async def test_exact_call_sequence_of_raw_and_get(bus, bridge, bus_agent):
    """§6.2: RPUSH → BRPOPLPUSH flag 10 → EXISTS → BRPOPLPUSH result ≤10; then re-reads."""
    r = bridge.redis()
    job = str(uuid.uuid4())

    def call():
        r.rpush("core:default", payload(job))
        assert r.brpoplpush(f"result:{job}:flag", f"result:{job}:flag", 10) == b""
        assert r.exists(f"result:{job}:flag") == 1
        first = r.brpoplpush(f"result:{job}", f"result:{job}", 10)
        again = r.brpoplpush(f"result:{job}", f"result:{job}", 10)
        return first, again, r.ttl(f"result:{job}"), r.ttl(f"result:{job}:flag"), r.llen(f"result:{job}")
    first, again, ttl, flag_ttl, length = await to_thread(call)
    assert first == again, "response_for re-reads the same result"
    assert first.decode() == (
        '{"id":"' + job + '","command":"core.ping","data":"\\"PONG Version: zos @Revision: test\\"",'
        '"streams":["",""],"level":20,"state":"SUCCESS","code":0,"starttime":1530171234567,"time":1,'
        '"tags":null,"container":0}')
    assert 290 <= ttl <= 300 and 290 <= flag_ttl <= 300
    assert length == 1


async def test_unknown_job_is_not_found_at_once(bridge):
    r = bridge.redis()
    assert await to_thread(r.exists, f"result:{uuid.uuid4()}:flag") == 0
    assert await to_thread(r.execute_command, "LKEYEXISTS", f"result:{uuid.uuid4()}:flag") == 0
    assert await to_thread(r.execute_command, "LTTL", f"result:{uuid.uuid4()}:flag") == -2


@pytest.mark.parametrize("raw", [
    pytest.param(b"{not json", id="malformed-json"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param(b'["a list"]', id="not-an-object"),
    pytest.param(json.dumps({"id": "", "command": "core.ping"}).encode(), id="empty-id"),
    pytest.param(json.dumps({"command": "core.ping"}).encode(), id="no-id"),
    pytest.param(json.dumps({"id": "typed", "command": "core.ping", "max_time": "ten"}).encode(), id="wrong-type"),
])
async def test_bad_commands_are_dropped_without_flag_or_bus_message(bus, bridge, raw):
    r = bridge.redis()
    good = str(uuid.uuid4())

    def push():
        assert r.rpush("core:default", raw) == 1
        assert r.rpush("core:default", payload(good)) == 1
        return sorted(k.decode() for k in r.keys("result:*"))
    assert await to_thread(push) == [f"result:{good}:flag"]
    sent = await wait_for(lambda: commands_on_bus(bus, bridge.node))
    assert [c.id for c in sent] == [good], "only the valid command reached the bus"


async def test_duplicate_id_within_300s_keeps_the_old_result(bus, bridge, bus_agent):
    r = bridge.redis()
    job = str(uuid.uuid4())

    def run_twice():
        r.rpush("core:default", payload(job))
        first = r.brpoplpush(f"result:{job}", f"result:{job}", 10)
        r.rpush("core:default", payload(job, "bash", {"script": "echo other", "stdin": ""}))
        second = r.brpoplpush(f"result:{job}", f"result:{job}", 10)
        return first, second, r.llen(f"result:{job}")
    first, second, length = await to_thread(run_twice)
    assert first == second and length == 1
    assert [c.command for c in bus_agent.seen] == ["core.ping"]


async def test_stream_records_blpop_loop_ends_on_exit_flag(bus, bridge, bus_agent):
    """§6.3: BLPOP stream:<id> 10 until a record has 0x2/0x4."""
    r = bridge.redis()
    job = str(uuid.uuid4())

    def stream():
        r.rpush("core:default", payload(job, "bash", {"script": "echo hello", "stdin": ""}, stream=True))
        seen = []
        while True:
            item = r.blpop([f"stream:{job}"], 10)
            if item is None:
                break
            message = json.loads(item[1])["message"]
            seen.append((message["meta"] >> 16, message["message"], message["meta"] & 0xFF))
            if message["meta"] & 0x6:
                break
        return seen
    assert await to_thread(stream) == [(1, "hello", 0x1), (1, "", 0x3)]


async def test_stream_keeps_the_newest_1000_records(bus, bridge):
    job = str(uuid.uuid4())
    for i in range(1005):
        await bus.publish(log_subject(bridge.node, job), record(job, f"line {i}", 1 << 16 | 1),
                          headers={"Zos-Redis-Key": f"stream:{job}"})
    r = bridge.redis()
    await wait_for(lambda: to_thread(lambda: r.lindex(f"stream:{job}", -1) == record(job, "line 1004", 65537)))
    assert await to_thread(r.llen, f"stream:{job}") == 1000
    assert json.loads(await to_thread(r.lindex, f"stream:{job}", 0))["message"]["message"] == "line 5"
    assert 55 <= await to_thread(r.ttl, f"stream:{job}") <= 60


async def test_logger_queue_is_trimmed_to_its_size(bus, bridge):
    r = bridge.redis()
    queue = f"logger:{uuid.uuid4()}"
    for i in range(5):
        await bus.publish(log_subject(bridge.node, "logger"), record("j", f"m{i}", 1 << 16),
                          headers={"Zos-Redis-Key": queue, "Zos-Trim": "3"})
    await wait_for(lambda: to_thread(lambda: r.lindex(queue, -1) == record("j", "m4", 1 << 16)))
    got = [json.loads(x)["message"]["message"] for x in await to_thread(r.lrange, queue, 0, -1)]
    assert got == ["m2", "m3", "m4"]
    assert await to_thread(r.ttl, queue) == -1


async def test_other_nodes_and_foreign_keys_are_not_mirrored(bus, bridge):
    r = bridge.redis()
    job = str(uuid.uuid4())
    cmd = Command(id=job, command="core.ping")
    # another node's result and output, and a record trying to write a result key
    await bus.append(new_event("job.finished", "job", job, {"node": "someone-else", "result": result_for(cmd)}))
    await bus.publish(log_subject("someone-else", job), record(job, "x", 65537),
                      headers={"Zos-Redis-Key": f"stream:{job}"})
    await bus.publish(log_subject(bridge.node, job), b"forged", headers={"Zos-Redis-Key": f"result:{job}"})
    marker = str(uuid.uuid4())
    await bus.publish(log_subject(bridge.node, marker), record(marker, "m", 65537),
                      headers={"Zos-Redis-Key": f"stream:{marker}"})
    await wait_for(lambda: to_thread(r.exists, f"stream:{marker}"))  # everything before it was applied
    assert await to_thread(r.keys, f"*{job}*") == []


async def test_result_of_a_job_sent_elsewhere_is_served_with_a_flag(bus, bridge):
    """A job submitted by another route (API, CLI) still answers `response_for(id)`."""
    r = bridge.redis()
    cmd = Command(id=str(uuid.uuid4()), command="core.ping")
    await bus.append(new_event("job.finished", "job", cmd.id, {"node": bridge.node, "result": result_for(cmd)}))
    await wait_for(lambda: to_thread(r.exists, f"result:{cmd.id}"))
    assert await to_thread(r.exists, f"result:{cmd.id}:flag") == 1
    assert 290 <= await to_thread(r.ttl, f"result:{cmd.id}:flag") <= 300


async def test_restarted_bridge_serves_results_of_the_last_300s(bus, start_bridge):
    node = "br-" + uuid.uuid4().hex[:10]
    cmd = Command(id=str(uuid.uuid4()), command="core.ping")
    await bus.append(new_event("job.finished", "job", cmd.id, {"node": node, "result": result_for(cmd)}))
    running = start_bridge(node=node)
    r = running.redis()
    value = await wait_for(lambda: to_thread(r.brpoplpush, f"result:{cmd.id}", f"result:{cmd.id}", 1))
    assert json.loads(value)["id"] == cmd.id
    assert await to_thread(r.exists, f"result:{cmd.id}:flag") == 1


async def test_core_node_key_routes_to_another_node(bus, bridge):
    r = bridge.redis()
    other = "br-" + uuid.uuid4().hex[:10]
    agent = BusAgent(bus, other, default_handler)
    task = asyncio.create_task(agent.run())
    try:
        job = str(uuid.uuid4())

        def call():
            r.rpush(f"core:{other}", payload(job))
            return r.brpoplpush(f"result:{job}", f"result:{job}", 10)
        assert json.loads(await to_thread(call))["data"].startswith('"PONG')
        assert [c.id for c in agent.seen] == [job]
        assert await commands_on_bus(bus, bridge.node) == []
    finally:
        await cancel(task)


async def test_a_command_the_bus_refuses_gets_an_error_result(bridge):
    """Bigger than the NATS max payload (1 MiB): the waiting client gets ERROR 503, not silence."""
    r = bridge.redis()
    job = str(uuid.uuid4())

    def call():
        r.rpush("core:default", payload(job, "bash", {"script": "x" * (2 * 1024 * 1024), "stdin": ""}))
        assert r.exists(f"result:{job}:flag") == 1
        return r.brpoplpush(f"result:{job}", f"result:{job}", 20)
    result = json.loads(await to_thread(call))
    assert (result["state"], result["code"], result["level"]) == ("ERROR", 503, 20)
    assert "bus refused the command" in json.loads(result["data"])


async def test_many_blocked_clients_each_get_their_own_result(bus, bridge):
    import redis.asyncio as aioredis

    jobs = [Command(id=str(uuid.uuid4()), command="core.ping") for _ in range(200)]
    clients = [aioredis.Redis(host="127.0.0.1", port=bridge.port, socket_timeout=60) for _ in jobs]
    try:
        waits = [asyncio.create_task(c.brpoplpush(f"result:{j.id}", f"result:{j.id}", 30))
                 for c, j in zip(clients, jobs, strict=True)]
        probe = aioredis.Redis(host="127.0.0.1", port=bridge.port)
        await wait_for(lambda: _blocked(probe, len(jobs)))
        await probe.aclose()
        for job in reversed(jobs):
            await bus.append(new_event("job.finished", "job", job.id,
                                       {"node": bridge.node, "result": result_for(job)}))
        got = await asyncio.gather(*waits)
        assert [json.loads(value)["id"] for value in got] == [j.id for j in jobs]
    finally:
        for client in clients:
            await client.aclose()


async def _blocked(client, count: int) -> bool:
    return int((await client.info("clients"))["blocked_clients"]) >= count


async def test_auth_enabled(bus, start_bridge):
    running = start_bridge(password="s3cret-jwt")
    conn = running.raw()

    def talk():
        out = []
        for line in (b"PING\r\n", b"NOSUCH\r\n", b"AUTH\r\n", b"AUTH wrong\r\n", b"AUTH a b c\r\n",
                     b"AUTH s3cret-jwt\r\n", b"PING\r\n"):
            conn.send(line)
            out.append(conn.reply())
        return out
    assert await to_thread(talk) == [
        ("error", "permission denied, please call AUTH first with a valid JWT"),
        ("error", "permission denied, please call AUTH first with a valid JWT"),
        ("error", "invalid number of arguments"),
        ("error", "invalid jwt"),
        ("error", "invalid number of arguments"),
        "OK", "PONG"]
    conn.close()
    two = running.raw()
    two.send(b"AUTH user s3cret-jwt\r\nPING\r\n")  # spec Q18: the two-argument form is accepted
    assert await to_thread(lambda: (two.reply(), two.reply())) == ("OK", "PONG")
    two.close()
    # current redis-py authenticates inside `HELLO 3 AUTH default <password>`
    assert await to_thread(running.redis().ping)
    with pytest.raises(redis.ResponseError, match="invalid jwt"):
        await to_thread(redis.Redis(host="127.0.0.1", port=running.port, password="nope").ping)
    with pytest.raises(redis.ResponseError, match="permission denied"):
        await to_thread(redis.Redis(host="127.0.0.1", port=running.port).get, "x")


async def test_auth_disabled_accepts_any_password(bridge):
    conn = bridge.raw()
    conn.send(b"AUTH anything\r\nAUTH\r\nPING\r\n")
    assert await to_thread(lambda: [conn.reply() for _ in range(3)]) == ["OK", "OK", "PONG"]
    conn.close()
    assert await to_thread(redis.Redis(host="127.0.0.1", port=bridge.port, password="whatever").ping)


async def test_tls_with_a_self_signed_certificate(bus, start_bridge, tmp_path):
    running = start_bridge(tls=True)
    assert await to_thread(running.redis().ping)
    with pytest.raises(redis.ConnectionError):
        await to_thread(redis.Redis(host="127.0.0.1", port=running.port, socket_timeout=5).ping)
    pem = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{running.port}", "-showcerts"],
                         input=b"", capture_output=True, timeout=30).stdout
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True,
                          timeout=30).stdout.decode()
    assert "O = GIG" in text and "CA:TRUE" in text and "TLS Web Server Authentication" in text
    assert "Public-Key: (2048 bit)" in text


async def test_tls_with_a_configured_certificate(start_bridge, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/O=Configured/CN=zos", "-keyout", str(tmp_path / "bridge.key"),
                    "-out", str(tmp_path / "bridge.crt")], check=True, capture_output=True, timeout=60)
    running = start_bridge(tls=True, data_dir=tmp_path)
    assert await to_thread(running.redis().ping)
    pem = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{running.port}"],
                         input=b"", capture_output=True, timeout=30).stdout.decode()
    assert "O = Configured" in pem


async def test_feed_ignores_results_older_than_300s(bus, start_bridge):
    """A job.finished replayed at start but older than the result TTL is not resurrected."""
    from zos.node.bridge import Feed, Store

    store = Store()
    feed = Feed(bus, store, "n-old")
    cmd = Command(id=str(uuid.uuid4()), command="core.ping")
    event = new_event("job.finished", "job", cmd.id, {"node": "n-old", "result": result_for(cmd)})

    class Old:
        pass
    old = Old()
    old.event = event
    old.time = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=301)
    feed._on_result(old)
    assert len(store) == 0
    old.time = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=200)
    feed._on_result(old)
    assert 95 <= store.ttl(f"result:{cmd.id}".encode()) <= 100


async def test_bridge_stops_promptly_when_cancelled_during_start(bus, nats_url):
    """Cancelled at many points of its start, while its followers subscribe: it must still end."""
    from zos.bus import connect, free_port
    from zos.node.bridge import run_bridge

    bridge_bus = await connect(nats_url, actor="bridge")
    try:
        for attempt in range(24):
            task = asyncio.create_task(run_bridge(bridge_bus, "br-stop", "127.0.0.1", free_port()))
            await asyncio.sleep(0.0005 * attempt)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=30)
            assert done, f"attempt {attempt}: run_bridge ignored its cancellation"
    finally:
        await bridge_bus.nc.close()
