"""The mount process: open the flists, mount FUSE (and the overlay), answer until unmounted.

Concurrency (one way, documented): pyfuse3 runs on **asyncio** (`pyfuse3.asyncio.enable()`),
so the FUSE loop, the optional NATS bus (events and I/O samples) and the signal handlers share
one event loop; every blocking call (SQLite/RocksDB, chunk stores, cache files, mount(8)) runs
in worker threads. `serve()` prints `mount ready` once the mount answers a stat, then runs until
`zos fs umount` (SIGTERM), Ctrl-C, or an external unmount; it always leaves no mount behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pyfuse3
import pyfuse3.asyncio

from zos.bus import BusConfig, connect
from zos.fs import Flist

from ._cache import DEFAULT_CACHE_SIZE, ChunkCache
from ._layers import MountConfigError, layer_stores, open_layers
from ._ops import FlistOperations
from ._overlay import backend_dirs, is_mounted, mount_overlay, unmount
from ._prefetch import Prefetcher
from ._router import ChunkFetchError, Router
from ._stats import MountStats, io_sample, is_idle

log = logging.getLogger("zos.fs.mount")


@dataclasses.dataclass
class MountOptions:
    meta: str
    target: Path
    data_dir: Path
    storage: list[str] = dataclasses.field(default_factory=list)
    layers: list[str] = dataclasses.field(default_factory=list)
    cache: Path | None = None               # default DATA/fs/cache (shared by every mount)
    cache_size: int = DEFAULT_CACHE_SIZE
    backend: Path | None = None             # default DATA/fs/backend/<name> (read-write only)
    read_only: bool = False
    reset: bool = False
    name: str | None = None
    stats_interval: float = 10.0
    timeout: float = 30.0                    # per chunk, every store and retry included
    attempts: int = 3
    readahead: int = 2
    readahead_files: int = 8                 # first chunks of the next files of a directory
    fetch_workers: int = 8
    dir_cache: int = 16384                   # decoded directories kept (a listing is small)
    attr_timeout: float = 3600.0
    use_backend: bool = True
    verify_id: bool = True
    cache_fsync: bool = False                # hits are verified by key; fsync only adds durability
    allow_other: bool | None = None          # default: when running as root
    bus: BusConfig | None = None             # events and I/O samples go to this bus, if given

    @property
    def mount_name(self) -> str:
        if self.name:
            return self.name
        base = self.meta.rstrip("/").rpartition("/")[2]
        return base[:-len(".flist")] if base.endswith(".flist") else base or "flist"


def state_path(data_dir: Path, target: Path) -> Path:
    """Where a running mount records its pid and layout, keyed by the absolute target."""
    digest = hashlib.sha256(os.path.abspath(target).encode()).hexdigest()[:24]
    return data_dir / "fs" / "mounts" / f"{digest}.json"


def read_state(data_dir: Path, target: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(data_dir, target).read_text())
    except (FileNotFoundError, ValueError):
        return None


class _Events:
    """fs.mounted / fs.unmounted / fs.error on ZOS_EVENTS and samples on ZOS_IO, when a bus is
    configured. Best effort: the mount never waits on or fails because of the bus."""

    def __init__(self, bus: Any, name: str, target: str) -> None:
        self.bus = bus
        self.name = name
        self.target = target
        self._reported: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.wanted = False  # a bus is configured (connected or still connecting)
        self.pending: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        if self.bus is None:
            return
        from zos.events import new_event
        try:
            await self.bus.append(new_event(type_, "mount", self.name, data, actor=f"fs:{self.name}"))
        except Exception as exc:  # the bus is optional for a mount
            log.warning("cannot record %s for mount %s: %s", type_, self.name, exc)

    def error(self, rel: bytes, exc: Exception) -> None:
        """Called on the loop for every EIO; at most one fs.error per chunk (or path). Errors
        seen while the bus is still connecting are kept and sent once it is up."""
        chunk = exc.chunk_id.hex() if isinstance(exc, ChunkFetchError) else ""
        key = chunk or rel.hex()
        if not self.wanted or key in self._reported:
            return
        self._reported.add(key)
        data = {"name": self.name, "target": self.target, "message": str(exc)[:2000],
                "path": "/" + rel.decode(errors="replace"),
                "kind": exc.kind if isinstance(exc, ChunkFetchError) else "metadata"}
        if chunk:
            data["chunk"] = chunk
        if self.bus is None:
            self.pending.append(("fs.error", data))
            return
        task = asyncio.get_running_loop().create_task(self.emit("fs.error", data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connected(self, bus: Any, mounted: dict[str, Any]) -> None:
        """The bus is up: record fs.mounted, then the errors seen meanwhile."""
        self.bus = bus
        await self.emit("fs.mounted", mounted)
        while self.pending:
            await self.emit(*self.pending.pop(0))

    async def sample(self, stats: MountStats) -> None:
        from zos.bus import io_subject
        from zos.events import encode_value
        taken, elapsed = stats.take()
        if is_idle(taken) or self.bus is None:
            return
        try:
            await self.bus.publish(io_subject("fs", self.name), encode_value(io_sample(self.name, self.target, taken, elapsed)),
                                   type="io.fs")
        except Exception as exc:
            log.warning("cannot publish I/O statistics of mount %s: %s", self.name, exc)


async def _connect(config: BusConfig, name: str) -> Any:
    try:
        return await asyncio.wait_for(connect(config, actor=f"fs:{name}", name=f"zos-fs-{name}"), 10)
    except Exception as exc:
        log.warning("mount %s runs without the bus (cannot connect to %s: %s)", name, ",".join(config.urls), exc)
        return None


async def serve(opts: MountOptions, ready: Any = None) -> None:
    """Mount and serve until unmounted. `ready()` is called once the mount answers."""
    loop = asyncio.get_running_loop()
    name = opts.mount_name
    target = Path(os.path.abspath(opts.target))
    if not target.is_dir():
        raise MountConfigError(f"mount target {target} is not a directory")
    if is_mounted(target):
        raise MountConfigError(f"{target} is already a mount point")
    layers: list[Flist] = await loop.run_in_executor(
        None, open_layers, [opts.meta, *opts.layers], opts.data_dir, opts.dir_cache)
    router = prefetcher = None
    pool = concurrent.futures.ThreadPoolExecutor(max(2, opts.fetch_workers), thread_name_prefix="zos-fs")
    bus = None
    lower = target
    overlay = False
    fuse_up = False
    state = state_path(opts.data_dir, target)
    stats = MountStats()
    events = _Events(None, name, str(target))
    reason = "umount"
    stopping = asyncio.Event()
    stats_task = None
    bus_task = None
    try:
        stores = [layer_stores(fl, opts.storage, opts.data_dir, opts.use_backend) for fl in layers]
        cache = ChunkCache(opts.cache or opts.data_dir / "fs" / "cache", opts.cache_size, fsync=opts.cache_fsync)
        router = Router(cache, stores, stats, timeout=opts.timeout, attempts=opts.attempts,
                        verify_id=opts.verify_id, workers=max(4, opts.fetch_workers * 2))
        prefetcher = Prefetcher(router, opts.readahead, workers=max(1, opts.fetch_workers),
                                readahead_files=opts.readahead_files)
        ops = FlistOperations(layers, router, prefetcher, stats, dir_cache=opts.dir_cache,
                              attr_timeout=opts.attr_timeout, executor=pool, on_error=events.error)
        backend = None
        if not opts.read_only:
            backend = opts.backend or opts.data_dir / "fs" / "backend" / name
            lower, upper, work = backend_dirs(Path(os.path.abspath(backend)), opts.reset)
            if is_mounted(lower):
                raise MountConfigError(f"{lower} is already mounted (another mount uses backend {backend})")
        fuse_options = set(pyfuse3.default_options) | {"ro", f"fsname={name}", "subtype=flist"}
        allow_other = os.geteuid() == 0 if opts.allow_other is None else opts.allow_other
        if allow_other:
            fuse_options.add("allow_other")
        if os.geteuid() == 0:
            fuse_options |= {"suid", "dev"}

        def stop(why: str) -> None:
            nonlocal reason
            reason = why
            stopping.set()

        for signum, why in ((signal.SIGTERM, "umount"), (signal.SIGINT, "signal"), (signal.SIGHUP, "signal")):
            loop.add_signal_handler(signum, stop, why)
        pyfuse3.init(ops, str(lower), fuse_options)
        fuse_up = True
        main_task = loop.create_task(pyfuse3.main(min_tasks=2, max_tasks=64))

        def answers() -> None:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if os.stat(lower).st_ino == 1:
                        os.statvfs(lower)
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise MountConfigError(f"FUSE mount at {lower} does not answer")
                time.sleep(0.02)

        await loop.run_in_executor(None, answers)
        if not opts.read_only:
            await loop.run_in_executor(None, mount_overlay, lower, upper, work, target)
            overlay = True
        state.parent.mkdir(parents=True, exist_ok=True)
        temp = state.with_suffix(".tmp")
        temp.write_text(json.dumps({"pid": os.getpid(), "name": name, "target": str(target),
                                    "lower": str(lower), "overlay": overlay,
                                    "backend": str(backend) if backend else None}))
        os.replace(temp, state)

        mounted = {
            "name": name, "target": str(target), "flist": opts.meta, "layers": [opts.meta, *opts.layers],
            "read_only": opts.read_only, "backend": str(backend) if backend else "",
            "cache": str(cache.root), "storage": [s.url for s in stores[0]], "pid": os.getpid()}

        async def join_bus() -> None:
            # In the background: a configured but unreachable bus never delays or stops a mount.
            nonlocal bus
            bus = await _connect(opts.bus, name)
            if bus is None:
                events.wanted = False
                events.pending.clear()
            else:
                await events.connected(bus, mounted)

        events.wanted = opts.bus is not None
        bus_task = loop.create_task(join_bus()) if events.wanted else None

        async def publish_stats() -> None:
            while True:
                await asyncio.sleep(opts.stats_interval)
                await events.sample(stats)

        stats_task = loop.create_task(publish_stats())
        if ready is not None:
            ready()
        stopper = loop.create_task(stopping.wait())
        done, _ = await asyncio.wait({main_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if main_task in done:
            stopper.cancel()
            main_task.result()
            if reason == "umount" and not stopping.is_set():
                reason = "external unmount"
        else:
            if overlay and is_mounted(target):
                try:
                    await loop.run_in_executor(None, unmount, target)
                except Exception as exc:
                    log.warning("overlay at %s is busy (%s); detaching it lazily", target, exc)
                    await loop.run_in_executor(None, unmount, target, True)
            overlay = False
            pyfuse3.terminate()
            await main_task
    except BaseException:
        reason = "error"
        raise
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if stats_task is not None:
            stats_task.cancel()
            await events.sample(stats)
        if overlay and is_mounted(target):
            try:
                await loop.run_in_executor(None, unmount, target, True)
            except Exception as exc:
                log.error("cannot unmount overlay %s: %s", target, exc)
        if fuse_up:
            pyfuse3.close(unmount=True)
        if bus_task is not None and not bus_task.done():
            try:
                await asyncio.wait_for(bus_task, 3)
            except Exception as exc:  # timeout (cancelled) or connect failure
                log.warning("bus of mount %s not ready at unmount: %s", name, exc)
        if bus is not None:
            await events.emit("fs.unmounted", {"name": name, "target": str(target), "reason": reason,
                                               "stats": stats.totals_dict()})
            await bus.close()
        state.unlink(missing_ok=True)
        for component in (prefetcher, router):
            if component is not None:
                component.close()
        pool.shutdown(wait=False, cancel_futures=True)
        for fl in layers:
            fl.close()


def run(opts: MountOptions) -> int:
    """Blocking entry point: asyncio loop with pyfuse3 on it; prints `mount ready`."""
    pyfuse3.asyncio.enable()

    def ready() -> None:
        print("mount ready", flush=True)

    asyncio.run(serve(opts, ready))
    # A store call stuck on a dead server (its worker thread blocks up to the store's socket
    # timeout) must not keep the process alive after the unmount: leave without joining it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def umount(target: Path, data_dir: Path, timeout: float = 30.0) -> str:
    """Stop the mount at `target`: SIGTERM its process (which unmounts overlay and FUSE and
    records fs.unmounted) and wait for it; without a live process, unmount directly."""
    target = Path(os.path.abspath(target))
    state = read_state(data_dir, target)
    pid = state.get("pid") if state else None
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid = None
    if pid:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"mount process {pid} of {target} did not exit within {timeout:g}s")
    # A dead or foreign mount: take it down directly.
    lower = Path(state["lower"]) if state and state.get("lower") else None
    if is_mounted(target):
        if state and state.get("overlay"):
            unmount(target, lazy=True)
        else:
            _fusermount(target)
    if lower is not None and lower != target and is_mounted(lower):
        _fusermount(lower)
    state_path(data_dir, target).unlink(missing_ok=True)
    return f"unmounted {target}"


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped by its parent, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _fusermount(path: Path) -> None:
    import subprocess
    done = subprocess.run(["fusermount3", "-u", "-z", str(path)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and is_mounted(path):
        unmount(path, lazy=True)


def daemonize(argv: list[str], log_path: Path, timeout: float = 120.0) -> int:
    """Start `python -m zos <argv>` detached (own session, output to `log_path`) and return
    once it printed `mount ready`; on failure print its log and return 1."""
    import subprocess
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen([sys.executable, "-m", "zos", *argv], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=log_file, start_new_session=True)
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line or line.strip() == b"mount ready":
            break
    child.stdout.close()
    if line.strip() == b"mount ready":
        print(f"mount ready (pid {child.pid}, log {log_path})", flush=True)
        return 0
    if child.poll() is None:
        child.terminate()
    child.wait(timeout=30)
    print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
    return 1
