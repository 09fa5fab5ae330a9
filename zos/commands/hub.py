"""`zos hub serve`: the Hub service (flist repositories, tar.gz upload, chunk API, web UI).

Settings (flags > ZOS_* > TOML [hub]) become a `zos.hub.HubConfig` here; the hub reads none."""

from __future__ import annotations

import argparse
from typing import Any

from zos.settings import Settings, SettingsError, add_nats_flag, bus_config


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


def parse_tokens(raw: Any) -> dict[str, dict[str, Any]]:
    """`"tok1:alice,tok2:bob+team"` (env) or a TOML table `{tok1 = "alice", tok2 = ["bob", "team"]}`."""
    tokens: dict[str, dict[str, Any]] = {}
    if isinstance(raw, str):
        for item in filter(None, (part.strip() for part in raw.split(","))):
            token, sep, users = item.partition(":")
            if not sep or not users:
                raise SettingsError(f"hub token entry '{item}' is not TOKEN:USER[+ACCOUNT...]")
            names = users.split("+")
            tokens[token] = {"user": names[0], "accounts": names[1:]}
    elif isinstance(raw, dict):
        for token, users in raw.items():
            names = [users] if isinstance(users, str) else list(users)
            tokens[token] = {"user": names[0], "accounts": names[1:]}
    elif raw:
        raise SettingsError(f"hub tokens {raw!r} must be a string or a table")
    return tokens


def hub_config(settings: Settings) -> Any:
    """The `zos.hub.HubConfig` of the settings; with a NATS URL set, the hub records events."""
    from zos.hub import HubConfig

    get = settings.get
    return HubConfig(
        data=settings.data_dir, listen=get("listen", "127.0.0.1"), port=int(get("port", 5555)),
        store=get("store", ""), public_host=get("public_host", ""), public_port=int(get("public_port", 0)),
        public_namespace=get("public_namespace", "default"), website=get("website", ""),
        tokens=parse_tokens(get("tokens", "")), guest_token=get("guest_token", ""),
        readonly=bool(get("readonly", False)), authentication=bool(get("authentication", True)),
        max_upload_size=int(get("max_upload_size", 4 << 30)), official=list(get("official", [])),
        bus=bus_config(settings) if get("nats") is not None else None)


async def serve_cmd(args: argparse.Namespace) -> int:
    from zos.hub import serve  # FastAPI/uvicorn only when serving: keeps `zos` fast

    await serve(hub_config(Settings(args, section="hub")))
    return 0
