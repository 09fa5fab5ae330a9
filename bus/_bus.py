"""The Bus: append events, send commands, replay and consume — all NATS calls live here."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import re
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

from zos.events import Command, DecodeError, Event, command_to_event, decode, encode

from ._errors import BusError, BusUnavailable, ConcurrencyError
from ._headers import (DLQ_REASON_HEADER, DLQ_SEQ_HEADER, DLQ_SUBJECT_HEADER, EXPECTED_SEQ_HEADER,
                       MSG_ID_HEADER, TYPE_HEADER)
from ._streams import STREAMS, ensure_streams, stream_for_subject
from ._subjects import command_subject, dlq_subject, event_subject

log = logging.getLogger("zos.bus")

WRONG_LAST_SEQUENCE = 10071
_LAST_SEQ = re.compile(r"wrong last sequence: (\d+)")
_REPLAY_BUFFER = 8192
_PENDING_MSGS = 1 << 20  # never a slow-consumer drop: flow control and the bytes limit bound memory
_STALL_SECONDS = 5.0  # a replay that receives nothing this long resumes on a new consumer
_STALL_LIMIT = 3
_BUSY_LINGER = 0.005
_ACK_TIMEOUT = 10.0  # s, as for an awaited publish  # s a busy consumer's fetch may hold a lone message


@dataclasses.dataclass(frozen=True)
class Delivered:
    """A message as read back from a stream: its place in the log and its decoded event.

    `event` is None when the payload is not an envelope (raw logs, I/O samples, tlog).
    """

    stream: str
    seq: int
    subject: str
    time: dt.datetime
    data: bytes
    headers: dict[str, str]
    event: Event | None
    num_delivered: int = 1
    num_pending: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form tools print and the API serves: envelope + stream, seq, subject.

        Bytes become `{"base64": ...}`; an undecodable payload is shown as `raw`.
        """
        body: dict[str, Any] = {"stream": self.stream, "seq": self.seq, "subject": self.subject}
        if self.event is not None:
            body.update(jsonable(self.event.to_dict()))
        else:
            body["raw"] = jsonable(self.data)
        return body


def jsonable(value: Any) -> Any:
    """A decoded msgpack value made JSON-safe (bytes → {"base64": ...}, keys → str)."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


Handler = Callable[[Delivered], Awaitable[None]]


def _time_arg(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Stalled(Exception):
    """An ordered consumer stopped delivering before the end of the log."""


def _raise_if_cancelling() -> None:
    """nats-py's subscribe can swallow a cancellation that lands while it sets up; the task
    would then follow forever. Honour the pending cancel here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


def _translate(exc: Exception) -> BusError:
    if isinstance(exc, (nats.errors.TimeoutError, nats.errors.NoServersError,
                        nats.errors.ConnectionClosedError, nats.js.errors.NoStreamResponseError,
                        asyncio.TimeoutError)):
        return BusUnavailable(f"NATS did not answer: {exc!r}")
    return BusError(str(exc))


def _publish_error(exc: Exception, subject: str, expected_seq: int | None) -> BusError:
    if isinstance(exc, nats.js.errors.APIError) and exc.err_code == WRONG_LAST_SEQUENCE:
        found = _LAST_SEQ.search(exc.description or "")
        return ConcurrencyError(subject, expected_seq or 0, int(found.group(1)) if found else None)
    return _translate(exc)


async def _sequence_of(ack: Awaitable[Any], subject: str) -> int:
    # nats-py's async publish has no deadline of its own: an ack lost with the connection
    # would be awaited forever.
    try:
        async with asyncio.timeout(_ACK_TIMEOUT):
            return (await ack).seq
    except Exception as exc:
        raise _publish_error(exc, subject, None) from exc


class Bus:
    """One connection to the log. Make it with `connect()`; close it with `close()`."""

    def __init__(self, nc: NATS, actor: str | None = None) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=10)
        self.actor = actor

    # -- writing -----------------------------------------------------------------------
    async def append(self, event: Event, expected_seq: int | None = None,
                     subject: str | None = None) -> int:
        """Append one event on its aggregate's subject; returns its stream sequence.

        `expected_seq` is the aggregate's last sequence as the caller saw it (0 = new
        aggregate); if the subject moved on, `ConcurrencyError`. A republished event (same
        id) is deduplicated by the server and returns the original sequence.
        """
        subject = subject or event_subject(event.aggregate, event.aggregate_id)
        return await self.publish(subject, encode(event), msg_id=event.id, type=event.type,
                                  expected_seq=expected_seq)

    async def append_many(self, events: Iterable[Event], window: int = 4096) -> list[int]:
        """Append many events pipelined (acks awaited together); returns their sequences."""
        futures = []
        try:
            for event in events:
                subject = event_subject(event.aggregate, event.aggregate_id)
                futures.append(await self.js.publish_async(
                    subject, encode(event), wait_stall=30,
                    headers={MSG_ID_HEADER: event.id, TYPE_HEADER: event.type}))
                if len(futures) % window == 0:
                    await asyncio.gather(*futures[-window:])
            acks = await asyncio.gather(*futures)
        except Exception as exc:
            raise _translate(exc) from exc
        return [ack.seq for ack in acks]

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None,
                      msg_id: str | None = None, *, type: str | None = None,
                      expected_seq: int | None = None) -> int:
        """Publish raw bytes on a stream subject (logs, I/O samples, tlog batches).

        `type` goes in the type header; `msg_id` is the dedup key; `expected_seq` makes the
        publish conditional on the subject's last sequence (`ConcurrencyError` otherwise).
        """
        headers = dict(headers or {})
        if msg_id:
            headers[MSG_ID_HEADER] = msg_id
        if type:
            headers[TYPE_HEADER] = type
        if expected_seq is not None:
            headers[EXPECTED_SEQ_HEADER] = str(expected_seq)
        try:
            ack = await self.js.publish(subject, payload, headers=headers or None)
        except Exception as exc:
            raise _publish_error(exc, subject, expected_seq) from exc
        return ack.seq

    async def append_async(self, event: Event) -> Awaitable[int]:
        """Send one event now, without waiting for the server's ack; await the returned
        awaitable for its stream sequence (or a `BusError`).

        Messages of one connection reach the server in the order they are sent, so events
        sent this way keep their order on the log; the caller must still await every ack
        before it relies on them (and re-append, same id, what failed). No expected sequence
        here: nats-py 2.16 loses the server's error answer to an async publish (the ack would
        only time out), so conditional appends use `append`.
        """
        subject = event_subject(event.aggregate, event.aggregate_id)
        headers = {MSG_ID_HEADER: event.id, TYPE_HEADER: event.type}
        try:
            ack = await self.js.publish_async(subject, encode(event), wait_stall=30, headers=headers)
        except Exception as exc:
            raise _translate(exc) from exc
        return asyncio.ensure_future(_sequence_of(ack, subject))

    async def send_command(self, command: Command, node: str, *, actor: str | None = None) -> int:
        """Put a command on the node's queue subject; a resend of the same id is deduplicated."""
        event = command_to_event(command, node, actor=actor or self.actor)
        return await self.append(event, subject=command_subject(node, command.queue or "default"))

    async def last_seq(self, subject: str) -> int:
        """The last sequence stored on one subject (0 when none): the OCC starting point."""
        last = await self.last_message(subject, decode_events=False)
        return last.seq if last is not None else 0

    async def last_message(self, subject: str, *, decode_events: bool = True) -> Delivered | None:
        """The newest message stored on one subject, or None when it has none."""
        stream = stream_for_subject(subject)
        try:
            msg = await self.js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        except Exception as exc:
            raise _translate(exc) from exc
        event = None
        if decode_events:
            try:
                event = decode(msg.data)
            except DecodeError:
                event = None
        stamp = msg.time if isinstance(getattr(msg, "time", None), dt.datetime) else dt.datetime.now(dt.UTC)
        return Delivered(stream=stream, seq=msg.seq or 0, subject=msg.subject or subject,
                         time=stamp, data=msg.data or b"", headers=dict(msg.headers or {}),
                         event=event)

    async def purge(self, subject: str) -> None:
        """Drop every stored message of one subject (a deleted vdisk's log, say)."""
        try:
            await self.js.purge_stream(stream_for_subject(subject), subject=subject)
        except Exception as exc:
            raise _translate(exc) from exc

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts, in bytes."""
        return self.nc.max_payload

    @property
    def is_closed(self) -> bool:
        return self.nc.is_closed

    @contextlib.asynccontextmanager
    async def listening(self, subject: str, handler: Callable[[Delivered], None]
                        ) -> AsyncIterator[None]:
        """Call `handler` for each message published on `subject` while the block runs.

        Live only: nothing stored is replayed and no consumer is created, so it is cheap enough
        for one short wait (the stored side is `last_message` or `replay`). Delivered items
        have `seq` 0: the server gives live messages no stream position.
        """
        def on_msg(msg: Msg) -> None:
            event = None
            try:
                event = decode(msg.data)
            except DecodeError:
                pass
            handler(Delivered(stream="", seq=0, subject=msg.subject, time=dt.datetime.now(dt.UTC),
                              data=msg.data, headers=dict(msg.headers or {}), event=event))

        async def cb(msg: Msg) -> None:
            on_msg(msg)

        try:
            sub = await self.nc.subscribe(subject, cb=cb)
        except Exception as exc:
            raise _translate(exc) from exc
        try:
            yield
        finally:
            if not self.nc.is_closed:
                try:
                    await sub.unsubscribe()
                except Exception:  # connection lost meanwhile: nothing left to release
                    log.debug("unsubscribe of %s failed", subject, exc_info=True)

    # -- reading -----------------------------------------------------------------------
    async def replay(self, subject: str = "zos.evt.>", *, from_seq: int | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None,
                     types: Sequence[str] = (), follow: bool = False,
                     decode_events: bool = True) -> AsyncIterator[Delivered]:
        """Read a subject filter in stream order with an ordered consumer.

        Stops at the end of the log unless `follow`. `types` filters on the type header.
        Undecodable payloads are yielded with `event=None` so tools can show them.
        A replay that stops receiving before the end resumes after the last message it gave
        (a new consumer); only `_STALL_LIMIT` resumptions in a row without progress fail it.
        """
        wanted = set(types)
        until_utc = until.astimezone(dt.UTC) if until and until.tzinfo else (
            until.replace(tzinfo=dt.UTC) if until else None)
        last_seq, stalls = 0, 0
        while True:
            if last_seq:
                start: dict[str, Any] = {"from_seq": last_seq + 1}
            else:
                start = {"from_seq": from_seq, "since": since}
            try:
                async for item in self._replay_once(subject, follow=follow,
                                                    decode_events=decode_events, **start):
                    last_seq, stalls = item.seq, 0
                    if until_utc and item.time > until_utc:
                        return
                    if not wanted or item.headers.get(TYPE_HEADER) in wanted or (
                            item.event is not None and item.event.type in wanted):
                        yield item
                return
            except _Stalled:
                stalls += 1
                if stalls >= _STALL_LIMIT:
                    raise BusUnavailable(f"replay of {subject} received nothing for "
                                         f"{_STALL_LIMIT} x {_STALL_SECONDS} s after sequence "
                                         f"{last_seq}") from None
                log.warning("replay of %s stalled after sequence %d; resuming", subject, last_seq)

    async def _replay_once(self, subject: str, *, from_seq: int | None, since: dt.datetime | None,
                           follow: bool, decode_events: bool) -> AsyncIterator[Delivered]:
        """One ordered consumer from a start point to the end (or forever with `follow`)."""
        stream = stream_for_subject(subject)
        if from_seq:
            policy, extra = api.DeliverPolicy.BY_START_SEQUENCE, {"opt_start_seq": from_seq}
        elif since:
            policy, extra = api.DeliverPolicy.BY_START_TIME, {"opt_start_time": _time_arg(since)}
        else:
            policy, extra = api.DeliverPolicy.ALL, {}
        config = api.ConsumerConfig(deliver_policy=policy, **extra)
        # Messages arrive through a callback into a local buffer and are drained in bursts:
        # next_msg() per message costs two tasks and ~5 loop turns, a third of the rate.
        buffer: collections.deque[Msg] = collections.deque()
        arrived = asyncio.Event()
        room = asyncio.Event()
        room.set()

        async def on_msg(msg: Msg) -> None:
            buffer.append(msg)
            arrived.set()
            if len(buffer) >= _REPLAY_BUFFER:
                room.clear()
                await room.wait()  # back-pressure: the server's flow control does the rest

        try:
            sub = await self.js.subscribe(subject, stream=stream, ordered_consumer=True,
                                          config=config, cb=on_msg,
                                          pending_msgs_limit=_PENDING_MSGS,
                                          pending_bytes_limit=256 * 1024 * 1024)
        except Exception as exc:
            raise _translate(exc) from exc
        _raise_if_cancelling()
        try:
            if not follow:
                # Nothing pending and nothing pushed yet: the filter matches nothing.
                info = await sub.consumer_info()
                if info.num_pending == 0 and info.delivered.consumer_seq == 0 and not buffer:
                    return
            while True:
                if not buffer:
                    arrived.clear()
                    try:
                        async with asyncio.timeout(None if follow else _STALL_SECONDS):
                            await arrived.wait()
                    except TimeoutError:
                        raise _Stalled() from None
                while buffer:
                    item = self._delivered(buffer.popleft(), decode_events)
                    if not room.is_set() and len(buffer) < _REPLAY_BUFFER // 2:
                        room.set()
                    yield item
                    if not follow and item.num_pending == 0:
                        return
        finally:
            room.set()
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may be gone; nothing left to release then
                log.debug("unsubscribe after replay failed", exc_info=True)

    @staticmethod
    def _delivered(msg: Msg, decode_events: bool) -> Delivered:
        meta = msg.metadata
        event = None
        if decode_events:
            try:
                event = decode(msg.data)
            except DecodeError:
                event = None
        return Delivered(stream=meta.stream, seq=meta.sequence.stream, subject=msg.subject,
                         time=meta.timestamp, data=msg.data, headers=dict(msg.headers or {}),
                         event=event, num_delivered=meta.num_delivered,
                         num_pending=meta.num_pending)

    async def consume(self, subject: str, durable: str, handler: Handler, *,
                      batch: int = 64, max_deliver: int = 5, ack_wait: float = 60.0,
                      stop: asyncio.Event | None = None) -> None:
        """Run a durable pull consumer until `stop` is set or the task is cancelled.

        Each message is acked after `handler` returns. A payload that does not decode, or
        whose handler failed `max_deliver` times, is parked on `zos.dlq.<stream>` with the
        reason, and the consumer goes on: nothing is silently dropped.
        """
        stream = stream_for_subject(subject)
        config = api.ConsumerConfig(durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT,
                                    ack_wait=ack_wait, max_deliver=-1, filter_subject=subject,
                                    max_ack_pending=10000)
        try:
            psub = await self.js.pull_subscribe(subject, durable=durable, stream=stream,
                                                config=config)
        except Exception as exc:
            raise _translate(exc) from exc
        _raise_if_cancelling()
        stop = stop or asyncio.Event()
        # nats-py's fetch(n) returns at once what is waiting, but when nothing is, it holds
        # the first arrival until n arrive or the timeout ends. So: while busy, ask for up to
        # `batch` with a short linger; once idle, wait for one message at a time.
        size, linger = 1, 1.0
        try:
            while not stop.is_set():
                try:
                    msgs = await psub.fetch(size, timeout=linger)
                except (TimeoutError, nats.errors.TimeoutError):
                    # nats-py raises either, depending on where the wait ran out
                    size, linger = 1, 1.0
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                    await asyncio.sleep(0.5)
                    continue
                size, linger = batch, _BUSY_LINGER
                for msg in msgs:
                    await self._handle(stream, msg, handler, max_deliver)
        finally:
            # Release the pull subscription, or a later drain() waits on it for its timeout.
            if not self.nc.is_closed:
                try:
                    await psub.unsubscribe()
                except Exception:  # connection lost meanwhile: nothing left to release
                    log.debug("unsubscribe of %s failed", durable, exc_info=True)

    async def _handle(self, stream: str, msg: Msg, handler: Handler, max_deliver: int) -> None:
        try:
            item = self._delivered(msg, decode_events=False)
            item = dataclasses.replace(item, event=decode(msg.data))
        except DecodeError as exc:
            log.warning("poison message %s seq %s: %s", msg.subject, msg.metadata.sequence.stream, exc)
            await self.park(stream, msg, f"decode: {exc}")
            await msg.ack()
            return
        try:
            await handler(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("handler failed on %s seq %s (delivery %s)", item.subject, item.seq,
                          item.num_delivered)
            if item.num_delivered >= max_deliver:
                await self.park(stream, msg, f"handler: {exc!r}")
                await msg.ack()
            else:
                await msg.nak(delay=min(2.0 ** item.num_delivered * 0.1, 5.0))
            return
        await msg.ack()

    async def park(self, stream: str, msg: Msg, reason: str) -> None:
        """Put a message on the stream's dead-letter subject, with where it came from and why."""
        meta = msg.metadata
        headers = {DLQ_SUBJECT_HEADER: msg.subject, DLQ_SEQ_HEADER: str(meta.sequence.stream),
                   DLQ_REASON_HEADER: reason[:1000],
                   MSG_ID_HEADER: f"dlq-{stream}-{meta.sequence.stream}"}
        await self.js.publish(dlq_subject(stream), msg.data, headers=headers)

    # -- inspection ----------------------------------------------------------------------
    async def streams(self) -> list[dict[str, Any]]:
        """Each zos stream with its subjects, message count, bytes and sequence range."""
        rows = []
        for spec in STREAMS:
            try:
                info = await self.js.stream_info(spec.name)
            except nats.js.errors.NotFoundError:
                continue
            state = info.state
            rows.append({"stream": spec.name, "subjects": list(info.config.subjects or []),
                         "messages": state.messages, "bytes": state.bytes,
                         "first_seq": state.first_seq, "last_seq": state.last_seq})
        return rows

    async def close(self, drain: bool = True) -> None:
        """Close the connection; `drain` first flushes what is in flight (skip it when every
        publish was awaited and a leftover subscription would make the drain wait)."""
        if not drain:
            await self.nc.close()
            return
        try:
            await self.nc.drain()
        except Exception:  # already closed or never connected: nothing to flush
            await self.nc.close()

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@dataclasses.dataclass(frozen=True)
class BusConfig:
    """Where the log is and how to log in: what the command line hands to every part."""

    urls: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None

    @classmethod
    def from_urls(cls, urls: str | Sequence[str], **auth: Any) -> BusConfig:
        """From a comma-separated URL text or a list of URLs."""
        found = [u.strip() for u in urls.split(",")] if isinstance(urls, str) else list(urls)
        return cls(urls=tuple(u for u in found if u), **auth)


async def connect(urls: str | Sequence[str] | BusConfig, *, user: str | None = None,
                  password: str | None = None, token: str | None = None,
                  creds: str | None = None, name: str = "zos", actor: str | None = None,
                  setup_streams: bool = True, replicas: int = 1,
                  connect_timeout: float = 5.0) -> Bus:
    """The one NATS connect helper: URL list (or a `BusConfig`), credentials, endless
    reconnect, streams ready."""
    if isinstance(urls, BusConfig):
        config = urls
    else:
        config = BusConfig.from_urls(urls, user=user, password=password, token=token, creds=creds)
    servers = list(config.urls)
    options: dict[str, Any] = dict(servers=servers, name=name, connect_timeout=connect_timeout,
                                   max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                   allow_reconnect=True)
    if config.user:
        options.update(user=config.user, password=config.password)
    if config.token:
        options["token"] = config.token
    if config.creds:
        options["user_credentials"] = config.creds

    async def _quiet(exc: Exception) -> None:
        log.debug("nats: %r", exc)
    options["error_cb"] = _quiet
    try:
        nc = await nats.connect(**options)
    except Exception as exc:
        raise BusUnavailable(f"cannot connect to NATS at {', '.join(servers)}: {exc!r}") from exc
    bus = Bus(nc, actor=actor)
    if setup_streams:
        try:
            await ensure_streams(bus.js, replicas)
        except Exception as exc:
            await nc.close()
            raise _translate(exc) from exc
    return bus
