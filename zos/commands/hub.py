"""`zos hub serve`: the Hub service (flist repositories, tar.gz upload, chunk API, web UI)."""

from __future__ import annotations

import argparse

from zos.settings import Settings, add_nats_flag


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("hub", help="the flist hub service")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = verbs.add_parser("serve", help="serve the hub API, downloads, chunk API and web UI")
    add_nats_flag(p)
    p.add_argument("--listen", help="address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 5555)")
    p.add_argument("--data", help="data directory (default ZOS_DATA): flists in DATA/hub/users")
    p.add_argument("--store", help="internal chunk store URL (default DATA/chunks)")
    p.add_argument("--tokens", help="TOKEN:USER[+ACCOUNT...],... (env ZOS_TOKENS, TOML [hub] tokens)")
    p.add_argument("--public-host", dest="public_host", help="public 0-db host forced into metadata.backend")
    p.add_argument("--public-port", dest="public_port", type=int)
    p.add_argument("--website", help="public base URL used in links")
    p.add_argument("--readonly", action="store_true", default=None, help="mirror mode: refuse all changes")
    p.set_defaults(func=serve_cmd)


async def serve_cmd(args: argparse.Namespace) -> int:
    from zos.hub import load_config, serve  # FastAPI/uvicorn only when serving: keeps `zos` fast

    settings = Settings(args, section="hub")
    await serve(load_config(settings))
    return 0
