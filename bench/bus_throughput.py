"""Append and replay throughput of zos.bus vs raw nats-py on the same server, same run.

    .venv/bin/python -m bench.bus_throughput [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import msgpack
import nats
from nats.js import api

from zos.bus import connect, event_subject
from zos.events import encode, new_event

from ._common import Timer, broker, table


def _events(n: int, run: str) -> list:
    return [new_event("node.booted", "node", f"{run}-{i % 100}", {"node": f"n{i}", "cpus": 4})
            for i in range(n)]


async def _raw_publish(js, events) -> None:
    futures = []
    for evt in events:
        subject = event_subject(evt.aggregate, evt.aggregate_id)
        futures.append(await js.publish_async(subject, encode(evt), wait_stall=30,
                                              headers={"Nats-Msg-Id": evt.id}))
    await asyncio.gather(*futures)


async def _raw_replay(js, subject: str, expected: int) -> int:
    """The fastest plain nats-py way: an ordered consumer with a callback, msgpack-unpacking
    each payload (what a hand-written replay must do to use the events)."""
    count = 0
    done = asyncio.Event()

    async def on_msg(msg) -> None:
        nonlocal count
        msgpack.unpackb(msg.data)
        count += 1
        if count == expected:
            done.set()

    sub = await js.subscribe(subject, ordered_consumer=True, cb=on_msg, pending_msgs_limit=-1,
                             pending_bytes_limit=-1,
                             config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL))
    await asyncio.wait_for(done.wait(), 120)
    await sub.unsubscribe()
    return count


async def run(n: int, url: str) -> str:
    nc = await nats.connect(url)
    js = nc.jetstream()
    bus = await connect(url, actor="bench")
    rows = []
    # append, pipelined: both sides encode the same envelopes and wait for every ack
    raw_events = _events(n, "raw" + uuid.uuid4().hex[:6])
    ours_events = _events(n, "ours" + uuid.uuid4().hex[:6])
    await _raw_publish(js, _events(2000, "warm"))  # first publishes pay for stream warm-up
    with Timer() as raw_t:
        await _raw_publish(js, raw_events)
    with Timer() as ours_t:
        await bus.append_many(ours_events)
    rows.append(("append, pipelined (events/s)", n / ours_t.seconds, n / raw_t.seconds, "events/s"))
    # append, one at a time (await each ack)
    k = max(1, n // 10)
    few_raw, few_ours = _events(k, "r1" + uuid.uuid4().hex[:6]), _events(k, "o1" + uuid.uuid4().hex[:6])
    with Timer() as raw_t:
        for evt in few_raw:
            await js.publish(event_subject(evt.aggregate, evt.aggregate_id), encode(evt),
                             headers={"Nats-Msg-Id": evt.id})
    with Timer() as ours_t:
        for evt in few_ours:
            await bus.append(evt)
    rows.append(("append, awaited one by one", k / ours_t.seconds, k / raw_t.seconds, "events/s"))
    # replay the whole event stream: raw ordered consumer vs bus.replay (which also decodes)
    total = (await js.stream_info("ZOS_EVENTS")).state.messages
    with Timer() as raw_t:
        await _raw_replay(js, "zos.evt.>", total)
    with Timer() as ours_t:
        count = 0
        async for _ in bus.replay("zos.evt.>"):
            count += 1
    assert count == total, (count, total)
    rows.append(("replay + decode vs raw ordered consumer + unpack", total / ours_t.seconds,
                 total / raw_t.seconds, "events/s"))
    await bus.close()
    await nc.close()
    return table(f"bus throughput, {n:,} events", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--nats", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    if args.nats:
        print(asyncio.run(run(args.events, args.nats)))
        return
    with broker() as url:
        print(asyncio.run(run(args.events, url)))


if __name__ == "__main__":
    main()
