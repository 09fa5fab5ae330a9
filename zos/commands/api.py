"""`zos api serve|token`: the resource-pool REST API."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from zos.settings import Settings, SettingsError, add_nats_flag

from .db import add_db_flag, db_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("api", help="the resource-pool REST API")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser("serve", help="serve the API (and, by default, run the projectors)")
    add_nats_flag(serve)
    add_db_flag(serve)
    serve.add_argument("--host", help="bind address (env ZOS_API_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env ZOS_API_PORT, default 5000)")
    serve.add_argument("--api-tokens", help="comma-separated bearer tokens accepted as they are")
    serve.add_argument("--api-secret", help="secret that signs tokens (zos api token)")
    serve.add_argument("--no-auth", action="store_true", default=None,
                       help="local mode: no tokens; only allowed on a loopback address")
    serve.add_argument("--no-projectors", action="store_true", default=None,
                       help="do not run the projectors in-process (another `zos projections run` does)")
    serve.add_argument("--api-wait", type=float, help="seconds a write waits (env ZOS_API_WAIT, 30)")
    serve.set_defaults(func=serve_cmd)
    token = verbs.add_parser("token", help="print a signed bearer token")
    token.add_argument("--api-secret", help="the API's secret (env ZOS_API_SECRET)")
    token.add_argument("--subject", default="admin", help="who the token is for")
    token.add_argument("--ttl", type=float, default=30 * 86400, help="seconds until it expires")
    token.add_argument("--config", default=argparse.SUPPRESS)
    token.set_defaults(func=token_cmd)


def api_config(args: argparse.Namespace):  # noqa: ANN201 (ApiConfig; imported lazily)
    from zos.projections.api import ApiConfig

    settings = Settings(args, "api")
    host = settings.get("host", "127.0.0.1")
    tokens = settings.get("api_tokens", [])
    if isinstance(tokens, str):
        tokens = [t for t in tokens.split(",") if t]
    secret = settings.get("api_secret", "")
    no_auth = bool(settings.get("no_auth", False))
    if no_auth:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise SettingsError(f"--no-auth is only allowed on a loopback address, not '{host}'")
    elif not tokens and not secret:
        raise SettingsError("the API needs api_tokens or api_secret (or --no-auth on loopback)")
    nats_options = {k: settings.get(f"nats_{k}") for k in ("user", "password", "token", "creds")}
    return ApiConfig(db_url=db_url(settings), nats=settings.nats,
                     nats_options={k: v for k, v in nats_options.items() if v},
                     tokens=list(tokens), secret=secret, auth=not no_auth,
                     wait=float(settings.get("api_wait", 30.0)),
                     run_projectors=not settings.get("no_projectors", False),
                     data_dir=settings.data_dir), host


def serve_cmd(args: argparse.Namespace) -> int:
    import uvicorn

    from zos.projections.api import create_app

    config, host = api_config(args)
    port = int(Settings(args, "api").get("port", 5000))
    print(f"zos api on http://{host}:{port} (auth {'on' if config.auth else 'off'}, "
          f"projectors {'in-process' if config.run_projectors else 'external'})",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False)
    return 0


def token_cmd(args: argparse.Namespace) -> int:
    from zos.projections.api import TokenError, mint_token

    secret = Settings(args, "api").get("api_secret", "")
    try:
        print(mint_token(secret, args.subject, args.ttl))
    except TokenError as exc:
        raise SettingsError(str(exc)) from None
    return 0
