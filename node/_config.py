"""The agent's configuration: identity, data dir, extensions and startup services (spec §12.8, §14).

The command line (`zos node run`) reads flags > `ZOS_*` > TOML and builds an `AgentConfig`
with the parsers here. Pure parsing: errors are `ConfigError` naming the table and key at fault.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from ._errors import ConfigError

PHASES = {"init": 1, "net": 1000, "boot": 1_000_000}


@dataclasses.dataclass(frozen=True)
class Extension:
    """A command backed by a binary: `[extension.<name>] binary, args, cwd, env`."""

    name: str
    binary: str
    args: tuple[str, ...] = ()
    cwd: str = "/"
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    def argv(self, arguments: dict[str, Any]) -> list[str]:
        """Each `{key}` in args replaced by argument `key` as plain text (missing ⇒ empty)."""
        def text(match: re.Match[str]) -> str:
            value = arguments.get(match.group(1))
            if value is None:
                return ""
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        return [self.binary, *(re.sub(r"\{([A-Za-z0-9_.-]+)\}", text, a) for a in self.args)]


@dataclasses.dataclass(frozen=True)
class StartupService:
    """`[startup.<id>]`: a command run at boot, ordered by `after`, gated by `condition`."""

    id: str
    name: str
    args: dict[str, Any]
    after: tuple[str, ...] = ()
    condition: str = ""
    protected: bool = False
    recurring_period: int = 0
    max_restart: int = 0
    tags: tuple[str, ...] | None = None
    running_delay: float = 2.0
    running_match: str = ""


@dataclasses.dataclass
class AgentConfig:
    node_id: str
    data_dir: Path
    stats_interval: float = 10.0
    allow_power: bool = False
    logger_size: int = 50000
    logger_levels: tuple[int, ...] = ()
    kernel_args: dict[str, str] = dataclasses.field(default_factory=dict)
    extensions: dict[str, Extension] = dataclasses.field(default_factory=dict)
    startup: dict[str, StartupService] = dataclasses.field(default_factory=dict)
    redis_listen: str | None = None
    redis_password: str | None = None
    redis_tls: bool = False
    storagepool_root: Path = Path("/mnt/storagepools")  # pools are mounted at <root>/<name>

    @property
    def node_dir(self) -> Path:
        return self.data_dir / "node" / self.node_id


def parse_cmdline(text: str) -> dict[str, str]:
    """Kernel arguments: `a b=c` ⇒ {"a": "", "b": "c"}; the last occurrence wins."""
    args: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        args[key] = value
    return args


def _str(table: str, key: str, value: Any, default: str | None = None) -> str:
    if value is None:
        if default is None:
            raise ConfigError(f"[{table}] needs key '{key}'")
        return default
    if not isinstance(value, str):
        raise ConfigError(f"[{table}] key '{key}' must be a string, got {type(value).__name__}")
    return value


def parse_extensions(tables: dict[str, Any]) -> dict[str, Extension]:
    extensions = {}
    for name, raw in tables.items():
        where = f"extension.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"[{where}] must be a table")
        args = raw.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"[{where}] key 'args' must be a list of strings")
        env = raw.get("env", {})
        if not isinstance(env, dict):
            raise ConfigError(f"[{where}] key 'env' must be a table")
        extensions[name] = Extension(name, _str(where, "binary", raw.get("binary")), tuple(args),
                                     _str(where, "cwd", raw.get("cwd"), "/"),
                                     {str(k): str(v) for k, v in env.items()})
    return extensions


def parse_startup(tables: dict[str, Any]) -> dict[str, StartupService]:
    services = {}
    for sid, raw in tables.items():
        where = f"startup.{sid}"
        if not isinstance(raw, dict):
            raise ConfigError(f"[{where}] must be a table")
        args = raw.get("args", {})
        if not isinstance(args, dict):
            raise ConfigError(f"[{where}] key 'args' must be a table")
        after = raw.get("after", [])
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise ConfigError(f"[{where}] key 'after' must be a list of strings")
        tags = raw.get("tags")
        for key in ("recurring_period", "max_restart"):
            if not isinstance(raw.get(key, 0), int):
                raise ConfigError(f"[{where}] key '{key}' must be an integer")
        services[sid] = StartupService(
            id=sid, name=_str(where, "name", raw.get("name")), args=args, after=tuple(after),
            condition=_str(where, "condition", raw.get("condition"), ""),
            protected=bool(raw.get("protected", False)),
            recurring_period=raw.get("recurring_period", 0), max_restart=raw.get("max_restart", 0),
            tags=tuple(tags) if isinstance(tags, list) else None,
            running_delay=float(raw.get("running_delay", 2)),
            running_match=_str(where, "running_match", raw.get("running_match"), ""))
    for service in services.values():
        for dep in service.after:
            if dep not in PHASES and dep not in services:
                raise ConfigError(f"[startup.{service.id}] is after '{dep}', which is neither a "
                                  f"phase ({', '.join(PHASES)}) nor a startup service")
    return services


_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9_.-]+)")


def condition_holds(expression: str, kernel_args: dict[str, str]) -> bool:
    """Evaluate `a and not (b or c)` over kernel argument names (present ⇒ true)."""
    if not expression.strip():
        return True
    tokens: list[str] = []
    pos = 0
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None:
            if expression[pos:].strip() == "":
                break
            raise ConfigError(f"condition '{expression}': unexpected text at {pos}")
        tokens.append(match.group(1))
        pos = match.end()

    def parse_or(i: int) -> tuple[bool, int]:
        value, i = parse_and(i)
        while i < len(tokens) and tokens[i] == "or":
            right, i = parse_and(i + 1)
            value = value or right
        return value, i

    def parse_and(i: int) -> tuple[bool, int]:
        value, i = parse_not(i)
        while i < len(tokens) and tokens[i] == "and":
            right, i = parse_not(i + 1)
            value = value and right
        return value, i

    def parse_not(i: int) -> tuple[bool, int]:
        if i >= len(tokens):
            raise ConfigError(f"condition '{expression}' ends too early")
        if tokens[i] == "not":
            value, i = parse_not(i + 1)
            return not value, i
        if tokens[i] == "(":
            value, i = parse_or(i + 1)
            if i >= len(tokens) or tokens[i] != ")":
                raise ConfigError(f"condition '{expression}' misses ')'")
            return value, i + 1
        if tokens[i] in (")", "and", "or"):
            raise ConfigError(f"condition '{expression}': unexpected '{tokens[i]}'")
        return tokens[i] in kernel_args, i + 1

    value, end = parse_or(0)
    if end != len(tokens):
        raise ConfigError(f"condition '{expression}': unexpected '{tokens[end]}'")
    return value


def startup_arguments(args: dict[str, Any], kernel_args: dict[str, str]) -> dict[str, Any]:
    """Apply `"<cond>|<key>"` keys and `{kernelarg}` substitution in string values (§14.3)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if "|" in key:
            cond, _, key = key.partition("|")
            if not condition_holds(cond, kernel_args):
                continue
        out[key] = _substitute(value, kernel_args)
    return out


def _substitute(value: Any, kernel_args: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{([A-Za-z0-9_.-]+)\}",
                      lambda m: kernel_args.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, kernel_args) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, kernel_args) for k, v in value.items()}
    return value


def service_weight(service: StartupService, services: dict[str, StartupService],
                   seen: tuple[str, ...] = ()) -> int:
    """0-core's ordering weight: phases are fixed, a service weighs one more than its deps."""
    if service.id in seen:
        raise ConfigError(f"startup services form a cycle: {' -> '.join([*seen, service.id])}")
    if not service.after:
        return PHASES["boot"]
    weights = [PHASES[d] if d in PHASES else service_weight(services[d], services, (*seen, service.id))
               for d in service.after]
    return max(weights) + 1
