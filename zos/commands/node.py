"""`zos node run`: the node agent on this machine."""

from __future__ import annotations

import argparse
import socket
import tomllib
from pathlib import Path
from typing import Any

from zos.settings import Settings, SettingsError, add_nats_flag, bus_config


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
    run.add_argument("--storagepool-root",
                     help="where storage pools are mounted (env ZOS_STORAGEPOOL_ROOT, default /mnt/storagepools)")
    run.set_defaults(func=run_cmd)


async def run_cmd(args: argparse.Namespace) -> int:
    from zos.node import ConfigError, run_agent

    settings = Settings(args, "node")
    try:
        config = agent_config(settings, args.node_id)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None
    await run_agent(config, bus_config(settings))
    return 0


def agent_config(settings: Settings, node_id: str | None = None) -> Any:
    """The agent's `AgentConfig` from flags > `ZOS_*` > TOML (and `[main] include` dirs)."""
    from zos.node import AgentConfig, ConfigError, parse_cmdline, parse_extensions, parse_startup

    node_id = node_id or settings.get("node_id") or socket.gethostname().split(".")[0]
    cmdline = settings.get("cmdline")
    if cmdline is None:
        try:
            cmdline = Path("/proc/cmdline").read_text()
        except OSError:
            cmdline = ""
    ledis = settings.table("logging").get("ledis", {}) if settings.table("logging") else {}
    extensions, startup = _included_tables(settings.table("main").get("include", []), ConfigError)
    for name, value in settings.table("extension").items():
        if name in extensions:
            raise ConfigError(f"[extension.{name}] is defined twice (config file and an include)")
        extensions[name] = value
    for name, value in settings.table("startup").items():
        if name in startup:
            raise ConfigError(f"[startup.{name}] is defined twice (config file and an include)")
        startup[name] = value
    return AgentConfig(
        node_id=node_id, data_dir=settings.data_dir,
        stats_interval=float(settings.get("stats_interval", 10.0)),
        allow_power=bool(settings.get("allow_power", False)),
        logger_size=int(ledis.get("size", 50000) or 1000),
        logger_levels=tuple(ledis.get("levels", ()) or ()),
        kernel_args=parse_cmdline(cmdline),
        extensions=parse_extensions(extensions),
        startup=parse_startup(startup),
        redis_listen=settings.get("redis_listen"), redis_password=settings.get("redis_password"),
        redis_tls=bool(settings.get("redis_tls", False)),
        storagepool_root=Path(settings.get("storagepool_root") or "/mnt/storagepools"))


def _included_tables(dirs: Any, error: type[Exception]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`[extension.*]` and `[startup.*]` of every `*.toml` in the `[main] include` dirs
    (0-core's /etc/zero-os/conf); a name defined twice is an error."""
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise error("[main] key 'include' must be a list of directories")
    extensions: dict[str, Any] = {}
    startup: dict[str, Any] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise error(f"included config '{path}' cannot be read: {exc}") from None
            for table, into in (("extension", extensions), ("startup", startup)):
                for name, value in (data.get(table) or {}).items():
                    if name in into:
                        raise error(f"[{table}.{name}] is defined twice (again in '{path}')")
                    into[name] = value
    return extensions, startup
