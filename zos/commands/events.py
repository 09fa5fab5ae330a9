"""`zos events tail|replay`: read the event log, the debugging tool."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import sys
from typing import Any

from zos.bus import Delivered, aggregate_filter
from zos.settings import Settings, SettingsError, add_nats_flag, connect_bus

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 (`2026-11-26T10:00:00Z`) or an age relative to now (`90s`, `10m`, `2h`, `1d`)."""
    found = _RELATIVE.match(text)
    if found:
        return dt.datetime.now(dt.timezone.utc) - dt.timedelta(
            seconds=float(found.group(1)) * _UNITS[found.group(2)])
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"time '{text}' is neither ISO 8601 nor a relative age like 10m") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def as_json(item: Delivered) -> dict[str, Any]:
    """The JSON line of one delivered message: envelope + stream, seq, subject."""
    body: dict[str, Any] = {"stream": item.stream, "seq": item.seq, "subject": item.subject}
    if item.event is not None:
        body.update(_jsonable(item.event.to_dict()))
    else:
        body["raw"] = _jsonable(item.data)
    return body


def _row(item: Delivered) -> str:
    when = item.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if item.event is None:
        return f"{item.seq:>8}  {when}  {'(undecodable)':<22} {item.subject}"
    evt = item.event
    data = json.dumps(_jsonable(evt.data), sort_keys=True)
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
            print(json.dumps(as_json(item), sort_keys=True) if args.json else _row(item), flush=True)
            count += 1
    finally:
        await bus.close()
    if not args.json:
        print(f"({count} events)", file=sys.stderr)
    return 0


async def tail_cmd(args: argparse.Namespace) -> int:
    # Start at "now": a tail shows only what happens from this moment on.
    start = dt.datetime.now(dt.timezone.utc)
    print(f"following {_subject(args)} from {start.isoformat()}", file=sys.stderr, flush=True)
    return await _print(args, since=start, follow=True)


async def replay_cmd(args: argparse.Namespace) -> int:
    return await _print(args, from_seq=args.from_seq,
                        since=parse_time(args.since) if args.since else None,
                        until=parse_time(args.until) if args.until else None,
                        follow=args.follow)
