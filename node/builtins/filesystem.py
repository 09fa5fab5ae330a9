"""filesystem.* (spec §12.3): open/read/write/close in base64 blocks, and path operations.

Errors: a missing path is 404, a bad mode or a read on a write-only fd is 400, an unknown fd
is 404, anything else the OS refuses is 500 with the OS's words.
"""

from __future__ import annotations

import base64
import binascii
import grp
import os
import pwd
import shutil
import stat
from typing import Any

from .._files import BLOCK, FileModeError, UnknownFd
from ._registry import BuiltinError, Context, arg, builtin


def _oserror(exc: OSError) -> BuiltinError:
    if isinstance(exc, FileNotFoundError):
        return BuiltinError(404, f"{exc.strerror}: {exc.filename}")
    if isinstance(exc, FileExistsError):
        return BuiltinError(412, f"{exc.strerror}: {exc.filename}")
    return BuiltinError(500, str(exc))


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except FileModeError as exc:
        raise BuiltinError(400, str(exc)) from None
    except UnknownFd as exc:
        raise BuiltinError(404, f"no open file with fd '{exc.args[0]}'") from None
    except OSError as exc:
        raise _oserror(exc) from None


def _mode(value: Any, name: str) -> int:
    """An int, or octal text like "0755" / "755"."""
    if isinstance(value, bool):
        raise BuiltinError(400, f"argument '{name}' must be int or octal string, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError:
            pass
    raise BuiltinError(400, f"argument '{name}' must be int or octal string, got {value!r}")


@builtin("filesystem.open")
def fs_open(args: dict, ctx: Context) -> str:
    path = arg(args, "file", "str")
    mode = arg(args, "mode", "str", "r")
    perm = _mode(args["perm"], "perm") if args.get("perm") is not None else 0o644
    return _call(ctx.agent.files.open, path, mode, perm)


@builtin("filesystem.read")
def fs_read(args: dict, ctx: Context) -> str:
    data = _call(ctx.agent.files.read, arg(args, "fd", "str"), BLOCK)
    return base64.b64encode(data).decode()


@builtin("filesystem.write")
def fs_write(args: dict, ctx: Context) -> None:
    fd = arg(args, "fd", "str")
    try:
        block = base64.b64decode(arg(args, "block", "str"), validate=True)
    except (binascii.Error, ValueError):
        raise BuiltinError(400, "argument 'block' is not valid base64") from None
    _call(ctx.agent.files.write, fd, block)
    return None


@builtin("filesystem.close")
def fs_close(args: dict, ctx: Context) -> None:
    _call(ctx.agent.files.close, arg(args, "fd", "str"))
    return None


@builtin("filesystem.mkdir")
def fs_mkdir(args: dict, ctx: Context) -> None:
    _call(lambda p: os.makedirs(p, 0o755, exist_ok=True), arg(args, "path", "str"))
    return None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


@builtin("filesystem.remove")
def fs_remove(args: dict, ctx: Context) -> None:
    """Recursive, and like `rm -rf` a missing path is not an error."""
    _call(_remove, arg(args, "path", "str"))
    return None


@builtin("filesystem.exists")
def fs_exists(args: dict, ctx: Context) -> bool:
    return os.path.lexists(arg(args, "path", "str"))


def _list(path: str) -> list[dict[str, Any]]:
    rows = []
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            rows.append({"name": entry.name, "size": info.st_size, "mode": info.st_mode,
                         "is_dir": stat.S_ISDIR(info.st_mode)})
    return rows


@builtin("filesystem.list")
def fs_list(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return _call(_list, arg(args, "path", "str"))


@builtin("filesystem.move")
def fs_move(args: dict, ctx: Context) -> None:
    _call(shutil.move, arg(args, "path", "str"), arg(args, "destination", "str"))
    return None


def _walk(path: str, recursive: bool) -> list[str]:
    if not os.path.lexists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    paths = [path]
    if recursive and os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            paths.extend(os.path.join(root, name) for name in dirs + files)
    return paths


@builtin("filesystem.chmod")
def fs_chmod(args: dict, ctx: Context) -> None:
    path = arg(args, "path", "str")
    mode = _mode(args["mode"], "mode") if args.get("mode") is not None else arg(args, "mode", "int")
    recursive = arg(args, "recursive", "bool", False)
    for each in _call(_walk, path, recursive):
        _call(os.chmod, each, mode)
    return None


def _id(value: Any, name: str, lookup: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            return lookup(value)
        except KeyError:
            raise BuiltinError(404, f"argument '{name}': no such {name} '{value}'") from None
    raise BuiltinError(400, f"argument '{name}' must be a name or an id")


@builtin("filesystem.chown")
def fs_chown(args: dict, ctx: Context) -> None:
    path = arg(args, "path", "str")
    # An empty or missing user/group leaves it unchanged (-1), as chown(2).
    def given(name: str) -> Any:
        value = args.get(name)
        return -1 if value is None or value == "" else value
    uid = _id(given("user"), "user", lambda n: pwd.getpwnam(n).pw_uid)
    gid = _id(given("group"), "group", lambda n: grp.getgrnam(n).gr_gid)
    recursive = arg(args, "recursive", "bool", False)
    for each in _call(_walk, path, recursive):
        _call(os.lchown, each, uid, gid)
    return None
