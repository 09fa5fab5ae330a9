"""The transaction log of a vdisk on JetStream (spec §6): records, the write-ahead filter,
start-up replay and the timeline used by restore.

Records on `zos.tlog.<vdisk>` (msgpack, `Zos-Type` header):
  tlog.batch  {v, vdisk, first, last, bs, t, ops: [[seq, index, op, t_ns, data], …]}
              op 1 = set, 2 = delete (data nil)
  tlog.base   {seq, source, source_seq, t}: "start from that vdisk's state at source_seq"
  tlog.rewind {to_seq, to_t, seq, by, reason}: discard the range (to_seq, seq)

A write is acknowledged once its blocks are queued here (and readable from the cache); a
single batcher publishes batches in order with `Nats-Expected-Last-Subject-Sequence`, so a
second writer fails instead of forking the log, then stores the blocks and records `lfseq`.
FLUSH returns only when everything queued before it is in the log and in storage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from zos.bus import TYPE_HEADER, Bus, BusError, BusUnavailable, tlog_subject, token
from zos.events import DecodeError, decode_value, encode_value

from ._backend import Block, BlockStore
from ._errors import RestoreError, TlogError

log = logging.getLogger("zos.disk.tlog")

OP_SET = 1
OP_DELETE = 2
BATCH = "tlog.batch"
BASE = "tlog.base"
REWIND = "tlog.rewind"
TLOG_STREAM = "ZOS_TLOG"
HEADROOM = 64 << 10


@dataclasses.dataclass
class _Op:
    seq: int
    index: int
    t: int
    data: Block


def encode_batch(vdisk: str, block_size: int, ops: Sequence[_Op]) -> bytes:
    return encode_value({
        "v": 1, "vdisk": vdisk, "first": ops[0].seq, "last": ops[-1].seq, "bs": block_size,
        "t": ops[-1].t,
        "ops": [[op.seq, op.index, OP_DELETE if op.data is None else OP_SET, op.t, op.data] for op in ops],
    })


def record_last_seq(kind: str, record: dict[str, Any]) -> int:
    """The highest vdisk sequence a record holds."""
    return int(record["last"] if kind == BATCH else record["seq"])


async def last_record(bus: Bus, vdisk: str) -> tuple[int, str, dict[str, Any]] | None:
    """(stream sequence, kind, record) of the vdisk's newest log record, or None."""
    try:
        last = await bus.last_message(tlog_subject(vdisk), decode_events=False)
    except BusError as exc:
        raise TlogError(f"cannot read the last tlog record of {vdisk}: {exc}") from exc
    if last is None:
        return None
    return last.seq, last.headers.get(TYPE_HEADER, BATCH), decode_value(last.data)


async def read_records(bus: Bus, vdisk: str) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
    """Every record of the vdisk's log in order as (stream seq, kind, record)."""
    async for item in bus.replay(tlog_subject(vdisk), decode_events=False):
        try:
            record = decode_value(item.data)
        except DecodeError as exc:
            raise TlogError(f"tlog record {item.seq} of {vdisk} does not decode: {exc}") from exc
        yield item.seq, item.headers.get(TYPE_HEADER, BATCH), record


async def append_record(bus: Bus, vdisk: str, kind: str, record: dict[str, Any]) -> int:
    """Append a base or rewind record after the vdisk's current last record."""
    last = await last_record(bus, vdisk)
    return await bus.publish(tlog_subject(vdisk), encode_value(record), type=kind,
                             expected_seq=last[0] if last else 0,
                             msg_id=f"tlog.{token(vdisk)}.{kind}.{record_last_seq(kind, record)}")


async def purge_log(bus: Bus, vdisk: str) -> None:
    """Drop every record of the vdisk (delete: after its storage is gone)."""
    try:
        await bus.purge(tlog_subject(vdisk))
    except BusError as exc:
        raise TlogError(f"cannot purge the tlog of {vdisk}: {exc}") from exc


# -- timeline (restore) -------------------------------------------------------------------------
async def state_at(bus: Bus, vdisk: str, *, until_ns: int | None = None,
                   until_seq: int | None = None, depth: int = 0) -> tuple[dict[int, Block], int]:
    """The blocks the log says the vdisk held at a time (or sequence): `{index: data|None}`
    for every block the log touched, and the last sequence applied.

    Rewinds discard the ops they undo; a base record starts from its source's state.
    """
    if depth > 16:
        raise RestoreError(f"tlog base chain of {vdisk} is deeper than 16 vdisks")
    ops: list[tuple[int, int, int, Block]] = []      # (seq, t, index, data)
    base: dict[int, Block] = {}
    found = False
    async for _, kind, record in read_records(bus, vdisk):
        found = True
        if kind == BASE:
            if until_ns is not None and record["t"] > until_ns:
                break
            base, _ = await state_at(bus, record["source"], until_seq=record["source_seq"],
                                     depth=depth + 1) if record.get("source") else ({}, 0)
            ops = []
        elif kind == REWIND:
            ops = [op for op in ops if op[0] <= record["to_seq"]]
        elif kind == BATCH:
            for seq, index, op, t, data in record["ops"]:
                ops.append((seq, t, index, None if op == OP_DELETE else data))
    if not found:
        raise RestoreError(f"vdisk {vdisk} has no transaction log (type without tlog, or purged)")
    state = dict(base)
    last = 0
    for seq, t, index, data in ops:
        if (until_ns is not None and t > until_ns) or (until_seq is not None and seq > until_seq):
            continue
        state[index] = data
        last = max(last, seq)
    return state, last


# -- the write-ahead filter ---------------------------------------------------------------------
class TlogFilter:
    """`BlockStore` filter: writes go to the log first, storage after the log has them."""

    def __init__(self, inner: BlockStore, bus: Bus, vdisk: str, *, batch_blocks: int = 128,
                 interval: float = 0.2, max_queue_bytes: int = 256 << 20, retry: float = 30.0,
                 on_error: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.inner = inner
        self.bus = bus
        self.vdisk = vdisk
        self.block_size = inner.block_size
        payload_cap = max(1, (bus.max_payload - HEADROOM) // (self.block_size + 64))
        self.batch_blocks = max(1, min(batch_blocks, payload_cap))
        self.interval = interval
        self.max_queue_bytes = max_queue_bytes
        self.retry = retry
        self.on_error = on_error
        self.subject = tlog_subject(vdisk)
        self._pending: list[_Op] = []
        self._cache: dict[int, tuple[int, Block]] = {}
        self._queued_bytes = 0
        self._next_seq = 1
        self._stored_seq = 0
        self._expected = 0                # stream sequence of our last record
        self._last_t = 0
        self._urgent = False
        self._failed: Exception | None = None
        self._cond = asyncio.Condition()
        self._task: asyncio.Task | None = None

    # -- start-up: resume the sequence, replay the gap ------------------------------------------
    async def start(self) -> int:
        """Resume after the log's last record; replay into storage what it lacks. Returns the
        number of ops replayed."""
        last = await last_record(self.bus, self.vdisk)
        raw = await self.inner.get_meta("lfseq")
        lfseq = int(raw) if raw else 0
        replayed = 0
        if last is not None:
            stream_seq, kind, record = last
            last_seq = record_last_seq(kind, record)
            self._expected = stream_seq
            self._next_seq = last_seq + 1
            self._last_t = int(record.get("t", 0))
            if lfseq < last_seq:
                replayed = await self._replay(lfseq)
                await self.inner.flush()
                await self.inner.set_meta("lfseq", str(last_seq).encode())
        self._stored_seq = self._next_seq - 1
        self._task = asyncio.create_task(self._batcher(), name=f"tlog-{self.vdisk}")
        return replayed

    async def _replay(self, after: int) -> int:
        count = 0
        batch: list[tuple[int, Block]] = []
        async for _, kind, record in read_records(self.bus, self.vdisk):
            if kind == REWIND:
                # A rollback rewrote storage before writing this: nothing older may be replayed.
                batch.clear()
                continue
            if kind != BATCH or record["last"] <= after:
                continue
            for seq, index, op, _, data in record["ops"]:
                if seq > after:
                    batch.append((index, None if op == OP_DELETE else data))
                    count += 1
            if len(batch) >= 1024:
                await self.inner.set_blocks(batch)
                batch = []
        await self.inner.set_blocks(batch)
        log.info("vdisk %s: replayed %d logged writes missing from storage (lfseq %d)",
                 self.vdisk, count, after)
        return count

    # -- BlockStore ---------------------------------------------------------------------------
    async def get_blocks(self, indices: Sequence[int]) -> list[Block]:
        cached = self._cache
        if not any(i in cached for i in indices):
            return await self.inner.get_blocks(indices)
        wanted = [i for i in indices if i not in cached]
        stored = dict(zip(wanted, await self.inner.get_blocks(wanted), strict=True)) if wanted else {}
        return [cached[i][1] if i in cached else stored[i] for i in indices]

    async def set_blocks(self, items: Sequence[tuple[int, Block]]) -> None:
        if self._failed:
            raise TlogError(f"tlog of {self.vdisk} failed: {self._failed}")
        size = sum(len(d) for _, d in items if d is not None)
        async with self._cond:
            if self._queued_bytes and self._queued_bytes + size > self.max_queue_bytes:
                self._urgent = True
                self._cond.notify_all()
                await self._cond.wait_for(lambda: self._failed or
                                          self._queued_bytes + size <= self.max_queue_bytes)
            now = max(time.time_ns(), self._last_t)   # clamp: timestamps never go back
            self._last_t = now
            for index, data in items:
                op = _Op(self._next_seq, index, now, data)
                self._next_seq += 1
                self._pending.append(op)
                self._cache[index] = (op.seq, data)
            self._queued_bytes += size
            if len(self._pending) >= self.batch_blocks:
                self._cond.notify_all()

    async def allocated(self, start: int, stop: int) -> set[int]:
        present = await self.inner.allocated(start, stop)
        for index, (_, data) in list(self._cache.items()):
            if start <= index < stop:
                if data is None:
                    present.discard(index)
                else:
                    present.add(index)
        return present

    async def flush(self) -> None:
        target = self._next_seq - 1
        async with self._cond:
            self._urgent = True
            self._cond.notify_all()
            await self._cond.wait_for(lambda: self._failed or self._stored_seq >= target)
            if self._stored_seq < target:
                raise TlogError(f"tlog of {self.vdisk} failed: {self._failed}")
        await self.inner.flush()

    async def get_meta(self, key: str) -> bytes | None:
        return await self.inner.get_meta(key)

    async def set_meta(self, key: str, value: bytes) -> None:
        await self.inner.set_meta(key, value)

    async def scan(self) -> AsyncIterator[tuple[int, bytes]]:
        await self.flush()
        async for item in self.inner.scan():
            yield item

    async def destroy(self) -> None:
        await self._stop()
        await self.inner.destroy()

    async def close(self) -> None:
        try:
            if not self._failed:
                await self.flush()
        finally:
            await self._stop()
            await self.inner.close()

    async def _stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # -- the batcher --------------------------------------------------------------------------
    async def _batcher(self) -> None:
        while True:
            async with self._cond:
                try:
                    async with asyncio.timeout(self.interval):
                        await self._cond.wait_for(
                            lambda: len(self._pending) >= self.batch_blocks or
                            (self._urgent and self._pending))
                except TimeoutError:
                    pass
                if not self._pending:
                    self._urgent = False
                    continue
                ops = self._pending[:self.batch_blocks]
            try:
                await self._publish(ops)
                await self._store(ops)
            except Exception as exc:
                log.error("tlog of vdisk %s failed: %s", self.vdisk, exc)
                async with self._cond:
                    self._failed = exc
                    self._cond.notify_all()
                if self.on_error:
                    await self.on_error(f"tlog: {exc}")
                return
            async with self._cond:
                del self._pending[:len(ops)]
                if not self._pending:
                    self._urgent = False
                self._cond.notify_all()

    async def _publish(self, ops: list[_Op]) -> None:
        payload = encode_batch(self.vdisk, self.block_size, ops)
        deadline = time.monotonic() + self.retry
        delay = 0.1
        while True:
            try:
                # Same Nats-Msg-Id on every retry: a publish that did land is deduplicated.
                self._expected = await self.bus.publish(self.subject, payload, type=BATCH,
                                                        expected_seq=self._expected,
                                                        msg_id=f"tlog.{token(self.vdisk)}.{ops[0].seq}")
                return
            except BusUnavailable as exc:
                if time.monotonic() > deadline:
                    raise TlogError(f"log unavailable for {self.retry} s: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except BusError as exc:
                raise TlogError(f"log refused batch {ops[0].seq}-{ops[-1].seq} "
                                f"(another writer?): {exc}") from exc

    async def _store(self, ops: list[_Op]) -> None:
        latest: dict[int, _Op] = {}
        for op in ops:
            latest[op.index] = op
        # A block rewritten by a newer queued op is stored when that op's batch is.
        todo = [op for op in latest.values() if self._cache.get(op.index, (0,))[0] == op.seq]
        await self.inner.set_blocks([(op.index, op.data) for op in todo])
        if not getattr(self.inner, "ordered", False):
            # The checkpoint must never run ahead of the blocks it covers.
            await self.inner.flush()
        await self.inner.set_meta("lfseq", str(ops[-1].seq).encode())
        async with self._cond:
            for op in todo:
                if self._cache.get(op.index, (0,))[0] == op.seq:
                    del self._cache[op.index]
            self._queued_bytes -= sum(len(op.data) for op in ops if op.data is not None)
            self._stored_seq = ops[-1].seq
