"""`zos events tail|replay`: read the event log, the debugging tool."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from zos.bus import Delivered, aggregate_filter, jsonable, parse_time
from zos.settings import Settings, SettingsError, add_nats_flag, connect_bus

def _parse_time(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _filters(parser: argparse.ArgumentParser) -> None:
    add_nats_flag(parser)
    parser.add_argument("--subject", help="subject filter (default zos.evt.>; zos.cmd.> for commands)")
    parser.add_argument("--aggregate", help="only this aggregate kind (node, job, vdisk, ...)")
    parser.add_argument("--type", action="append", default=[], help="only this event type (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line (envelope + seq)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("events", help="tail or replay the event log")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    tail = verbs.add_parser("tail", help="follow new events")
    _filters(tail)
    tail.set_defaults(func=tail_cmd)
    replay = verbs.add_parser("replay", help="print the log from a point, in order")
    _filters(replay)
    start = replay.add_mutually_exclusive_group()
    start.add_argument("--from-seq", type=int, help="first stream sequence")
    start.add_argument("--since", help="ISO time or age (10m, 2h)")
    replay.add_argument("--until", help="ISO time or age: stop at events after it")
    replay.add_argument("--follow", action="store_true", help="keep following after the end")
    replay.set_defaults(func=replay_cmd)


def _subject(args: argparse.Namespace) -> str:
    if args.subject and args.aggregate:
        raise SettingsError("give --subject or --aggregate, not both")
    if args.aggregate:
        return aggregate_filter(args.aggregate)
    return args.subject or "zos.evt.>"


def _row(item: Delivered) -> str:
    when = item.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if item.event is None:
        return f"{item.seq:>8}  {when}  {'(undecodable)':<22} {item.subject}"
    evt = item.event
    data = json.dumps(jsonable(evt.data), sort_keys=True)
    if len(data) > 100:
        data = data[:97] + "..."
    return (f"{item.seq:>8}  {when}  {evt.type:<22} {evt.aggregate + ':' + evt.aggregate_id:<44} "
            f"{evt.actor or '-':<14} {data}")


async def _print(args: argparse.Namespace, **replay_args: Any) -> int:
    bus = await connect_bus(Settings(args, "events"), actor="cli")
    count = 0
    try:
        if not args.json:
            print(f"{'SEQ':>8}  {'TIME (UTC)':<23}  {'TYPE':<22} {'AGGREGATE':<44} {'ACTOR':<14} DATA")
        async for item in bus.replay(_subject(args), types=args.type, **replay_args):
            print(json.dumps(item.to_json(), sort_keys=True) if args.json else _row(item), flush=True)
            count += 1
    finally:
        await bus.close()
    if not args.json:
        print(f"({count} events)", file=sys.stderr)
    return 0


async def tail_cmd(args: argparse.Namespace) -> int:
    # Start at "now": a tail shows only what happens from this moment on.
    start = dt.datetime.now(dt.UTC)
    print(f"following {_subject(args)} from {start.isoformat()}", file=sys.stderr, flush=True)
    return await _print(args, since=start, follow=True)


async def replay_cmd(args: argparse.Namespace) -> int:
    return await _print(args, from_seq=args.from_seq,
                        since=_parse_time(args.since) if args.since else None,
                        until=_parse_time(args.until) if args.until else None,
                        follow=args.follow)
