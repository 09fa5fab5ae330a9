"""`zos flist create|ls|stat|cat|check|merge|export|import|metadata`: the flist library on the
command line. Without `--store`, chunks go to (and are read from) DATA/chunks."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zos.fs import (BuildStats, Entry, Flist, FlistError, StoreError, check, convert, create_flist,
                    default_store, default_workdir, merge, open_flist, open_store)
from zos.settings import Settings

_TYPE_CHAR = {"dir": "d", "file": "-", "symlink": "l", "block": "b", "char": "c", "fifo": "p",
              "socket": "s", "unknown": "?"}


def _data_dir() -> Path:
    """ZOS_DATA (or the TOML file of ZOS_CONFIG): where archive copies and the default store are."""
    return Settings().data_dir


def _open(path: str) -> Flist:
    return open_flist(path, default_workdir(_data_dir()))


def _stores(fl: Flist | None, urls: list[str], token: str | None) -> list:
    explicit = [open_store(url, token) for url in urls]
    if fl is None:
        return explicit or [default_store(_data_dir())]
    return fl.stores(explicit, data_dir=_data_dir())


def entry_json(entry: Entry) -> dict[str, Any]:
    """The `ls --json` object: path, type, mode (octal string), uid, gid, size, mtime, target, rdev."""
    out: dict[str, Any] = {"path": "/" + os.fsdecode(entry.path), "type": entry.kind,
                           "mode": f"{entry.mode:04o}", "uid": entry.uid, "gid": entry.gid,
                           "size": entry.size, "mtime": entry.mtime}
    if entry.kind == "symlink":
        out["target"] = os.fsdecode(entry.target)
    if entry.kind in ("char", "block"):
        out["rdev"] = entry.rdev
    return out


def _long(entry: Entry) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.mtime))
    size = f"{os.major(entry.rdev)},{os.minor(entry.rdev)}" if entry.kind in ("char", "block") else str(entry.size)
    line = (f"{_TYPE_CHAR[entry.kind]}{stat.filemode(entry.st_mode)[1:]} {entry.uid:>5} {entry.gid:>5} "
            f"{size:>10} {when} /{os.fsdecode(entry.path)}")
    if entry.kind == "symlink":
        line += f" -> {os.fsdecode(entry.target)}"
    return line


def ls_cmd(args: argparse.Namespace) -> int:
    with _open(args.flist) as fl:
        start = fl.lookup(args.path)
        if start.kind != "dir":
            entries = [start]
        else:
            entries = fl.walk(start.path) if args.recursive else fl.listdir(start.path)
        for entry in entries:
            print(json.dumps(entry_json(entry)) if args.json else _long(entry))
    return 0


def stat_cmd(args: argparse.Namespace) -> int:
    with _open(args.flist) as fl:
        entry = fl.lookup(args.path)
        info = entry_json(entry)
        info.update(uname=entry.uname, gname=entry.gname, ctime=entry.ctime,
                    chunks=[{"id": b.id.hex(), "key": b.key.hex()} for b in entry.blocks])
        print(json.dumps(info, indent=None if args.json else 2))
    return 0


def cat_cmd(args: argparse.Namespace) -> int:
    with _open(args.flist) as fl:
        entry = fl.lookup(args.path)
        if entry.kind != "file":
            raise FlistError(f"/{os.fsdecode(entry.path)} is a {entry.kind}, not a regular file")
        stores = _stores(fl, args.store, args.token)
        out = sys.stdout.buffer
        for piece in fl.iter_content(entry, stores):
            out.write(piece)
        out.flush()
    return 0


def check_cmd(args: argparse.Namespace) -> int:
    with _open(args.flist) as fl:
        result = check(fl, _stores(fl, args.store, args.token), verify=not args.exists_only)
    total = len(result["missing"]) + len(result["corrupt"])
    for kind in ("missing", "corrupt"):
        for chunk_id in result[kind]:
            print(f"{kind} {chunk_id.hex()}")
    print(f"{'OK' if total == 0 else 'FAILED'}: {len(result['missing'])} missing, "
          f"{len(result['corrupt'])} corrupt", file=sys.stderr)
    return 0 if total == 0 else 1


def _progress() -> Any:
    last = [time.monotonic()]

    def show(stats: BuildStats) -> None:
        now = time.monotonic()
        if now - last[0] >= 2:
            last[0] = now
            print(f"... {stats.regular} files, {stats.size / 1e6:.1f} MB", file=sys.stderr, flush=True)
    return show


def create_cmd(args: argparse.Namespace) -> int:
    store = open_store(args.store, args.token) if args.store else default_store(_data_dir())
    metadata = {}
    for item in args.metadata:
        key, _, text = item.partition("=")
        try:
            metadata[key] = json.loads(text)
        except ValueError:
            metadata[key] = text
    with store:
        stats = create_flist(args.source, args.output, store, args.format, metadata, progress=_progress())
    print(json.dumps({"flist": str(args.output), **stats.as_dict()}))
    return 0


def merge_cmd(args: argparse.Namespace) -> int:
    flists = [_open(path) for path in args.flists]
    try:
        result = merge(flists[0], flists[1:], args.output, args.format)
    finally:
        for fl in flists:
            fl.close()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({"flist": str(result.path), "copied": result.copied, "collisions": result.collisions}))
    return 0


def _convert_cmd(args: argparse.Namespace, format: str) -> int:
    with _open(args.flist) as fl:
        convert(fl, args.output, format)
    print(args.output)
    return 0


def metadata_cmd(args: argparse.Namespace) -> int:
    updates: dict[str, Any] = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise FlistError(f"--set {item!r}: expected KEY=JSON")
        try:
            updates[key] = json.loads(text)
        except ValueError:
            updates[key] = text
    with _open(args.flist) as fl:
        if not updates and not args.delete:
            meta = fl.metadata
            print(json.dumps(meta.get(args.key) if args.key else meta, indent=2))
            return 0
        format = "native" if fl.format == "native" else "hub"
        target = Path(args.flist)
        work = Path(tempfile.mkdtemp(prefix=".meta-", dir=target.parent))
        try:
            convert(fl, work / target.name, format, metadata=updates, drop_metadata=args.delete)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(work / target.name, target)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _run(func: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (FlistError, StoreError, FileNotFoundError) as exc:
            print(f"zos flist: {exc}", file=sys.stderr)
            return 2
    return wrapped


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("flist", help="create, inspect and convert flists")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def store_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", action="append", default=[], metavar="URL",
                       help="chunk store (repeatable; DATA/chunks and metadata.backend are also read)")
        p.add_argument("--token", default=os.environ.get("ZOS_HUB_TOKEN"), help="hub token for http stores")

    p = verbs.add_parser("create", help="directory or tar(.gz) -> flist")
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--store", help="chunk store URL (default: DATA/chunks)")
    p.add_argument("--token", default=os.environ.get("ZOS_HUB_TOKEN"))
    p.add_argument("--format", choices=("hub", "native"), default="hub")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=JSON")
    p.set_defaults(func=_run(create_cmd))

    p = verbs.add_parser("ls", help="list entries")
    p.add_argument("flist")
    p.add_argument("path", nargs="?", default="/")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("-R", "--recursive", action="store_true")
    p.set_defaults(func=_run(ls_cmd))

    p = verbs.add_parser("stat", help="one entry, with its chunks")
    p.add_argument("flist")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(stat_cmd))

    p = verbs.add_parser("cat", help="print a file's content")
    p.add_argument("flist")
    p.add_argument("path")
    store_flags(p)
    p.set_defaults(func=_run(cat_cmd))

    p = verbs.add_parser("check", help="every chunk present and verifying")
    p.add_argument("flist")
    store_flags(p)
    p.add_argument("--exists-only", action="store_true", help="EXISTS only, do not fetch and verify")
    p.set_defaults(func=_run(check_cmd))

    p = verbs.add_parser("merge", help="merge flists: first wins, directories merged")
    p.add_argument("flists", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=("hub", "native"), default="hub")
    p.set_defaults(func=_run(merge_cmd))

    p = verbs.add_parser("export", help="any flist (e.g. native RocksDB) -> hub .flist")
    p.add_argument("flist")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_run(lambda a: _convert_cmd(a, "hub")))

    p = verbs.add_parser("import", help="hub .flist -> native RocksDB directory")
    p.add_argument("flist")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_run(lambda a: _convert_cmd(a, "native")))

    p = verbs.add_parser("metadata", help="show or change the metadata table")
    p.add_argument("flist")
    p.add_argument("key", nargs="?")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--delete", action="append", default=[], metavar="KEY")
    p.set_defaults(func=_run(metadata_cmd))
