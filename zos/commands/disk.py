"""`zos disk ...`: serve vdisks over NBD and manage them (upstream nbdserver + zeroctl)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import socket
import sys
import time
from pathlib import Path

from zos.settings import Settings, SettingsError, add_nats_flag, connect_bus


def _time_ns(text: str) -> int:
    """RFC 3339 or ns since the epoch (0 is refused: it never meant "latest" here)."""
    if text.isdigit():
        value = int(text)
    else:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SettingsError(f"time '{text}' is neither RFC 3339 nor ns since the epoch") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        value = int(when.timestamp() * 1_000_000_000)
    if value <= 0:
        raise SettingsError("restore time must be after the epoch")
    return value


def _key(text: str | None) -> bytes | None:
    """A 32-byte key given as 64 hex digits or 32 characters."""
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else text.encode()
    except ValueError:
        raw = text.encode()
    if len(raw) != 32:
        raise SettingsError(f"the key must be 32 bytes (64 hex digits or 32 characters), got {len(raw)}")
    return raw


class _Progress:
    """`done/total` on stderr at most a few times a second."""

    def __init__(self, what: str) -> None:
        self.what, self.last = what, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last > 0.25 or done == total:
            self.last = now
            end = "\n" if done == total else ""
            print(f"\r{self.what}: {done}/{total} blocks", end=end, file=sys.stderr, flush=True)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("disk", help="vdisks: NBD server and tools")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    serve = verbs.add_parser("serve", help="serve every vdisk of the log over NBD")
    add_nats_flag(serve)
    serve.add_argument("--listen", action="append", help="unix:PATH or tcp:HOST:PORT (repeatable; "
                       "default tcp:127.0.0.1:10809)")
    serve.add_argument("--id", dest="server_id", help="server id (default: default)")
    serve.add_argument("--node", help="node this server runs on (recorded in events)")
    serve.add_argument("--data", help="data directory for embedded stores (env ZOS_DATA)")
    serve.add_argument("--tlog-batch-blocks", type=int, default=None)
    serve.add_argument("--tlog-interval", type=float, default=None, help="seconds (default 0.2)")
    serve.add_argument("--stats-interval", type=float, default=None, help="seconds (default 10)")
    serve.add_argument("--max-inflight-requests", type=int, default=None)
    serve.add_argument("--max-inflight-bytes", type=int, default=None)
    serve.add_argument("--shutdown-timeout", type=float, default=None)
    serve.set_defaults(func=serve_cmd)

    create = verbs.add_parser("create", help="create a vdisk (records vdisk.created)")
    add_nats_flag(create)
    create.add_argument("name")
    create.add_argument("--size", required=True, help="bytes with a unit (512M, 10G) or a number of GiB")
    create.add_argument("--type", default="cache", choices=["boot", "db", "cache", "tmp"])
    create.add_argument("--block-size", type=int, default=4096)
    create.add_argument("--storage", default="rocksdb",
                        help="rocksdb[:DIR] | redis://HOST:PORT[/DB][,HOST:PORT…] | cluster:LABEL")
    create.add_argument("--template", help="template vdisk for lazy copy-on-read (boot/db)")
    create.add_argument("--read-only", action="store_true")
    create.add_argument("--no-tlog", action="store_true", help="no transaction log for boot/db")
    create.add_argument("--server", help="only this disk server exports it")
    create.set_defaults(func=create_cmd)

    for name, helptext in (("delete", "delete a vdisk, its blocks and its log"),
                           ("info", "show a vdisk as JSON")):
        verb = verbs.add_parser(name, help=helptext)
        add_nats_flag(verb)
        verb.add_argument("name")
        verb.add_argument("--data", help="data directory for embedded stores (env ZOS_DATA)")
        verb.set_defaults(func=delete_cmd if name == "delete" else info_cmd)

    listing = verbs.add_parser("list", help="list vdisks")
    add_nats_flag(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_cmd)

    resize = verbs.add_parser("resize", help="grow a vdisk")
    add_nats_flag(resize)
    resize.add_argument("name")
    resize.add_argument("--size", required=True)
    resize.set_defaults(func=resize_cmd)

    copy = verbs.add_parser("copy", help="copy a vdisk into a new one")
    add_nats_flag(copy)
    copy.add_argument("source")
    copy.add_argument("target")
    copy.add_argument("--storage", help="storage of the target (default: the source's)")
    copy.add_argument("--data")
    copy.set_defaults(func=copy_cmd)

    restore = verbs.add_parser("restore", help="rebuild a vdisk as it was at a time, into a new vdisk")
    add_nats_flag(restore)
    restore.add_argument("name")
    restore.add_argument("--to", required=True, help="RFC 3339 time or ns since the epoch")
    restore.add_argument("--into", help="new vdisk name (default NAME_restore_<seconds>)")
    restore.add_argument("--force", action="store_true", help="replace an existing --into vdisk")
    restore.add_argument("--data")
    restore.set_defaults(func=restore_cmd)

    export = verbs.add_parser("export", help="export a vdisk to a snapshot directory")
    add_nats_flag(export)
    export.add_argument("name")
    export.add_argument("snapshot", nargs="?", help="snapshot id (default NAME_<epoch>)")
    export.add_argument("--to", required=True, help="directory (file:// URL accepted)")
    export.add_argument("-k", "--key", help="32-byte AES key (64 hex digits or 32 characters)")
    export.add_argument("-c", "--compression", default="lz4", choices=["lz4", "xz"])
    export.add_argument("-b", "--block-size", type=int, default=131072, help="snapshot block size")
    export.add_argument("--data")
    export.set_defaults(func=export_cmd)

    imp = verbs.add_parser("import", help="create a vdisk from a snapshot")
    add_nats_flag(imp)
    imp.add_argument("name")
    imp.add_argument("snapshot")
    imp.add_argument("--from", dest="source", required=True, help="directory (file:// URL accepted)")
    imp.add_argument("-k", "--key")
    imp.add_argument("--type", default="db", choices=["boot", "db", "cache", "tmp"])
    imp.add_argument("--storage", default="rocksdb")
    imp.add_argument("--block-size", type=int, help="re-block to this size (default: the source's)")
    imp.add_argument("--size", help="vdisk size (default: the source's)")
    imp.add_argument("--force", action="store_true")
    imp.add_argument("--data")
    imp.set_defaults(func=import_cmd)

    cluster = verbs.add_parser("cluster", help="declare a storage cluster of Redis-protocol servers")
    add_nats_flag(cluster)
    cluster.add_argument("label")
    cluster.add_argument("servers", nargs="+", help="HOST:PORT[/DB][@STATE], in shard order")
    cluster.set_defaults(func=cluster_cmd)


def _dir(text: str) -> Path:
    return Path(text[len("file://"):] if text.startswith("file://") else text)


async def _with_bus(args: argparse.Namespace, work):
    settings = Settings(args, "disk")
    bus = await connect_bus(settings, actor="zos disk")
    try:
        return await work(bus, settings)
    finally:
        await bus.close()


def serve_cmd(args: argparse.Namespace) -> int:
    """The server runs on uvloop: it halves the per-request cost of the NBD path."""
    import uvloop

    return uvloop.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from zos.disk import ServeOptions, TlogSettings, serve

    settings = Settings(args, "disk")
    tlog = TlogSettings(batch_blocks=settings.get("tlog_batch_blocks", 128),
                        interval=settings.get("tlog_interval", 0.2))
    listen = settings.get("listen", None) or ["tcp:127.0.0.1:10809"]
    if isinstance(listen, str):  # from ZOS_LISTEN or the TOML file
        listen = [part for part in listen.split(",") if part]
    options = ServeOptions(
        listen=listen,
        server_id=settings.get("server_id", "default"),
        node=settings.get("node", socket.gethostname().split(".")[0]),
        data_dir=settings.data_dir, tlog=tlog,
        stats_interval=settings.get("stats_interval", 10.0),
        max_requests=settings.get("max_inflight_requests", 64),
        max_bytes=settings.get("max_inflight_bytes", 64 << 20),
        shutdown_timeout=settings.get("shutdown_timeout", 60.0))
    bus = await _connect_with_retry(settings, f"disk:{options.server_id}")
    try:
        await serve(bus, options, on_ready=lambda uris: print("serving " + " ".join(uris), flush=True))
    finally:
        await bus.close()
    return 0


async def _connect_with_retry(settings: Settings, actor: str, attempts: int = 5):
    """A server outlives a broker that is slow to answer at start-up (a loaded machine)."""
    from zos.bus import BusUnavailable

    for attempt in range(attempts):
        try:
            return await connect_bus(settings, actor=actor, name="zos-disk")
        except BusUnavailable:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * 2 ** attempt)


async def create_cmd(args: argparse.Namespace) -> int:
    from zos.disk import create_vdisk, make_vdisk

    config = make_vdisk(args.name, args.size, args.type, block_size=args.block_size,
                        storage=args.storage, template=args.template, read_only=args.read_only,
                        tlog=False if args.no_tlog else None)

    async def work(bus, settings):
        await create_vdisk(bus, config, server=args.server)
        print(json.dumps(config.to_event_data()))
    await _with_bus(args, work)
    return 0


async def delete_cmd(args: argparse.Namespace) -> int:
    from zos.disk import delete_vdisk

    await _with_bus(args, lambda bus, s: delete_vdisk(bus, args.name, data_dir=s.data_dir))
    print(f"deleted {args.name}")
    return 0


async def info_cmd(args: argparse.Namespace) -> int:
    from zos.disk import load_registry, vdisk_info

    async def work(bus, settings):
        print(json.dumps(vdisk_info(await load_registry(bus), args.name), indent=2))
    await _with_bus(args, work)
    return 0


async def list_cmd(args: argparse.Namespace) -> int:
    from zos.disk import load_registry

    async def work(bus, settings):
        registry = await load_registry(bus)
        for name in sorted(registry.vdisks):
            c = registry.vdisks[name]
            if args.json:
                print(json.dumps(c.to_event_data()))
            else:
                print(f"{name:<24} {c.type:<6} {c.size:>14} {c.block_size:>6} {c.storage}")
    await _with_bus(args, work)
    return 0


async def resize_cmd(args: argparse.Namespace) -> int:
    from zos.disk import parse_size, resize_vdisk

    async def work(bus, settings):
        config = await resize_vdisk(bus, args.name, parse_size(args.size))
        print(f"{args.name}: {config.size} bytes")
    await _with_bus(args, work)
    return 0


async def copy_cmd(args: argparse.Namespace) -> int:
    from zos.disk import copy_vdisk

    async def work(bus, settings):
        n = await copy_vdisk(bus, args.source, args.target, data_dir=settings.data_dir,
                             storage=args.storage, progress=_Progress("copy"))
        print(f"copied {n} blocks from {args.source} to {args.target}")
    await _with_bus(args, work)
    return 0


async def restore_cmd(args: argparse.Namespace) -> int:
    from zos.disk import restore_vdisk

    to_ns = _time_ns(args.to)
    target = args.into or f"{args.name}_restore_{to_ns // 1_000_000_000}"

    async def work(bus, settings):
        n = await restore_vdisk(bus, args.name, to_ns, target, data_dir=settings.data_dir,
                                force=args.force, progress=_Progress("restore"))
        print(f"restored {args.name} as of {to_ns} into {target} ({n} blocks)")
    await _with_bus(args, work)
    return 0


async def export_cmd(args: argparse.Namespace) -> int:
    from zos.disk import export_snapshot

    async def work(bus, settings):
        snapshot, n = await export_snapshot(bus, args.name, _dir(args.to), args.snapshot,
                                            data_dir=settings.data_dir, key=_key(args.key),
                                            compression=args.compression, block_size=args.block_size,
                                            progress=_Progress("export"))
        print(f"exported {args.name} as snapshot {snapshot} ({n} blocks)")
    await _with_bus(args, work)
    return 0


async def import_cmd(args: argparse.Namespace) -> int:
    from zos.disk import import_snapshot, parse_size

    async def work(bus, settings):
        n = await import_snapshot(bus, args.name, _dir(args.source), args.snapshot,
                                  data_dir=settings.data_dir, key=_key(args.key), type=args.type,
                                  storage=args.storage, block_size=args.block_size,
                                  size=parse_size(args.size) if args.size else None, force=args.force,
                                  progress=_Progress("import"))
        print(f"imported snapshot {args.snapshot} into {args.name} ({n} blocks)")
    await _with_bus(args, work)
    return 0


async def cluster_cmd(args: argparse.Namespace) -> int:
    from zos.disk import create_cluster

    await _with_bus(args, lambda bus, s: create_cluster(bus, args.label, args.servers))
    print(f"storage cluster {args.label}: {' '.join(args.servers)}")
    return 0
