"""The keyspace: Redis lists and strings with expiry, and the clients blocked on lists.

Semantics follow redis-server where the 0-core client can see them: a key whose time is up
is missing for every command; a list that becomes empty is deleted; `move(k, k)` rotates a
list in place and keeps its TTL (the client re-reads `result:<id>` that way); a push wakes
blocked clients in the order they blocked.
"""

from __future__ import annotations

import collections
import itertools
import re
import time
from typing import Protocol
from collections.abc import Callable, Iterable
from .._errors import StoreError

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_OVERHEAD = 16  # counted per stored element, so a flood of empty strings is bounded too

Value = collections.deque | bytes


class Waiter(Protocol):
    """A client blocked on keys. The store calls `serve(key)` when `key` holds a non-empty list;
    the waiter pops what it needs and returns True, or returns False if it is gone."""

    keys: tuple[bytes, ...]

    def serve(self, key: bytes) -> bool: ...


def glob_to_regex(pattern: bytes) -> re.Pattern[bytes]:
    """Redis KEYS glob (`*`, `?`, `[a-z]`, `[^x]`, `\\x`) as a compiled regex."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i:i + 1]
        if c == b"\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1:i + 2]))
            i += 2
            continue
        if c == b"[":
            end = pattern.find(b"]", i + 1)
            body = pattern[i + 1:end]
            if end > i + 1 and body != b"^":
                negate = body.startswith(b"^")
                chars = [b"\\" + bytes([b]) if b in b"\\[]^" else bytes([b])
                         for b in body[1 if negate else 0:]]
                out.append(b"[" + (b"^" if negate else b"") + b"".join(chars) + b"]")
                i = end + 1
                continue
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile(b"(?s:" + b"".join(out) + b")\\Z")
    except re.error:  # e.g. `[z-a]`: redis-server matches nothing with it either
        return re.compile(b"(?!)")


class Store:
    """One keyspace (SELECT is accepted but all databases are this one).

    `max_bytes` bounds what clients may store (an `OOM` error beyond it, as redis-server with
    `maxmemory` and `noeviction`); writes made by the bridge itself pass `force=True`: they are
    bounded by their own TTLs and trims.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[bytes, Value] = {}
        self._expires: dict[bytes, float] = {}
        self._waiters: dict[bytes, collections.deque[Waiter]] = {}
        self._ready: collections.deque[bytes] = collections.deque()
        self._serving = False
        self.clock = clock
        self.max_bytes = max_bytes
        self.used = 0

    # -- keyspace -----------------------------------------------------------------------
    def _get(self, key: bytes) -> Value | None:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= self.clock():
            self._drop(key)
            return None
        return self._data.get(key)

    def _drop(self, key: bytes) -> None:
        value = self._data.pop(key, None)
        self._expires.pop(key, None)
        if value is not None:
            self.used -= self._cost(key, value)

    @staticmethod
    def _cost(key: bytes, value: Value) -> int:
        if isinstance(value, bytes):
            return len(key) + len(value) + _OVERHEAD
        return len(key) + sum(len(v) + _OVERHEAD for v in value)

    def _reserve(self, amount: int, force: bool) -> None:
        if not force and self.used + amount > self.max_bytes:
            raise StoreError(OOM)

    def _list(self, key: bytes) -> collections.deque | None:
        value = self._get(key)
        if value is not None and not isinstance(value, collections.deque):
            raise StoreError(WRONGTYPE)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def expiring(self) -> int:
        return len(self._expires)

    def exists(self, key: bytes) -> bool:
        return self._get(key) is not None

    def type_of(self, key: bytes) -> str:
        value = self._get(key)
        if value is None:
            return "none"
        return "string" if isinstance(value, bytes) else "list"

    def delete(self, key: bytes) -> bool:
        if self._get(key) is None:
            return False
        self._drop(key)
        return True

    def flush(self) -> None:
        self._data.clear()
        self._expires.clear()
        self.used = 0

    def expire(self, key: bytes, seconds: float) -> bool:
        """Set a key's time to live; a non-positive one deletes it (as redis-server does)."""
        if self._get(key) is None:
            return False
        if seconds <= 0:
            self._drop(key)
        else:
            self._expires[key] = self.clock() + seconds
        return True

    def persist(self, key: bytes) -> bool:
        if self._get(key) is None:
            return False
        return self._expires.pop(key, None) is not None

    def pttl(self, key: bytes) -> int:
        """Milliseconds left; -1 for a key without expiry, -2 for a missing key."""
        if self._get(key) is None:
            return -2
        deadline = self._expires.get(key)
        if deadline is None:
            return -1
        return max(0, round((deadline - self.clock()) * 1000))

    def ttl(self, key: bytes) -> int:
        ms = self.pttl(key)
        return ms if ms < 0 else (ms + 500) // 1000

    def keys(self, pattern: bytes) -> list[bytes]:
        match = glob_to_regex(pattern).match
        return [key for key in list(self._data) if match(key) and self._get(key) is not None]

    def sweep(self, limit: int = 100_000) -> int:
        """Delete up to `limit` keys whose time is up; returns how many went."""
        now = self.clock()
        gone = [key for key, deadline in list(self._expires.items())[:limit] if deadline <= now]
        for key in gone:
            self._drop(key)
        return len(gone)

    # -- strings ------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        value = self._get(key)
        if value is not None and not isinstance(value, bytes):
            raise StoreError(WRONGTYPE)
        return value

    def set(self, key: bytes, value: bytes, *, ttl: float | None = None, nx: bool = False,
            xx: bool = False, force: bool = False) -> bool:
        present = self._get(key) is not None
        if (nx and present) or (xx and not present):
            return False
        self._reserve(len(key) + len(value) + _OVERHEAD, force)
        self._drop(key)
        self._data[key] = value
        self.used += len(key) + len(value) + _OVERHEAD
        if ttl is not None:
            self._expires[key] = self.clock() + ttl
        return True

    # -- lists --------------------------------------------------------------------------
    def push(self, key: bytes, values: Iterable[bytes], *, left: bool = False,
             only_existing: bool = False, force: bool = False) -> int:
        """RPUSH / LPUSH (LPUSHX / RPUSHX with `only_existing`); returns the new length."""
        values = list(values)
        size = sum(map(len, values)) + _OVERHEAD * len(values)
        items = self._list(key)
        if items is None:
            if only_existing:
                return 0
            self._reserve(len(key) + size, force)
            items = self._data[key] = collections.deque()
            self.used += len(key)
        else:
            self._reserve(size, force)
        if left:
            items.extendleft(values)
        else:
            items.extend(values)
        self.used += size
        length = len(items)  # the reply counts what blocked clients are about to take
        if key in self._waiters:
            self._signal(key)
        return length

    def pop(self, key: bytes, *, left: bool = True, count: int | None = None) -> bytes | list[bytes] | None:
        """LPOP / RPOP: one element (None if missing), or up to `count` as a list (None if missing)."""
        items = self._list(key)
        if items is None:
            return None
        take = items.popleft if left else items.pop
        if count is None:
            value = take()
            self.used -= len(value) + _OVERHEAD
            if not items:
                self._drop(key)
            return value
        popped = [take() for _ in range(min(count, len(items)))]
        self.used -= sum(map(len, popped)) + _OVERHEAD * len(popped)
        if not items:
            self._drop(key)
        return popped

    def move(self, src: bytes, dst: bytes, *, src_left: bool = False, dst_left: bool = True,
             force: bool = False) -> bytes | None:
        """RPOPLPUSH / LMOVE. With `src == dst` the list rotates and keeps its TTL."""
        items = self._list(src)
        if items is None:
            return None
        if src == dst:
            value = items.popleft() if src_left else items.pop()
            if dst_left:
                items.appendleft(value)
            else:
                items.append(value)
            self._signal(dst)
            return value
        target = self._list(dst)  # WRONGTYPE before anything moves
        value = items[0] if src_left else items[-1]
        if target is None:
            self._reserve(len(dst) + len(value) + _OVERHEAD, force)
        self.pop(src, left=src_left)
        return value if self.push(dst, [value], left=dst_left, force=True) else None

    def llen(self, key: bytes) -> int:
        items = self._list(key)
        return 0 if items is None else len(items)

    @staticmethod
    def _span(length: int, start: int, stop: int) -> tuple[int, int]:
        if start < 0:
            start = max(0, length + start)
        if stop < 0:
            stop = length + stop
        return start, min(stop, length - 1)

    def lrange(self, key: bytes, start: int, stop: int) -> list[bytes]:
        items = self._list(key)
        if items is None:
            return []
        start, stop = self._span(len(items), start, stop)
        if start > stop:
            return []
        return list(itertools.islice(items, start, stop + 1))

    def ltrim(self, key: bytes, start: int, stop: int) -> None:
        items = self._list(key)
        if items is None:
            return
        start, stop = self._span(len(items), start, stop)
        if start > stop:
            self._drop(key)
            return
        for _ in range(len(items) - 1 - stop):
            self.used -= len(items.pop()) + _OVERHEAD
        for _ in range(start):
            self.used -= len(items.popleft()) + _OVERHEAD

    # -- blocking -----------------------------------------------------------------------
    def block(self, waiter: Waiter) -> None:
        """Queue a waiter on each of its keys (FIFO per key). Call only when none has data."""
        for key in waiter.keys:
            self._waiters.setdefault(key, collections.deque()).append(waiter)

    def unblock(self, waiter: Waiter) -> None:
        for key in waiter.keys:
            queue = self._waiters.get(key)
            if queue is None:
                continue
            try:
                queue.remove(waiter)
            except ValueError:
                pass
            if not queue:
                del self._waiters[key]

    def blocked(self) -> int:
        return len({id(w) for queue in self._waiters.values() for w in queue})

    def _signal(self, key: bytes) -> None:
        if key not in self._waiters:
            return
        self._ready.append(key)
        if self._serving:  # a waiter's own push (BRPOPLPUSH); the outer loop serves it
            return
        self._serving = True
        try:
            while self._ready:
                self._serve(self._ready.popleft())
        finally:
            self._serving = False

    def _serve(self, key: bytes) -> None:
        while True:
            queue = self._waiters.get(key)
            if not queue:
                return
            value = self._get(key)
            if not isinstance(value, collections.deque) or not value:
                return
            waiter = queue.popleft()
            if not queue:
                del self._waiters[key]
            self.unblock(waiter)
            waiter.serve(key)
