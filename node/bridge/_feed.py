"""Bus → keys: job results become `result:<id>`, streamed output becomes `stream:<id>` and
`logger:<name>` (spec core0-protocol §4 step 6, §9, §10).

The bridge only mirrors the log: each follower reads its subject filter from the bridge's
start (results from 300 s earlier, so a restarted bridge still answers `response_for`) and
resumes after its last sequence when the bus comes back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from collections.abc import Callable, Coroutine

from zos.bus import (REDIS_KEY_HEADER, TRIM_HEADER, Bus, BusError, Delivered, aggregate_filter,
                     node_logs_filter)
from zos.events import JobResult

from ._store import Store

log = logging.getLogger("zos.node.bridge")

RESULT_TTL = 300
STREAM_TTL = 60
STREAM_KEEP = 1000
LOGGER_KEEP = 50000
MAX_WATCHED_NODES = 1024


def flag_key(job_id: str) -> bytes:
    return f"result:{job_id}:flag".encode()


def store_result(store: Store, result: JobResult, ttl: float = RESULT_TTL) -> None:
    """§4 step 6: the flag gets its TTL, the result is pushed and gets one too.

    A flag that is missing (a job submitted by another route than this bridge, or before a
    restart) is created, so `response_for(id)` finds the result.
    """
    job_id = result.id
    if not job_id:
        log.warning("result without id ignored: %.200r", result)
        return
    flag, key = flag_key(job_id), f"result:{job_id}".encode()
    if not store.exists(flag):
        store.push(flag, [b""], force=True)
    store.expire(flag, ttl)
    store.push(key, [result.to_json()], force=True)
    store.expire(key, ttl)


def store_record(store: Store, key: str, payload: bytes, trim: str | None = None) -> bool:
    """One LogRecord onto `stream:<id>` (keep 1000, TTL 60 s) or `logger:<name>` (keep `trim`)."""
    raw = key.encode()
    if key.startswith("stream:"):
        store.push(raw, [payload], force=True)
        store.ltrim(raw, -STREAM_KEEP, -1)
        store.expire(raw, STREAM_TTL)
        return True
    if key.startswith("logger:"):
        try:
            keep = int(trim) if trim else LOGGER_KEEP
        except ValueError:
            keep = LOGGER_KEEP
        store.push(raw, [payload], force=True)
        store.ltrim(raw, -(keep if keep > 0 else STREAM_KEEP), -1)
        return True
    return False


class Feed:
    """The followers of one bridge: results of the watched nodes, output of each of them."""

    def __init__(self, bus: Bus, store: Store, node_id: str) -> None:
        self.bus = bus
        self.store = store
        self.node_id = node_id
        self.nodes: set[str] = {node_id}
        self._spawn: Callable[[Coroutine[Any, Any, None]], object] | None = None
        self._since = dt.datetime.now(dt.UTC)

    def start(self, spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
        """Start the followers with `spawn` (the bridge's task group); routed nodes add more."""
        self._spawn = spawn
        self._since = dt.datetime.now(dt.UTC)
        spawn(self._follow(aggregate_filter("job"), self._on_result,
                           self._since - dt.timedelta(seconds=RESULT_TTL), types=["job.finished"]))
        spawn(self._follow_logs(self.node_id))

    def watch(self, node: str) -> None:
        """Also mirror results and output of `node` (a command was routed to it)."""
        if node in self.nodes or len(self.nodes) >= MAX_WATCHED_NODES:
            return
        self.nodes.add(node)
        if self._spawn is not None:
            self._spawn(self._follow_logs(node))

    def _follow_logs(self, node: str) -> Coroutine[Any, Any, None]:
        subject = node_logs_filter(node)
        return self._follow(subject, self._on_record, self._since - dt.timedelta(seconds=1),
                            decode_events=False)

    async def _follow(self, subject: str, handle: Callable[[Delivered], None],
                      since: dt.datetime, **options: Any) -> None:
        last_seq = 0
        while True:
            where = {"from_seq": last_seq + 1} if last_seq else {"since": since}
            try:
                async for item in self.bus.replay(subject, follow=True, **where, **options):
                    last_seq = item.seq
                    try:
                        handle(item)
                    except Exception:  # one bad message must not stop the mirror
                        log.exception("bridge: cannot apply %s seq %s", item.subject, item.seq)
            except BusError as exc:
                log.warning("bridge: following %s failed (%s); retrying in 1 s", subject, exc)
                await asyncio.sleep(1.0)

    def _on_result(self, item: Delivered) -> None:
        if item.event is None:
            return
        data = item.event.data
        if data.get("node") not in self.nodes or not isinstance(data.get("result"), dict):
            return
        age = (dt.datetime.now(dt.UTC) - item.time).total_seconds()
        if age < RESULT_TTL:
            store_result(self.store, JobResult.from_wire(data["result"]), RESULT_TTL - max(0.0, age))

    def _on_record(self, item: Delivered) -> None:
        key = item.headers.get(REDIS_KEY_HEADER)
        if not key or not store_record(self.store, key, item.data, item.headers.get(TRIM_HEADER)):
            log.debug("bridge: record on %s has no usable %s header: %r", item.subject,
                      REDIS_KEY_HEADER, key)
