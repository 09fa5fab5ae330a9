"""The JetStream layer against a real nats-server."""

import asyncio
import datetime as dt
import uuid

import pytest

from zos.bus import ConcurrencyError, dlq_subject, event_subject, token
from zos.events import Command, decode, new_event


def uid() -> str:
    return uuid.uuid4().hex[:12]


def test_subject_tokens():
    assert token("n1") == "n1"
    assert token("alice/ubuntu.flist").startswith("h_")
    assert len(event_subject("flist", "alice/ubuntu.flist").split(".")) == 4
    assert token("a.b") != token("a_b")


async def test_republished_event_is_deduplicated(bus):
    evt = new_event("node.stopped", "node", uid(), {"node": "x"})
    first = await bus.append(evt)
    again = await bus.append(evt)
    assert first == again
    items = [i async for i in bus.replay(event_subject("node", evt.aggregate_id))]
    assert [i.event.id for i in items] == [evt.id]


async def test_optimistic_concurrency_conflict(bus):
    node = uid()
    subject = event_subject("node", node)
    assert await bus.last_seq(subject) == 0
    seq1 = await bus.append(new_event("node.booted", "node", node, {"node": node}), expected_seq=0)
    assert await bus.last_seq(subject) == seq1
    # A writer that still believes the aggregate is new loses.
    with pytest.raises(ConcurrencyError) as info:
        await bus.append(new_event("node.stopped", "node", node, {"node": node}), expected_seq=0)
    assert info.value.actual == seq1 and info.value.expected == 0
    seq2 = await bus.append(new_event("node.stopped", "node", node, {"node": node}), expected_seq=seq1)
    assert seq2 > seq1


async def test_replay_order_and_filters(bus):
    agg = uid()
    events = [new_event("node.booted" if i % 2 == 0 else "node.stopped", "node", f"{agg}-{i % 3}",
                        {"node": f"{agg}-{i}"}) for i in range(30)]
    seqs = await bus.append_many(events)
    assert seqs == sorted(seqs)
    everything = [i async for i in bus.replay("zos.evt.node.*", from_seq=seqs[0])]
    ours = [i for i in everything if i.event.aggregate_id.startswith(agg)]
    assert [i.event.id for i in ours] == [e.id for e in events]
    assert [i.seq for i in ours] == seqs
    # subject filter: one aggregate instance
    one = [i async for i in bus.replay(event_subject("node", f"{agg}-1"))]
    assert [i.event.id for i in one] == [e.id for e in events if e.aggregate_id == f"{agg}-1"]
    # type filter
    stopped = [i async for i in bus.replay(event_subject("node", f"{agg}-1"), types=["node.stopped"])]
    assert stopped and all(i.event.type == "node.stopped" for i in stopped)
    # from-seq
    tail = [i async for i in bus.replay("zos.evt.node.*", from_seq=seqs[20])]
    assert [i.seq for i in tail if i.event.aggregate_id.startswith(agg)] == seqs[20:]


async def test_replay_by_time(bus):
    agg = uid()
    await bus.append(new_event("node.booted", "node", agg, {"node": "early"}))
    await asyncio.sleep(0.05)
    cut = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.05)
    await bus.append(new_event("node.booted", "node", agg, {"node": "late"}))
    since = [i.event.data["node"] async for i in bus.replay(event_subject("node", agg), since=cut)]
    assert since == ["late"]
    until = [i.event.data["node"] async for i in bus.replay(event_subject("node", agg), until=cut)]
    assert until == ["early"]


async def test_replay_of_empty_filter_ends(bus):
    assert [i async for i in bus.replay(event_subject("node", uid()))] == []


async def test_poison_message_goes_to_dlq_and_consumer_continues(bus):
    agg = uid()
    subject = event_subject("poison", agg)
    await bus.publish(subject, b"\x00not msgpack at all")
    good = new_event("node.booted", "node", agg, {"node": agg})
    await bus.append(good, subject=subject)
    seen = []
    stop = asyncio.Event()

    async def handler(item):
        seen.append(item.event.id)
        stop.set()

    await asyncio.wait_for(bus.consume(subject, f"test-{agg}", handler, stop=stop), 20)
    assert seen == [good.id]
    parked = [i async for i in bus.replay(dlq_subject("ZOS_EVENTS"), decode_events=False)]
    mine = [i for i in parked if i.headers.get("Zos-Dlq-Subject") == subject]
    assert len(mine) == 1
    assert mine[0].data == b"\x00not msgpack at all"
    assert "decode" in mine[0].headers["Zos-Dlq-Reason"]


async def test_failing_handler_is_retried_then_parked(bus):
    agg = uid()
    subject = event_subject("flaky", agg)
    bad = new_event("node.booted", "node", agg, {"node": "bad"})
    ok = new_event("node.booted", "node", agg, {"node": "ok"})
    await bus.append(bad, subject=subject)
    await bus.append(ok, subject=subject)
    attempts = []
    stop = asyncio.Event()

    async def handler(item):
        attempts.append(item.event.data["node"])
        if item.event.data["node"] == "bad":
            if attempts.count("bad") == 3:
                stop.set()  # the loop finishes this message (parking it), then returns
            raise RuntimeError("cannot handle")

    await asyncio.wait_for(bus.consume(subject, f"flaky-{agg}", handler, stop=stop, max_deliver=3), 30)
    # the good message was not held up by the failing one
    assert attempts.count("bad") == 3 and attempts.count("ok") == 1
    parked = [i async for i in bus.replay(dlq_subject("ZOS_EVENTS"), decode_events=False)]
    assert any(i.headers.get("Zos-Dlq-Subject") == subject and "cannot handle" in
               i.headers["Zos-Dlq-Reason"] for i in parked)


async def test_durable_consumer_resumes_where_it_stopped(bus):
    agg = uid()
    subject = event_subject("resume", agg)
    for n in range(5):
        await bus.append(new_event("node.booted", "node", agg, {"node": str(n)}), subject=subject)
    got = []
    stop = asyncio.Event()

    async def first(item):
        got.append(item.event.data["node"])
        if len(got) == 3:
            stop.set()

    await asyncio.wait_for(bus.consume(subject, f"resume-{agg}", first, stop=stop, batch=1), 20)
    stop2 = asyncio.Event()

    async def second(item):
        got.append(item.event.data["node"])
        if len(got) == 5:
            stop2.set()

    await asyncio.wait_for(bus.consume(subject, f"resume-{agg}", second, stop=stop2, batch=1), 20)
    assert got == ["0", "1", "2", "3", "4"]


async def test_command_is_published_once_per_id(bus):
    node = uid()
    cmd = Command.from_dict({"id": uid(), "command": "core.ping"})
    s1 = await bus.send_command(cmd, node)
    s2 = await bus.send_command(cmd, node)
    assert s1 == s2
    items = [i async for i in bus.replay(f"zos.cmd.{node}.>")]
    assert len(items) == 1 and items[0].subject == f"zos.cmd.{node}.default"
    assert decode(items[0].data).data["command"] == "core.ping"


async def test_streams_listing(bus):
    names = {row["stream"] for row in await bus.streams()}
    assert {"ZOS_EVENTS", "ZOS_COMMANDS", "ZOS_LOGS", "ZOS_IO", "ZOS_TLOG"} <= names


async def test_a_slow_reader_replays_a_big_log_to_the_end(bus):
    """The server pushes faster than a projector applies: the replay must neither drop messages
    (slow-consumer) nor give up (it once failed with "stalled for 5 s" here)."""
    node = "slow-" + uid()
    events = [new_event("node.booted", "node", node, {"node": node, "hostname": f"h{i}"})
              for i in range(60_000)]
    await bus.append_many(events)
    count = 0
    async for item in bus.replay(event_subject("node", node)):
        assert item.event.data["hostname"] == f"h{count}"
        count += 1
        if count % 3000 == 0:
            await asyncio.sleep(0.3)  # a batch committed in a thread: the loop keeps reading
    assert count == len(events)
