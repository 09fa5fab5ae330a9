"""An in-memory bus for unit tests of domain logic: the `Bus` interface, no server.

    bus = MemoryBus(actor="test")
    await bus.append(new_event("node.booted", "node", "n1", {"node": "n1"}))
    assert [i.event.type async for i in bus.replay("zos.evt.node.*")] == ["node.booted"]

It keeps every stream as one list, honours `Nats-Msg-Id` dedup, per-subject expected
sequences and subject wildcards, so domain code behaves as it does on JetStream. It is a
recorder (like eventsourcing's POPO recorder, httpx's MockTransport), never a stand-in where
the bus itself is under test: integration tests run a real nats-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from zos.events import Command, DecodeError, Event, command_to_event, decode, encode

from ._bus import Delivered, Handler
from ._errors import ConcurrencyError
from ._headers import DLQ_REASON_HEADER, EXPECTED_SEQ_HEADER, MSG_ID_HEADER, TYPE_HEADER
from ._streams import STREAMS, stream_for_subject
from ._subjects import command_subject, dlq_subject, event_subject, subject_matches

MAX_PAYLOAD = 1024 * 1024


class MemoryBus:
    """Same verbs as `Bus`; messages live in this object for its lifetime."""

    def __init__(self, actor: str | None = None, max_payload: int = MAX_PAYLOAD) -> None:
        self.actor = actor
        self._max_payload = max_payload
        self._log: dict[str, list[Delivered]] = {spec.name: [] for spec in STREAMS}
        self._ids: dict[tuple[str, str], int] = {}
        self._listeners: list[tuple[str, Callable[[Delivered], None]]] = []
        self._tick = asyncio.Event()  # set (and replaced) at each publish
        self._closed = False

    # -- writing -----------------------------------------------------------------------
    async def append(self, event: Event, expected_seq: int | None = None,
                     subject: str | None = None) -> int:
        subject = subject or event_subject(event.aggregate, event.aggregate_id)
        return await self.publish(subject, encode(event), msg_id=event.id, type=event.type,
                                  expected_seq=expected_seq)

    async def append_async(self, event: Event) -> Awaitable[int]:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            done.set_result(await self.append(event))
        except Exception as exc:
            done.set_exception(exc)
        return done

    async def append_many(self, events: Iterable[Event], window: int = 4096) -> list[int]:
        return [await self.append(event) for event in events]

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None,
                      msg_id: str | None = None, *, type: str | None = None,
                      expected_seq: int | None = None) -> int:
        stream = stream_for_subject(subject)
        headers = dict(headers or {})
        if msg_id:
            headers[MSG_ID_HEADER] = msg_id
        if type:
            headers[TYPE_HEADER] = type
        if expected_seq is not None:
            headers[EXPECTED_SEQ_HEADER] = str(expected_seq)
        if msg_id and (stream, msg_id) in self._ids:
            return self._ids[(stream, msg_id)]
        if expected_seq is not None:
            last = await self.last_seq(subject)
            if last != expected_seq:
                raise ConcurrencyError(subject, expected_seq, last)
        messages = self._log[stream]
        seq = len(messages) + 1
        try:
            event = decode(payload)
        except DecodeError:
            event = None
        item = Delivered(stream=stream, seq=seq, subject=subject, time=dt.datetime.now(dt.UTC),
                         data=payload, headers=headers, event=event)
        messages.append(item)
        if msg_id:
            self._ids[(stream, msg_id)] = seq
        for pattern, handler in list(self._listeners):
            if subject_matches(pattern, subject):
                handler(_live(item))
        self._tick.set()
        self._tick = asyncio.Event()
        return seq

    async def send_command(self, command: Command, node: str, *, actor: str | None = None) -> int:
        event = command_to_event(command, node, actor=actor or self.actor)
        return await self.append(event, subject=command_subject(node, command.queue or "default"))

    async def last_seq(self, subject: str) -> int:
        last = await self.last_message(subject, decode_events=False)
        return last.seq if last is not None else 0

    async def last_message(self, subject: str, *, decode_events: bool = True) -> Delivered | None:
        for item in reversed(self._log[stream_for_subject(subject)]):
            if item.subject == subject:
                return item
        return None

    async def purge(self, subject: str) -> None:
        stream = stream_for_subject(subject)
        # Sequences stay where they are: purged messages leave gaps, as on JetStream.
        self._log[stream] = [i if not subject_matches(subject, i.subject) else _purged(i)
                             for i in self._log[stream]]

    @property
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def is_closed(self) -> bool:
        return self._closed

    @contextlib.asynccontextmanager
    async def listening(self, subject: str, handler: Callable[[Delivered], None]
                        ) -> AsyncIterator[None]:
        entry = (subject, handler)
        self._listeners.append(entry)
        try:
            yield
        finally:
            self._listeners.remove(entry)

    # -- reading -----------------------------------------------------------------------
    async def replay(self, subject: str = "zos.evt.>", *, from_seq: int | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None,
                     types: Sequence[str] = (), follow: bool = False,
                     decode_events: bool = True) -> AsyncIterator[Delivered]:
        stream = stream_for_subject(subject)
        position = (from_seq or 1) - 1
        wanted = set(types)
        while True:
            messages = self._log[stream]
            while position < len(messages):
                item = messages[position]
                position += 1
                if item.subject == "" or not subject_matches(subject, item.subject):
                    continue
                if since and item.time < _aware(since):
                    continue
                if until and item.time > _aware(until):
                    return
                if wanted and item.headers.get(TYPE_HEADER) not in wanted:
                    continue
                yield item if decode_events else _raw(item)
            if not follow:
                return
            if len(self._log[stream]) <= position:
                await self._tick.wait()

    async def consume(self, subject: str, durable: str, handler: Handler, *,
                      batch: int = 64, max_deliver: int = 5, ack_wait: float = 60.0,
                      stop: asyncio.Event | None = None) -> None:
        """Hand each message to `handler` once, in order; failures past `max_deliver` are
        parked on the dead-letter subject, as `Bus.consume` does."""
        stream = stream_for_subject(subject)
        stop = stop or asyncio.Event()
        position = 0
        while not stop.is_set():
            messages = self._log[stream]
            while position < len(messages):
                item = messages[position]
                position += 1
                if item.subject == "" or not subject_matches(subject, item.subject):
                    continue
                if item.event is None:
                    await self.publish(dlq_subject(stream), item.data,
                                       {DLQ_REASON_HEADER: "decode: not an event envelope"})
                    continue
                for attempt in range(1, max_deliver + 1):
                    try:
                        await handler(_attempt(item, attempt))
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        if attempt == max_deliver:
                            await self.publish(dlq_subject(stream), item.data,
                                               {DLQ_REASON_HEADER: f"handler: {exc!r}"})
            stopping = asyncio.ensure_future(stop.wait())
            changed = asyncio.ensure_future(self._tick.wait())
            await asyncio.wait({stopping, changed}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            changed.cancel()

    async def streams(self) -> list[dict[str, Any]]:
        rows = []
        for spec in STREAMS:
            messages = [i for i in self._log[spec.name] if i.subject]
            rows.append({"stream": spec.name, "subjects": list(spec.subjects),
                         "messages": len(messages), "bytes": sum(len(i.data) for i in messages),
                         "first_seq": messages[0].seq if messages else 0,
                         "last_seq": len(self._log[spec.name])})
        return rows

    async def close(self, drain: bool = True) -> None:
        self._closed = True

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _live(item: Delivered) -> Delivered:
    return dataclasses.replace(item, stream="", seq=0)


def _raw(item: Delivered) -> Delivered:
    return dataclasses.replace(item, event=None)


def _attempt(item: Delivered, attempt: int) -> Delivered:
    return dataclasses.replace(item, num_delivered=attempt)


def _purged(item: Delivered) -> Delivered:
    # An empty subject marks a purged slot; readers skip it.
    return dataclasses.replace(item, subject="", data=b"", headers={}, event=None)
