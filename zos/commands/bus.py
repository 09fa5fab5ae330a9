"""`zos bus ...`: look at the streams of the log."""

from __future__ import annotations

import argparse
import json

from zos.settings import Settings, add_nats_flag, connect_bus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bus", help="inspect the NATS JetStream streams")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    streams = verbs.add_parser("streams", help="each stream: subjects, messages, bytes, sequences")
    add_nats_flag(streams)
    streams.add_argument("--json", action="store_true", help="one JSON object a line")
    streams.set_defaults(func=streams_cmd)


async def streams_cmd(args: argparse.Namespace) -> int:
    bus = await connect_bus(Settings(args, "bus"), actor="cli")
    try:
        rows = await bus.streams()
    finally:
        await bus.close()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'STREAM':<14} {'SUBJECTS':<14} {'MESSAGES':>10} {'BYTES':>12} {'FIRST':>8} {'LAST':>8}")
    for row in rows:
        print(f"{row['stream']:<14} {','.join(row['subjects']):<14} {row['messages']:>10} "
              f"{row['bytes']:>12} {row['first_seq']:>8} {row['last_seq']:>8}")
    return 0
