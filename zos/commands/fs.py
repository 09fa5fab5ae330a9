"""`zos fs ...`: mount an flist with FUSE (0-FS), unmount it, warm its cache."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import stat
import sys
import time
from pathlib import Path

from zos.settings import Settings, SettingsError, add_nats_flag, bus_config

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """`1073741824`, `512M`, `10G`, `10GiB` -> bytes."""
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    number = raw[:-1] if unit else raw
    try:
        value = int(float(number) * _UNITS[unit])
    except (ValueError, OverflowError):  # also "nan", "inf", "1e999"
        raise SettingsError(f"size '{text}' is not a number of bytes (e.g. 1073741824, 512M, 10G)") from None
    if value <= 0:
        raise SettingsError(f"size '{text}' must be positive")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fs", help="0-FS: mount flists with FUSE")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    mount = verbs.add_parser("mount", help="mount an flist at TARGET (prints 'mount ready')")
    add_nats_flag(mount)
    mount.add_argument("--meta", required=True, help="the flist: NAME.flist, a directory or an http(s) URL")
    mount.add_argument("target", metavar="TARGET")
    mount.add_argument("--storage", action="append", default=[], metavar="URL",
                       help="chunk store tried after the flist's backend (repeatable, in order)")
    mount.add_argument("--cache", help="shared chunk cache directory (default DATA/fs/cache)")
    mount.add_argument("--cache-size", type=parse_size, default=None, help="cache bound (default 10G)")
    mount.add_argument("--cache-fsync", action="store_true",
                       help="fsync each cached chunk (hits are always verified by their key)")
    mount.add_argument("--backend", help="read-write mounts: dir holding ro/ rw/ wd/ "
                       "(default DATA/fs/backend/NAME)")
    mount.add_argument("--ro", action="store_true", help="read-only: no overlay")
    mount.add_argument("--reset", action="store_true", help="wipe the backend's writes before mounting")
    mount.add_argument("--layer", action="append", default=[], metavar="FLIST",
                       help="more flists below --meta (first wins, directories merged)")
    mount.add_argument("--daemon", action="store_true", help="detach once the mount is ready")
    mount.add_argument("--name", help="mount name for events and ZOS_IO (default: flist name)")
    mount.add_argument("--data", help="data directory (env ZOS_DATA)")
    mount.add_argument("--timeout", type=float, default=None, help="seconds per chunk over all stores (30)")
    mount.add_argument("--readahead", type=int, default=None, help="chunks prefetched ahead (2)")
    mount.add_argument("--readahead-files", type=int, default=None,
                       help="on open, prefetch the first chunk of the next N files of the directory (8)")
    mount.add_argument("--fetch-workers", type=int, default=None, help="concurrent fetches (8)")
    mount.add_argument("--stats-interval", type=float, default=None, help="seconds between I/O samples (10)")
    mount.add_argument("--no-backend-metadata", action="store_true",
                       help="ignore the flist's metadata.backend store")
    mount.set_defaults(func=mount_cmd)

    umount = verbs.add_parser("umount", help="unmount TARGET (stops its mount process)")
    umount.add_argument("target", metavar="TARGET")
    umount.add_argument("--data", help="data directory (env ZOS_DATA)")
    umount.set_defaults(func=umount_cmd)

    prefetch = verbs.add_parser("prefetch", help="read a mounted tree so its chunks are cached")
    prefetch.add_argument("target", metavar="TARGET")
    prefetch.add_argument("path", metavar="PATH", nargs="?", default="")
    prefetch.add_argument("--workers", type=int, default=4)
    prefetch.set_defaults(func=prefetch_cmd)


def mount_cmd(args: argparse.Namespace) -> int:
    from zos.fs.mount import DEFAULT_CACHE_SIZE, MountOptions, daemonize, run

    settings = Settings(args, section="fs")
    data_dir = settings.data_dir
    opts = MountOptions(
        meta=args.meta, target=Path(args.target), data_dir=data_dir, storage=list(args.storage),
        layers=list(args.layer), cache=Path(args.cache) if args.cache else None,
        cache_size=args.cache_size or settings.get("cache_size", DEFAULT_CACHE_SIZE, cast=parse_size),
        backend=Path(args.backend) if args.backend else None, read_only=args.ro, reset=args.reset,
        name=args.name, timeout=float(settings.get("timeout", 30.0)),
        readahead=int(settings.get("readahead", 2)),
        readahead_files=int(settings.get("readahead_files", 8)), fetch_workers=int(settings.get("fetch_workers", 8)),
        stats_interval=float(settings.get("stats_interval", 10.0)),
        use_backend=not args.no_backend_metadata, cache_fsync=args.cache_fsync,
        bus=bus_config(settings) if settings.get("nats") is not None else None)
    if args.daemon:
        argv = [a for a in sys.argv[1:] if a != "--daemon"]
        return daemonize(argv, data_dir / "fs" / "logs" / f"{opts.mount_name}.log")
    return run(opts)


def umount_cmd(args: argparse.Namespace) -> int:
    from zos.fs.mount import umount

    print(umount(Path(args.target), Settings(args, section="fs").data_dir))
    return 0


def prefetch_cmd(args: argparse.Namespace) -> int:
    """Read every regular file below TARGET/PATH through the mount (chunks land in the cache)."""
    root = Path(args.target) / args.path
    if not root.exists():
        raise SettingsError(f"{root} does not exist")
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                files.append((path, st.st_size))
    total = sum(size for _, size in files)
    done = [0, 0]
    last = 0.0

    def read(path: str) -> int:
        count = 0
        with open(path, "rb", buffering=0) as handle:
            while block := handle.read(1 << 20):
                count += len(block)
        return count

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, args.workers)) as pool:
        futures = {pool.submit(read, path): path for path, _ in files}
        for future in concurrent.futures.as_completed(futures):
            try:
                done[1] += future.result()
            except OSError as exc:
                failed += 1
                print(f"\n{futures[future]}: {exc}", file=sys.stderr)
            done[0] += 1
            now = time.monotonic()
            if now - last > 0.25 or done[0] == len(files):
                last = now
                print(f"\rprefetch: {done[0]}/{len(files)} files, {done[1]}/{total} bytes",
                      end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"prefetched {done[0] - failed} files, {done[1]} bytes" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0
