"""0-FS read speed vs the native filesystem and squashfuse_ll, same tree, same run.

    .venv/bin/python -m bench.fs_read [--source DIR] [--store URL] [--keep]

The tree defaults to this machine's Python standard library (~60,000 entries, ~1 GB). Our
flist is built with the project's writer into a chunk store (`--store`, default: a
redis-server started for the run on a free loopback port; a hub URL works too), and the
squashfs image with mksquashfs (gzip). Each measure reads every file (`tar cf - . | wc -c`):
(a) cold: empty chunk cache, page cache dropped; (b) chunks cached, page cache dropped;
(c) page-cached; (d) a `find -ls` walk (cold = caches dropped, and warm). Times in seconds;
the speed ratio is peer time / zos time (> 1: zos is faster). Needs root (drop_caches, mount).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def sh(command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{command}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(command: str, cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = sh(command, cwd)
    return time.perf_counter() - start, out.strip()


def read_all(root: Path) -> tuple[float, int]:
    seconds, out = timed("tar cf - . | wc -c", root)
    return seconds, int(out)


def walk(root: Path) -> float:
    return timed("find . -ls > /dev/null", root)[0]


def progress(text: str) -> None:
    print(f"[fs_read] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(STDLIB), help=f"tree to read (default {STDLIB})")
    parser.add_argument("--store", help="chunk store URL (default: a redis-server for the run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("fs_read needs root (drop_caches, FUSE and squashfuse mounts)", file=sys.stderr)
        return 2
    for tool in ("mksquashfs", "squashfuse_ll", "fusermount3", "redis-server"):
        if not shutil.which(tool):
            print(f"fs_read needs {tool} (Debian packages squashfs-tools, squashfuse, fuse3, redis-server)",
                  file=sys.stderr)
            return 2

    from zos.bus import free_port, wait_for_port
    from zos.fs import create_flist, open_store

    source = Path(args.source).resolve()
    work = Path(tempfile.mkdtemp(prefix="zos-bench-fs-"))
    procs: list[subprocess.Popen[bytes]] = []
    mounts: list[Path] = []
    try:
        entries = int(sh(f"find {source} | wc -l"))
        size = int(sh(f"du -sb {source}").split()[0])
        progress(f"tree {source}: {entries} entries, {size / 1e6:.0f} MB")
        store_url = args.store
        if not store_url:
            port = free_port()
            procs.append(subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                           "--appendonly", "no", "--dir", str(work)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for_port("127.0.0.1", port, 15, procs[-1])
            store_url = f"redis://127.0.0.1:{port}"
        start = time.perf_counter()
        flist = work / "tree.flist"
        stats = create_flist(source, flist, open_store(store_url))
        progress(f"flist built in {time.perf_counter() - start:.1f}s: {stats}")
        start = time.perf_counter()
        image = work / "tree.squashfs"
        sh(f"mksquashfs {source} {image} -noappend -quiet -no-progress")
        progress(f"squashfs built in {time.perf_counter() - start:.1f}s ({image.stat().st_size / 1e6:.0f} MB)")

        sq = work / "sq"
        sq.mkdir()
        sh(f"squashfuse_ll {image} {sq}")
        mounts.append(sq)
        zmnt = work / "zfs"
        zmnt.mkdir()
        cache = work / "cache"
        env = {**os.environ, "ZOS_DATA": str(work / "data")}
        env.pop("ZOS_NATS", None)
        mount = subprocess.Popen([sys.executable, "-m", "zos", "fs", "mount", "--meta", str(flist), str(zmnt),
                                  "--ro", "--storage", store_url, "--cache", str(cache)],
                                 stdout=subprocess.PIPE, stderr=open(work / "mount.log", "wb"), env=env)
        procs.append(mount)
        assert mount.stdout is not None
        if mount.stdout.readline().strip() != b"mount ready":
            raise RuntimeError("zos fs mount failed: " + (work / "mount.log").read_text()[-2000:])
        mounts.append(zmnt)

        results: dict[str, dict[str, float]] = {"native": {}, "squashfuse_ll": {}, "zos": {}}
        where = {"native": source, "squashfuse_ll": sq, "zos": zmnt}
        expected = None
        for name, root in where.items():
            progress(f"{name}: cold read")
            drop_caches()
            seconds, nbytes = read_all(root)
            results[name]["cold"] = seconds
            expected = expected or nbytes
            if nbytes != expected:
                raise RuntimeError(f"{name} tar stream has {nbytes} bytes, native had {expected}")
            if name == "zos":  # (b): chunks cached, page cache dropped
                progress("zos: chunks cached, page cache dropped")
                drop_caches()
                results[name]["cached"] = read_all(root)[0]
            progress(f"{name}: warm read")
            results[name]["warm"] = read_all(root)[0]
            progress(f"{name}: walk")
            drop_caches()
            results[name]["walk_cold"] = walk(root)
            results[name]["walk_warm"] = walk(root)

        n, q, z = results["native"], results["squashfuse_ll"], results["zos"]
        rows = [
            ("(a) cold read, chunks from the store", z["cold"], q["cold"], n["cold"]),
            ("(b) chunks cached, page cache dropped", z["cached"], q["cold"], n["cold"]),
            ("(c) page-cached read", z["warm"], q["warm"], n["warm"]),
            ("(d) find -ls walk, caches dropped", z["walk_cold"], q["walk_cold"], n["walk_cold"]),
            ("(d) find -ls walk, warm", z["walk_warm"], q["walk_warm"], n["walk_warm"]),
        ]
        print(f"### fs_read: {entries} entries, {size / 1e6:.0f} MB ({source}); store {store_url.split('://')[0]}")
        print()
        print("| measure | zos s | squashfuse_ll s | native s | speed vs squashfuse_ll | speed vs native |")
        print("|---|---:|---:|---:|---:|---:|")
        for what, ours, peer, native in rows:
            print(f"| {what} | {ours:.2f} | {peer:.2f} | {native:.2f} | {peer / ours:.2f} | {native / ours:.2f} |")
        print()
        print(f"goals: (b) >= 0.5 -> {q['cold'] / z['cached']:.2f}; (c) >= 0.8 -> {q['warm'] / z['warm']:.2f}; "
              f"(d) >= 0.5 -> {q['walk_cold'] / z['walk_cold']:.2f} (cold), {q['walk_warm'] / z['walk_warm']:.2f} (warm)")
        return 0
    finally:
        for point in reversed(mounts):
            subprocess.run(["fusermount3", "-u", "-z", str(point)], capture_output=True)
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            progress(f"kept {work}")


if __name__ == "__main__":
    sys.exit(main())
