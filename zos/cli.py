"""The one `zos` entry point. Each module of `zos.commands` adds its subcommands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import pkgutil
import sys

from zos import commands
from zos.settings import SettingsError


_GLOBAL_OPTIONS_WITH_VALUE = ("--config", "--log-level")


def _command_name(argv: list[str]) -> str | None:
    """The subcommand named on the command line, skipping the global options before it."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with only the named command's module imported when one is named.

    A command module is named after its command (`zos/commands/node.py` registers `zos node`),
    so `zos node run` does not pay for importing FastAPI, RocksDB or capnp.
    """
    parser = argparse.ArgumentParser(prog="zos", description="Zero-OS over NATS JetStream")
    parser.add_argument("--config", help="TOML settings file (flags > ZOS_* env > file)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="part", metavar="COMMAND", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__)
                   if not info.name.startswith("_"))
    wanted = _command_name(sys.argv[1:] if argv is None else argv)
    for name in ([wanted] if wanted in names else names):
        importlib.import_module(f"zos.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return 2
    try:
        result = func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except SettingsError as exc:
        print(f"zos: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's outermost edge: one line for the user, trace on DEBUG
        logging.getLogger("zos").debug("command failed", exc_info=True)
        print(f"zos: error: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
