"""`zos node run`: the node agent on this machine."""

from __future__ import annotations

import argparse

from zos.settings import Settings, SettingsError, add_nats_flag


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("node", help="the node agent (0-core)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    run = verbs.add_parser("run", help="serve commands for one node until SIGTERM")
    add_nats_flag(run)
    run.add_argument("--node-id", help="node id (env ZOS_NODE_ID, default: hostname)")
    run.add_argument("--data", help="data directory (env ZOS_DATA); the journal lives under node/<id>")
    run.add_argument("--redis-listen", help="HOST:PORT for the 0-core Redis bridge (off when absent)")
    run.add_argument("--redis-password", help="password the bridge asks for (AUTH)")
    run.add_argument("--redis-tls", action="store_true", default=None, help="TLS on the bridge")
    run.add_argument("--allow-power", action="store_true", default=None,
                     help="let core.reboot/core.poweroff act when not PID 1")
    run.add_argument("--stats-interval", type=float, help="seconds between node statistics (0 = off)")
    run.set_defaults(func=run_cmd)


async def run_cmd(args: argparse.Namespace) -> int:
    from zos.node import ConfigError, run_agent

    try:
        await run_agent(Settings(args, "node"), node_id=args.node_id)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None
    return 0
