"""The one settings loader: flags > `ZOS_*` environment > TOML file (`--config`) > default.

    settings = Settings(args, section="node")
    node_id = settings.get("node_id", default=socket.gethostname())

A flag left at `None` counts as not given. The TOML file may hold keys at the top level and
in a `[section]` table; the table wins.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any
from collections.abc import Callable

DEFAULT_NATS = "nats://127.0.0.1:4222"


class SettingsError(Exception):
    """A setting has a value that cannot be used."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "zos"


def _cast(key: str, raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"setting '{key}' has value '{raw}'. Not a valid bool.")
    if isinstance(like, int):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"setting '{key}' has value '{raw}'. Not a valid int.") from None
    if isinstance(like, float):
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"setting '{key}' has value '{raw}'. Not a valid number.") from None
    if isinstance(like, list):
        return [part for part in raw.split(",") if part]
    return raw


class Settings:
    def __init__(self, args: argparse.Namespace | None = None, section: str | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.args = args
        self.section = section
        self.environ = os.environ if environ is None else environ
        self.file: dict[str, Any] = {}
        config = getattr(args, "config", None) or self.environ.get("ZOS_CONFIG")
        if config:
            path = Path(config)
            try:
                self.file = tomllib.loads(path.read_text())
            except FileNotFoundError:
                raise SettingsError(f"config file '{path}' does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file '{path}' is not valid TOML: {exc}") from None

    def get(self, key: str, default: Any = None, cast: Callable[[str], Any] | None = None) -> Any:
        value = getattr(self.args, key, None) if self.args is not None else None
        if value is not None:
            return value
        env = self.environ.get("ZOS_" + key.upper())
        if env is not None:
            return cast(env) if cast else _cast(key, env, default)
        table = self.file.get(self.section, {}) if self.section else {}
        if isinstance(table, dict) and key in table:
            return table[key]
        if key in self.file and not isinstance(self.file[key], dict):
            return self.file[key]
        return default

    def table(self, name: str) -> dict[str, Any]:
        """A whole table of the TOML file (e.g. `[startup]`, `[extension]`), empty if absent."""
        value = self.file.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def nats(self) -> str:
        return self.get("nats", DEFAULT_NATS)

    @property
    def data_dir(self) -> Path:
        return Path(self.get("data", str(default_data_dir()))).expanduser()


def add_nats_flag(parser: Any) -> None:
    """The flags every bus-using subcommand takes: `--nats` and (after the verb too) `--config`."""
    parser.add_argument("--nats", help=f"NATS URL(s), comma separated (env ZOS_NATS, default {DEFAULT_NATS})")
    # SUPPRESS keeps a global `zos --config F verb` from being reset to None by the verb.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML settings file")


def bus_config(settings: Settings) -> Any:
    """The `zos.bus.BusConfig` of the settings' URL and credentials (`nats_user`,
    `nats_password`, `nats_token`, `nats_creds`): what the parts are handed."""
    from zos.bus import BusConfig

    return BusConfig.from_urls(settings.nats, user=settings.get("nats_user"),
                               password=settings.get("nats_password"),
                               token=settings.get("nats_token"), creds=settings.get("nats_creds"))


async def connect_bus(settings: Settings, actor: str, name: str = "zos") -> Any:
    """Connect with the settings' URL and credentials."""
    from zos.bus import connect

    return await connect(bus_config(settings), name=name, actor=actor)
