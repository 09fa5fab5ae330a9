"""One contract, two servers: every check here runs against the bridge and against a real
redis-server, so "Redis semantics" means what redis-server actually does."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import redis.asyncio as aioredis

from .conftest import RawConnection


@pytest.fixture(params=["bridge", "redis-server"])
async def server(request, start_bridge, redis_url):
    """(port, key prefix) of the server under test."""
    if request.param == "bridge":
        running = start_bridge()
        port = running.port
    else:
        port = int(redis_url.rsplit(":", 1)[1])
    yield port, f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def r(server):
    port, _ = server
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def k(server):
    return lambda name: server[1] + name


async def test_list_commands(r, k):
    assert await r.rpush(k("l"), "a", "b", "c") == 3
    assert await r.lpush(k("l"), "z") == 4
    assert await r.lrange(k("l"), 0, -1) == [b"z", b"a", b"b", b"c"]
    assert await r.lrange(k("l"), -2, 100) == [b"b", b"c"]
    assert await r.lrange(k("l"), 3, 1) == []
    assert await r.llen(k("l")) == 4
    assert await r.ltrim(k("l"), 1, -2)
    assert await r.lrange(k("l"), 0, -1) == [b"a", b"b"]
    assert await r.rpoplpush(k("l"), k("m")) == b"b"
    assert await r.lpop(k("l")) == b"a"
    assert await r.exists(k("l")) == 0, "an emptied list is deleted"
    assert await r.rpop(k("l")) is None
    await r.rpush(k("n"), *"12345")
    assert await r.lpop(k("n"), 2) == [b"1", b"2"]
    assert await r.rpop(k("n"), 10) == [b"5", b"4", b"3"]
    assert await r.lpop(k("n"), 2) is None
    assert await r.rpushx(k("none"), "x") == 0
    assert await r.exists(k("none")) == 0


async def test_strings_keys_and_types(r, k):
    assert await r.set(k("s"), "v")
    assert await r.get(k("s")) == b"v"
    assert await r.set(k("s"), "w", nx=True) is None
    assert await r.get(k("s")) == b"v"
    assert await r.type(k("s")) == b"string"
    await r.rpush(k("list"), "x")
    assert await r.type(k("list")) == b"list"
    assert await r.type(k("nothing")) == b"none"
    assert sorted(await r.keys(k("*"))) == sorted([k("s").encode(), k("list").encode()])
    assert await r.keys(k("l?st")) == [k("list").encode()]
    assert await r.keys(k("[kl]ist")) == [k("list").encode()]
    assert await r.exists(k("s"), k("list"), k("nothing")) == 2
    assert await r.delete(k("s"), k("nothing")) == 1
    with pytest.raises(redis.ResponseError, match="WRONGTYPE Operation against a key holding the wrong kind of value"):
        await r.get(k("list"))
    await r.set(k("str"), "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await r.rpush(k("str"), "y")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await r.blpop([k("str")], 0.1)


async def test_ttl_and_expiry(r, k):
    assert await r.ttl(k("missing")) == -2
    assert await r.pttl(k("missing")) == -2
    await r.rpush(k("l"), "x")
    assert await r.ttl(k("l")) == -1
    assert await r.expire(k("l"), 300)
    assert 299 <= await r.ttl(k("l")) <= 300
    assert 290_000 < await r.pttl(k("l")) <= 300_000
    assert not await r.expire(k("missing"), 10)
    assert await r.pexpire(k("l"), 150)
    deadline = time.monotonic() + 10
    while await r.exists(k("l")) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await r.exists(k("l")) == 0
    assert await r.ttl(k("l")) == -2
    assert await r.lrange(k("l"), 0, -1) == []
    await r.set(k("s"), "v", px=100)
    while await r.get(k("s")) is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await r.get(k("s")) is None
    await r.rpush(k("p"), "x")
    await r.expire(k("p"), 100)
    assert await r.persist(k("p"))
    assert await r.ttl(k("p")) == -1
    assert await r.expire(k("p"), -1)
    assert await r.exists(k("p")) == 0, "a negative EXPIRE deletes"


async def test_brpoplpush_same_key_rotates_in_place_and_keeps_ttl(r, k):
    await r.rpush(k("result"), "only")
    await r.expire(k("result"), 300)
    for _ in range(3):
        assert await r.brpoplpush(k("result"), k("result"), 1) == b"only"
    assert await r.lrange(k("result"), 0, -1) == [b"only"]
    assert 290 <= await r.ttl(k("result")) <= 300
    await r.rpush(k("q"), "1", "2", "3")
    assert await r.brpoplpush(k("q"), k("q"), 0) == b"3"
    assert await r.lrange(k("q"), 0, -1) == [b"3", b"1", b"2"]


async def test_blocking_pops_time_out_with_nil_after_fractional_timeouts(r, k):
    start = time.monotonic()
    assert await r.blpop([k("empty")], 0.3) is None
    assert await r.brpop([k("empty")], 0.25) is None
    assert await r.brpoplpush(k("empty"), k("dst"), 0.2) is None
    assert time.monotonic() - start >= 0.7, "each pop waited its whole timeout"
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        await r.blpop([k("empty")], -1)
    with pytest.raises(redis.ResponseError, match="timeout is not a float or out of range"):
        await r.execute_command("BLPOP", k("empty"), "soon")


async def test_blocking_pop_serves_first_non_empty_key(r, k):
    await r.rpush(k("b"), "from-b")
    assert await r.blpop([k("a"), k("b")], 1) == (k("b").encode(), b"from-b")
    assert await r.brpop([k("a"), k("b")], 0.05) is None


async def test_push_wakes_waiters_in_fifo_order(server, k):
    port, _ = server
    clients = [aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=60) for _ in range(21)]
    pusher, waiters = clients[0], clients[1:]
    try:
        tasks = []
        for client in waiters:  # block one at a time so the FIFO order is known
            tasks.append(asyncio.create_task(client.blpop([k("jobs")], 0)))
            while int((await pusher.info("clients"))["blocked_clients"]) < len(tasks):
                await asyncio.sleep(0.01)
        for i in range(len(waiters)):
            await pusher.rpush(k("jobs"), f"v{i}")
        got = await asyncio.gather(*tasks)
        assert [value for _, value in got] == [f"v{i}".encode() for i in range(len(waiters))]
        assert await pusher.llen(k("jobs")) == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_one_push_of_many_values_serves_many_waiters_and_brpoplpush_chains(server, k):
    port, _ = server
    clients = [aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=60) for _ in range(4)]
    try:
        first = asyncio.create_task(clients[0].blpop([k("src")], 5))
        mover = asyncio.create_task(clients[1].brpoplpush(k("src"), k("dst"), 5))
        tail = asyncio.create_task(clients[2].blpop([k("dst")], 5))
        while int((await clients[3].info("clients"))["blocked_clients"]) < 3:
            await asyncio.sleep(0.01)
        assert await clients[3].rpush(k("src"), "a", "b") == 2
        assert await first == (k("src").encode(), b"a")
        assert await mover == b"b"
        assert await tail == (k("dst").encode(), b"b"), "the moved value woke the dst waiter"
    finally:
        for client in clients:
            await client.aclose()


async def test_pipelining_keeps_order(r, k):
    async with r.pipeline(transaction=False) as pipe:
        for i in range(500):
            pipe.rpush(k("p"), i)
        pipe.lrange(k("p"), 0, 2)
        pipe.execute_command("NOSUCHCOMMAND")
        pipe.llen(k("p"))
        got = await pipe.execute(raise_on_error=False)
    assert got[:500] == list(range(1, 501))
    assert got[500] == [b"0", b"1", b"2"]
    assert isinstance(got[501], redis.ResponseError)
    assert got[502] == 500


def test_raw_pipelined_block_then_more_requests(server):
    """A blocked request holds back the requests pipelined after it, then they run in order."""
    port, prefix = server
    a, b = RawConnection(port), RawConnection(port)
    try:
        a.send(f"BLPOP {prefix}q 0\r\nPING\r\nLLEN {prefix}q\r\n".encode())
        b.send(f"RPUSH {prefix}q x y\r\n".encode())
        assert b.reply() == 2
        assert a.reply() == [f"{prefix}q".encode(), b"x"]
        assert a.reply() == "PONG"
        assert a.reply() == 1
    finally:
        a.close()
        b.close()


def test_unknown_command_keeps_the_connection(server):
    port, _ = server
    conn = RawConnection(port)
    try:
        conn.send(b"*2\r\n$7\r\nFOOBARX\r\n$3\r\narg\r\n*1\r\n$4\r\nPING\r\n")
        assert conn.reply() == ("error", "ERR unknown command 'FOOBARX', with args beginning with: 'arg' ")
        assert conn.reply() == "PONG"
        conn.send(b"\xff\xfe\x01 garbage\r\nPING\r\n")  # inline garbage is just an unknown command
        kind, text = conn.reply()
        assert kind == "error" and text.startswith("ERR unknown command")
        assert conn.reply() == "PONG"
        conn.send(b"*1\r\n$3\r\nGET\r\n")
        assert conn.reply() == ("error", "ERR wrong number of arguments for 'get' command")
    finally:
        conn.close()


@pytest.mark.parametrize("frame", [
    pytest.param(b"*1\r\n$2147483648\r\n", id="huge-bulk"),
    pytest.param(b"*1\r\n$-7\r\n", id="negative-bulk"),
    pytest.param(b"*abc\r\n", id="bad-array-length"),
    pytest.param(b"*2\r\n$4\r\nPING\r\n:12\r\n", id="integer-in-request"),
])
def test_protocol_errors_answer_then_close(server, frame):
    port, _ = server
    conn = RawConnection(port)
    try:
        conn.send(frame)
        kind, text = conn.reply()
        assert kind == "error" and text.startswith("ERR Protocol error")
        assert conn.closed_by_server()
    finally:
        conn.close()


def test_disconnect_while_blocked_loses_nothing(server):
    port, prefix = server
    gone, waiting, pusher = RawConnection(port), RawConnection(port), RawConnection(port)
    try:
        gone.send(f"BLPOP {prefix}k 0\r\n".encode())
        pusher.send(b"PING\r\n")
        assert pusher.reply() == "PONG"
        gone.close()
        waiting.send(f"BLPOP {prefix}k 0\r\n".encode())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server saw the close and has one waiter left
            pusher.send(b"INFO clients\r\n")
            if b"blocked_clients:1\r\n" in pusher.reply():
                break
            time.sleep(0.02)
        pusher.send(f"RPUSH {prefix}k v1\r\n".encode())
        assert pusher.reply() == 1
        assert waiting.reply() == [f"{prefix}k".encode(), b"v1"]
        pusher.send(f"LLEN {prefix}k\r\n".encode())
        assert pusher.reply() == 0
    finally:
        for conn in (waiting, pusher):
            conn.close()


async def test_select_client_and_command_replies(r):
    assert await r.execute_command("SELECT", 3) in (True, b"OK", "OK")
    assert await r.client_setname("tester")
    assert await r.client_getname() in ("tester", b"tester")
    assert await r.echo("hello") == b"hello"
    assert await r.ping()
