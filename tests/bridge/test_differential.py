"""Differential fuzzing: random sequences of key and list commands give the same replies from
the bridge and from a real redis-server."""

from __future__ import annotations

import uuid

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

keys = st.sampled_from(["a", "a", "b"])
rare_keys = st.sampled_from(["a", "b", "b", "c", "c", "c"])  # for what deletes or overwrites
values = st.binary(max_size=3)
indexes = st.integers(-5, 5)
pushes = st.tuples(st.sampled_from(["RPUSH", "LPUSH", "RPUSH", "LPUSH", "RPUSHX", "LPUSHX"]), keys,
                   st.lists(values, min_size=1, max_size=4)).map(lambda t: (t[0], t[1], *t[2]))
operations = st.one_of(
    pushes, pushes, pushes,
    st.tuples(st.sampled_from(["LPOP", "RPOP", "LLEN", "EXISTS", "TYPE", "GET", "TTL", "PERSIST"]), keys),
    st.tuples(st.just("DEL"), rare_keys),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), keys, st.integers(0, 4)),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM", "LRANGE"]), keys, indexes, indexes),
    st.tuples(st.just("LINDEX"), keys, indexes),
    st.tuples(st.sampled_from(["RPOPLPUSH", "BRPOPLPUSH"]), keys, keys).map(
        lambda t: t + ((0.01,) if t[0] == "BRPOPLPUSH" else ())),
    st.tuples(st.just("BLPOP"), keys, keys, st.just(0.01)),
    st.tuples(st.just("SET"), rare_keys, values),
    st.tuples(st.just("EXPIRE"), rare_keys, st.sampled_from([100, 0, -1])),
)

def run(client: redis.Redis, prefix: str, ops) -> list:
    replies = []
    for op in ops:
        name, key, *rest = op
        args = [prefix + key]
        if name in ("RPOPLPUSH", "BRPOPLPUSH", "BLPOP"):
            args.append(prefix + rest.pop(0))
        try:
            replies.append(client.execute_command(name, *args, *rest))
        except redis.ResponseError as exc:
            replies.append(("error", str(exc)))
    return replies


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operations, min_size=12, max_size=40))
def test_same_replies_as_redis_server(bridge, redis_url, ops):
    ours = redis.Redis(host="127.0.0.1", port=bridge.port, protocol=2, socket_timeout=30)
    peer = redis.Redis.from_url(redis_url, protocol=2, socket_timeout=30)
    prefix = uuid.uuid4().hex[:8] + ":"
    try:
        ops = [("RPUSH", "a", b"1", b"2", b"3", b"4", b"5", b"6"), ("RPUSH", "b", b"x", b"y"),
               ("SET", "c", b"s"), *ops]
        assert run(ours, prefix, ops) == run(peer, prefix, ops)
    finally:
        ours.close()
        peer.close()
