"""`zos cmd publish`: send a command to a node over the bus, optionally wait for its result."""

from __future__ import annotations

import argparse
import json
import sys

from zos.events import Command, ValidationError, new_id
from zos.bus import ResultTimeout, wait_result
from zos.settings import Settings, SettingsError, add_nats_flag, connect_bus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cmd", help="send commands to nodes")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    pub = verbs.add_parser("publish", help="publish one command (0-core fields)")
    add_nats_flag(pub)
    pub.add_argument("--node", required=True, help="target node id")
    pub.add_argument("command", help="command name, e.g. core.ping, core.system")
    pub.add_argument("arguments", nargs="?", default="{}", help="arguments as a JSON object")
    pub.add_argument("--id", help="job id (default: a fresh uuid)")
    pub.add_argument("--queue", default="", help="named queue: jobs of one queue run one by one")
    pub.add_argument("--max-time", type=int, default=0, help="seconds before the job is killed")
    pub.add_argument("--max-restart", type=int, default=0)
    pub.add_argument("--recurring-period", type=int, default=0)
    pub.add_argument("--stream", action="store_true", help="publish output records on ZOS_LOGS")
    pub.add_argument("--tags", help="comma-separated tags")
    pub.add_argument("--wait", action="store_true", help="print the result; exit 1 unless SUCCESS")
    pub.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait")
    pub.set_defaults(func=publish_cmd)


def build_command(args: argparse.Namespace) -> Command:
    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"arguments are not valid JSON: {exc}") from None
    raw = {"id": args.id or new_id(), "command": args.command, "arguments": arguments,
           "queue": args.queue, "max_time": args.max_time, "max_restart": args.max_restart,
           "recurring_period": args.recurring_period, "stream": args.stream,
           "tags": args.tags.split(",") if args.tags else None}
    try:
        return Command.from_dict(raw)
    except ValidationError as exc:
        raise SettingsError(str(exc)) from None


async def publish_cmd(args: argparse.Namespace) -> int:
    command = build_command(args)
    bus = await connect_bus(Settings(args, "cmd"), actor="cli")
    try:
        seq = await bus.send_command(command, args.node)
        if not args.wait:
            print(json.dumps({"id": command.id, "seq": seq}))
            return 0
        try:
            result = await wait_result(bus, command.id, args.timeout)
        except ResultTimeout as exc:
            print(f"zos: {exc}", file=sys.stderr)
            return 3
        print(json.dumps(result.to_wire(), sort_keys=True))
        return 0 if result.ok else 1
    finally:
        await bus.close()
