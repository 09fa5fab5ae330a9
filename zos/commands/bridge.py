"""`zos bridge serve`: the 0-core Redis bridge alone, in front of a node agent on the bus.

`zos node run --redis-listen` runs the same bridge inside the agent; this command is for a
bridge on another machine than the agent, or one bridge routing to a pool (`core:<node>`).
"""

from __future__ import annotations

import argparse
import asyncio
import socket

from zos.settings import Settings, SettingsError, add_nats_flag, connect_bus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bridge", help="the 0-core Redis protocol bridge")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser("serve", help="serve RESP for one node until interrupted")
    add_nats_flag(serve)
    serve.add_argument("--node", help="node id the bridge fronts (env ZOS_NODE, default: hostname)")
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:6379)")
    serve.add_argument("--password", help="AUTH secret; none disables AUTH (env ZOS_PASSWORD)")
    serve.add_argument("--tls", action="store_const", const=True,
                       help="serve TLS with a self-signed certificate made at start")
    serve.set_defaults(func=serve_cmd)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise SettingsError(f"listen address '{value}' is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve_cmd(args: argparse.Namespace) -> int:
    from zos.node.bridge import run_bridge

    settings = Settings(args, "bridge")
    host, port = parse_listen(settings.get("listen", "127.0.0.1:6379"))
    node = settings.get("node", socket.gethostname().split(".")[0])
    bus = await connect_bus(settings, actor=f"bridge:{node}")
    ready = asyncio.Event()

    async def announce() -> None:
        await ready.wait()
        print(f"bridge for node {node} on {'rediss' if args.tls else 'redis'}://{host}:{port}", flush=True)

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(announce())
            tg.create_task(run_bridge(bus, node, host, port, password=settings.get("password"),
                                      tls=bool(settings.get("tls", False)), data_dir=settings.data_dir,
                                      ready=ready))
    finally:
        await bus.close()
    return 0
