"""Lazy per-chunk reads, the shared cache and its bound, store failures, events and samples."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import socket
import threading
import time
from pathlib import Path

import pytest
import redis

from zos.bus import event_subject, io_subject
from zos.events import decode_value
from zos.fs import CHUNK_SIZE, DirStore, FlistBuilder, RedisStore, open_flist

CS = CHUNK_SIZE


def _small_flist(tmp_path: Path, store, name: str = "small") -> tuple[Path, dict[str, bytes]]:
    rng = random.Random(name)  # the same contents every run
    files = {"three": rng.randbytes(2 * CS + 1000), "five": rng.randbytes(5 * CS - 7),
             "tiny": b"hello world\n", "other": rng.randbytes(CS + 3)}
    builder = FlistBuilder(store)
    builder.add_dir("sub", mode=0o750)
    for fname, data in files.items():
        builder.add_file(f"sub/{fname}", data, mode=0o644)
    out = tmp_path / f"{name}.flist"
    builder.write(out)
    return out, files


def _cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _get_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_get", {}).get("calls", 0))


def test_read_in_last_chunk_fetches_only_that_chunk(tmp_path, mounter, redis_factory) -> None:
    url = redis_factory()
    out, files = _small_flist(tmp_path, RedisStore(url, host="127.0.0.1", port=int(url.rsplit(":", 1)[1])))
    client = redis.Redis.from_url(url)
    cache = tmp_path / "cache"
    mnt = mounter(out, "--ro", "--storage", url, "--cache", str(cache), "--readahead-files", "0").target
    client.config_resetstat()
    path = mnt / "sub" / "three"
    assert os.stat(path).st_size == 2 * CS + 1000  # stat fetches nothing
    with open(path, "rb", buffering=0) as handle:
        handle.seek(2 * CS + 100)
        assert handle.read(300) == files["three"][2 * CS + 100:2 * CS + 400]
    assert _get_calls(client) == 1
    last_id = open_flist(out, workdir=tmp_path / "w").lookup("sub/three").blocks[2].id.hex()
    assert [p.name for p in _cache_files(cache)] == [last_id]
    # a sequential read of the whole file fetches the other two (read-ahead included) and
    # never the cached one again
    assert path.read_bytes() == files["three"]
    assert _get_calls(client) == 3
    assert len(_cache_files(cache)) == 3


def test_cache_stays_under_its_bound(tmp_path, mounter) -> None:
    chunks = tmp_path / "chunks"
    out, files = _small_flist(tmp_path, DirStore(chunks))
    cache = tmp_path / "cache"
    bound = 2 * CS + CS // 2
    mnt = mounter(out, "--ro", "--storage", f"file://{chunks}", "--cache", str(cache),
                  "--cache-size", str(bound)).target
    for name in ("five", "three", "other", "tiny"):
        assert (mnt / "sub" / name).read_bytes() == files[name]
        assert sum(p.stat().st_size for p in _cache_files(cache)) <= bound
    assert 1 <= len(_cache_files(cache)) < 11  # 11 chunks were read: the oldest were evicted


class _BlackHole:
    """A TCP server that accepts connections and never answers (a hung store)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_store_that_hangs_gives_eio_within_the_timeout(tmp_path, mounter) -> None:
    chunks = tmp_path / "chunks"
    out, _ = _small_flist(tmp_path, DirStore(chunks))
    hole = _BlackHole()
    try:
        mnt = mounter(out, "--ro", "--storage", f"redis://127.0.0.1:{hole.port}",
                      "--storage", "redis://127.0.0.1:1", "--timeout", "3",
                      "--cache", str(tmp_path / "cache")).target
        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            (mnt / "sub" / "tiny").read_bytes()
        assert caught.value.errno == errno.EIO
        # generous slack for a loaded machine: the point is "not a hang" (the store's own
        # socket timeout is 30 s per attempt)
        assert time.monotonic() - started < 20
        assert os.stat(mnt / "sub" / "tiny").st_size == 12  # metadata still answers
    finally:
        hole.close()


async def test_corrupt_chunk_is_eio_with_an_error_event_and_samples(tmp_path, mounter, nats_url, bus) -> None:
    chunks = tmp_path / "chunks"
    store = DirStore(chunks)
    out, files = _small_flist(tmp_path, store)
    tiny = open_flist(out, workdir=tmp_path / "w").lookup("sub/tiny").blocks[0].id
    bad = bytearray(store.get(tiny))
    bad[0] ^= 0xFF
    store.set(tiny, bytes(bad))
    name = f"corrupt-{os.getpid()}-{time.monotonic_ns()}"
    mount = await asyncio.to_thread(mounter, out, "--ro", "--name", name, "--storage", f"file://{chunks}",
                                    "--cache", str(tmp_path / "cache"), "--stats-interval", "0.5",
                                    nats=nats_url)
    mnt = mount.target

    def reads() -> None:
        with pytest.raises(OSError) as caught:
            (mnt / "sub" / "tiny").read_bytes()
        assert caught.value.errno == errno.EIO
        with pytest.raises(OSError):  # a second failure: still EIO, no second event
            (mnt / "sub" / "tiny").read_bytes()
        assert (mnt / "sub" / "three").read_bytes() == files["three"]
    await asyncio.to_thread(reads)
    assert not [p for p in _cache_files(tmp_path / "cache") if p.name == tiny.hex()]

    samples: list[dict] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = [decode_value(d.data) async for d in bus.replay(io_subject("fs", name), decode_events=False)]
        if sum(s["errors"] for s in samples) >= 2 and sum(s["chunks_fetched"] for s in samples) >= 3:
            break
        await asyncio.sleep(0.3)
    assert sum(s["errors"] for s in samples) >= 2
    assert sum(s["chunks_fetched"] for s in samples) >= 3
    assert sum(s["bytes"] for s in samples) == len(files["three"])
    assert all(s["mount"] == name and s["fetch_p99_ns"] >= s["fetch_p50_ns"] for s in samples)

    assert await asyncio.to_thread(mount.stop) == 0
    events = [d.event async for d in bus.replay(event_subject("mount", name))]
    types = [e.type for e in events]
    assert types[0] == "fs.mounted" and types[-1] == "fs.unmounted"
    errors = [e for e in events if e.type == "fs.error"]
    assert len(errors) == 1
    assert errors[0].data["chunk"] == tiny.hex() and errors[0].data["kind"] == "corrupt"
    assert errors[0].data["path"] == "/sub/tiny"
    assert events[-1].data["stats"]["errors"] >= 2


def test_mount_works_without_a_bus(tmp_path, mounter) -> None:
    chunks = tmp_path / "chunks"
    out, files = _small_flist(tmp_path, DirStore(chunks))
    # a NATS URL where nothing listens: the mount still comes up and serves
    mnt = mounter(out, "--ro", "--storage", f"file://{chunks}", nats="nats://127.0.0.1:1").target
    assert (mnt / "sub" / "five").read_bytes() == files["five"]


def test_prefetch_command_warms_the_cache(tmp_path, mounter) -> None:
    import subprocess
    import sys

    chunks = tmp_path / "chunks"
    out, files = _small_flist(tmp_path, DirStore(chunks))
    cache = tmp_path / "cache"
    mount = mounter(out, "--ro", "--storage", f"file://{chunks}", "--cache", str(cache))
    done = subprocess.run([sys.executable, "-m", "zos", "fs", "prefetch", str(mount.target), "sub"],
                          capture_output=True, text=True, timeout=120, env=mount.env)
    assert done.returncode == 0, done.stderr
    assert f"prefetched 4 files, {sum(map(len, files.values()))} bytes" in done.stdout
    assert "prefetch: 4/4 files" in done.stderr
    assert len(_cache_files(cache)) == 11  # every chunk of every file
