"""`MemoryBus` keeps the `Bus` contract: the same scenarios run on both, the real one against
a real nats-server. Domain-logic tests may then use the in-memory bus with confidence."""

from __future__ import annotations

import asyncio
import inspect
import uuid

import pytest

from zos.bus import (Bus, ConcurrencyError, MemoryBus, ResultTimeout, call, connect, event_subject,
                     node_commands_filter, subject_matches, tlog_subject, wait_finished)
from zos.events import JobResult, command_from_event, new_event


def uid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(params=["memory", "nats"])
async def any_bus(request, nats_url):
    if request.param == "memory":
        yield MemoryBus(actor="test")
        return
    bus = await connect(nats_url, actor="test")
    try:
        yield bus
    finally:
        await bus.close()


def test_memory_bus_has_every_public_verb_of_bus_with_the_same_parameters():
    for name, member in vars(Bus).items():
        if name.startswith("_") or name in ("park",):
            continue
        twin = getattr(MemoryBus, name, None)
        assert twin is not None, f"MemoryBus lacks {name}"
        if callable(member):
            assert list(inspect.signature(member).parameters) == \
                list(inspect.signature(twin).parameters), name


@pytest.mark.parametrize("pattern,subject,expected", [
    ("zos.evt.job.*", "zos.evt.job.a", True), ("zos.evt.job.*", "zos.evt.job.a.b", False),
    ("zos.evt.>", "zos.evt.job.a", True), ("zos.evt.>", "zos.evt", False),
    ("zos.evt.job.a", "zos.evt.job.a", True), ("zos.evt.job.a", "zos.evt.job.b", False),
])
def test_subject_matching_follows_nats_wildcards(pattern, subject, expected):
    assert subject_matches(pattern, subject) is expected


async def test_append_dedups_and_checks_the_expected_sequence(any_bus):
    node = uid()
    subject = event_subject("node", node)
    first = new_event("node.booted", "node", node, {"node": node})
    seq = await any_bus.append(first, expected_seq=0)
    assert await any_bus.append(first) == seq  # same id: deduplicated
    assert await any_bus.last_seq(subject) == seq
    with pytest.raises(ConcurrencyError) as info:
        await any_bus.append(new_event("node.stopped", "node", node, {"node": node}), expected_seq=0)
    assert info.value.actual == seq
    last = await any_bus.last_message(subject)
    assert last is not None and last.event == first and last.seq == seq
    assert await any_bus.last_message(event_subject("node", uid())) is None


async def test_publish_with_type_and_expected_sequence_then_purge(any_bus):
    vdisk = uid()
    subject = tlog_subject(vdisk)
    one = await any_bus.publish(subject, b"one", type="batch", expected_seq=0, msg_id=f"{vdisk}-1")
    with pytest.raises(ConcurrencyError):
        await any_bus.publish(subject, b"two", type="batch", expected_seq=0)
    last = await any_bus.last_message(subject, decode_events=False)
    assert (last.seq, last.data, last.headers["Zos-Type"]) == (one, b"one", "batch")
    await any_bus.purge(subject)
    assert await any_bus.last_message(subject) is None
    assert [i async for i in any_bus.replay(subject)] == []


async def test_replay_filters_by_type_and_follows(any_bus):
    node = uid()
    subject = event_subject("node", node)
    await any_bus.append(new_event("node.booted", "node", node, {"node": node}))
    await any_bus.append(new_event("node.stopped", "node", node, {"node": node}))
    types = [i.event.type async for i in any_bus.replay(subject)]
    assert types == ["node.booted", "node.stopped"]
    assert [i.event.type async for i in any_bus.replay(subject, types=["node.stopped"])] == ["node.stopped"]

    async def third() -> str:
        async for item in any_bus.replay(subject, follow=True, types=["node.booted"]):
            if item.event.data.get("hostname") == "later":
                return item.event.type
        return ""
    follower = asyncio.ensure_future(third())
    await asyncio.sleep(0.2)
    await any_bus.append(new_event("node.booted", "node", node, {"node": node, "hostname": "later"}))
    assert await asyncio.wait_for(follower, 10) == "node.booted"


async def test_listening_sees_live_messages_only_while_open(any_bus):
    node = uid()
    subject = event_subject("node", node)
    seen: list[str] = []
    async with any_bus.listening(subject, lambda item: seen.append(item.event.type)):
        await any_bus.append(new_event("node.booted", "node", node, {"node": node}))
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
    await any_bus.append(new_event("node.stopped", "node", node, {"node": node}))
    await asyncio.sleep(0.1)
    assert seen == ["node.booted"]


async def test_call_waits_for_the_job_result_of_a_responder(any_bus):
    """A tiny responder on the bus (not an agent: the waiter is what is under test)."""
    node = uid()

    async def responder() -> None:
        async for item in any_bus.replay(node_commands_filter(node), follow=True):
            cmd = command_from_event(item.event)
            result = JobResult(id=cmd.id, command=cmd.command, state="SUCCESS", level=20,
                               data='"pong"', streams=["", ""], tags=cmd.tags)
            await any_bus.append(item.event.caused("job.finished", "job", cmd.id,
                                                   {"node": node, "result": result.to_wire()}))
    task = asyncio.ensure_future(responder())
    try:
        result = await call(any_bus, node, "core.ping", timeout=10, tags=["t"])
        assert (result.state, result.value(), result.tags) == ("SUCCESS", "pong", ["t"])
        finished = await wait_finished(any_bus, result.id, timeout=5)  # stored: found at once
        assert finished.seq > 0 and finished.result == result
        with pytest.raises(ResultTimeout):
            await wait_finished(any_bus, uid(), timeout=0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_consume_hands_each_message_once_and_parks_failures(any_bus):
    node = uid()
    subject = event_subject("node", node)
    for hostname in ("a", "boom", "c"):
        await any_bus.append(new_event("node.booted", "node", node, {"node": node, "hostname": hostname}))
    got: list[str] = []
    stop = asyncio.Event()

    async def handler(item) -> None:
        if item.event.data["hostname"] == "boom":
            raise RuntimeError("boom")
        got.append(item.event.data["hostname"])
        if len(got) == 2:
            stop.set()
    await asyncio.wait_for(any_bus.consume(subject, f"c-{node}", handler, max_deliver=2,
                                           stop=stop), 30)
    assert got == ["a", "c"]


async def test_append_async_keeps_order(any_bus):
    node = uid()
    subject = event_subject("node", node)
    acks = [await any_bus.append_async(new_event("node.booted", "node", node,
                                                 {"node": node, "hostname": f"h{i}"}))
            for i in range(50)]
    seqs = [await ack for ack in acks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50
    assert [i.event.data["hostname"] async for i in any_bus.replay(subject)] == \
        [f"h{i}" for i in range(50)]
