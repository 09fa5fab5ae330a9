"""Fixtures of the disk suite: a real `zos disk serve` child on a unix socket, vdisks created
through the bus, and helpers that wait on conditions (never on fixed sleeps)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from zos.bus import connect
from zos.disk import create_vdisk, make_vdisk

from .nbdclient import RawNBD


def unique(prefix: str = "vd") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def need(*tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (see .ci/apt-packages.txt)")


def run(*argv: str, timeout: float = 240, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
    return proc


class DiskServer:
    """One `python -m zos disk serve` process with its data directory and socket."""

    def __init__(self, nats_url: str, data: Path, *extra: str) -> None:
        self.nats_url = nats_url
        self.data = data
        self.socket = str(data / "nbd.sock")
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.log = data / "serve.log"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ZOS_NATS": self.nats_url, "ZOS_DATA": str(self.data)}

    def start(self) -> DiskServer:
        self.data.mkdir(parents=True, exist_ok=True)
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zos", "--log-level", "INFO", "disk", "serve",
                 "--listen", f"unix:{self.socket}", "--tlog-interval", "0.05", *self.extra],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"disk server exited {self.proc.returncode}: {self.log.read_text()}")
            if os.path.exists(self.socket):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"disk server did not listen within 60 s: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def uri(self, name: str) -> str:
        return f"nbd+unix:///{name}?socket={self.socket}"

    def wait_export(self, name: str, present: bool = True, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with RawNBD(self.socket) as client:
                if (name in client.list_exports()) == present:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"export {name} {'did not appear' if present else 'still listed'}")

    def create(self, name: str | None = None, size: str | int = "64M", type: str = "cache",
               **kw) -> str:
        """Create a vdisk through the bus and wait until this server exports it."""
        name = name or unique()

        async def go() -> None:
            bus = await connect(self.nats_url, actor="test")
            try:
                await create_vdisk(bus, make_vdisk(name, size, type, **kw))
            finally:
                await bus.close()
        asyncio.run(go())
        self.wait_export(name)
        return name


@pytest.fixture(scope="module")
def disk_server(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskServer]:
    server = DiskServer(nats_url, tmp_path_factory.mktemp("disk")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_server(nats_url: str, tmp_path: Path) -> Iterator[Callable[..., DiskServer]]:
    """Servers that a test may kill; each call starts one (same data dir on restart)."""
    started: list[DiskServer] = []

    def start(*extra: str, data: Path | None = None) -> DiskServer:
        server = DiskServer(nats_url, data or tmp_path / "disk", *extra).start()
        started.append(server)
        return server
    try:
        yield start
    finally:
        for server in started:
            server.stop(signal.SIGKILL)
