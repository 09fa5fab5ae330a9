"""Bounded resources: a client that sends without reading is paused, not buffered without end;
the keyspace refuses client writes beyond its byte budget (redis-server's `maxmemory` OOM)."""

from __future__ import annotations

import threading
import time

import pytest

from zos.node.bridge import Store, StoreError

from .conftest import RawConnection

REQUESTS = 3_000


def test_a_client_that_does_not_read_is_paused_and_others_are_served(bridge):
    setup = RawConnection(bridge.port)
    setup.send(b"RPUSH big " + b" ".join([b"x" * 2000] * 10) + b"\r\n")
    assert setup.reply() == 10
    greedy = RawConnection(bridge.port, timeout=120)
    frame = b"*4\r\n$6\r\nLRANGE\r\n$3\r\nbig\r\n$1\r\n0\r\n$2\r\n-1\r\n"
    sender = threading.Thread(target=lambda: greedy.send(frame * REQUESTS), daemon=True)
    sender.start()
    time.sleep(1.0)  # not a condition, just time for it to stall: 60 MB of replies it does not read
    other = RawConnection(bridge.port)
    other.send(b"PING\r\nINFO memory\r\n")
    assert other.reply() == "PONG"
    assert b"used_memory:" in other.reply()
    for i in range(REQUESTS):
        assert len(greedy.reply()) == 10, f"reply {i}"
    sender.join(60)
    assert not sender.is_alive()
    greedy.send(b"PING\r\n")
    assert greedy.reply() == "PONG"


def test_store_refuses_client_writes_beyond_its_budget():
    store = Store(max_bytes=1000)
    store.push(b"k", [b"x" * 400])
    with pytest.raises(StoreError, match="OOM command not allowed when used memory > 'maxmemory'"):
        store.push(b"k", [b"y" * 700])
    with pytest.raises(StoreError, match="OOM"):
        store.set(b"s", b"z" * 900)
    assert store.llen(b"k") == 1
    store.push(b"result:1", [b"r" * 2000], force=True)  # the bridge's own writes are bounded by TTLs
    assert store.llen(b"result:1") == 1
    store.delete(b"result:1")
    store.pop(b"k")
    assert store.used == 0, "accounting returns to zero"


def test_store_accounting_follows_every_removal():
    now = [0.0]
    store = Store(clock=lambda: now[0])
    store.push(b"a", [b"1" * 10, b"2" * 10, b"3" * 10])
    store.ltrim(b"a", 1, 1)
    store.move(b"a", b"b")
    store.set(b"s", b"v" * 50, ttl=1)
    store.push(b"c", [b"c"])
    store.expire(b"c", 1)
    now[0] = 2.0
    assert store.sweep() == 2
    store.pop(b"b", count=5)
    assert len(store) == 0 and store.used == 0
