"""`zos up`: the whole single-node stack on embedded defaults, as child processes.

The broker starts first (unless a NATS URL is given), then each part from `plan()`, each a
`python -m zos ...` child in its own process group that dies with us (PR_SET_PDEATHSIG), so
Ctrl-C, SIGTERM or even a kill -9 of `zos up` leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable

from zos.bus import EmbeddedBroker, die_with_parent, free_port, wait_for_port


@dataclasses.dataclass
class Service:
    """One child process of the stack and how to tell that it is ready."""

    name: str
    argv: list[str]
    ready: Callable[[], None] | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    proc: subprocess.Popen | None = None


def zos_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "zos", *args]


def wait_for_socket(path: Path, timeout: float = 30.0) -> Callable[[], None]:
    def ready() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                with socket.socket(socket.AF_UNIX) as sock:
                    try:
                        sock.connect(str(path))
                        return
                    except OSError:
                        pass
            time.sleep(0.05)
        raise TimeoutError(f"nothing listens on {path} after {timeout} s")
    return ready


def wait_for_file(path: Path, timeout: float = 30.0) -> Callable[[], None]:
    """Ready when `path` is written after now (a file left by an earlier run does not count)."""
    since = time.time() - 1.0

    def fresh() -> bool:
        try:
            return path.stat().st_mtime >= since
        except FileNotFoundError:
            return False

    def ready() -> None:
        deadline = time.monotonic() + timeout
        while not fresh():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} was not written within {timeout} s")
            time.sleep(0.05)
    return ready


def wait_for_tcp(port: int, timeout: float = 30.0) -> Callable[[], None]:
    return lambda: wait_for_port("127.0.0.1", port, timeout)


def plan(data: Path, nats: str, node_id: str) -> tuple[dict[str, str], list[Service]]:
    """What the stack runs, in start order, and the addresses it writes to stack.json.

    Each part adds its block here; a block picks free loopback ports so the stack works when
    the standard ports (4222, 6379, 5432) are taken.
    """
    stack: dict[str, str] = {"nats": nats, "node": node_id}
    services: list[Service] = []
    # node: the local node agent with its 0-core Redis bridge; it writes DATA/node/<id>/ready
    # once node.booted is on the log and the bridge listens.
    bridge_port = free_port()
    stack["bridge"] = f"redis://127.0.0.1:{bridge_port}"
    services.append(Service("node", zos_argv("node", "run", "--node-id", node_id, "--data", str(data),
                                             "--redis-listen", f"127.0.0.1:{bridge_port}"),
                            ready=wait_for_file(data / "node" / node_id / "ready", timeout=60)))
    # disk: one NBD server on a unix socket; it learns every vdisk from the log.
    nbd_socket = data / "disk" / "nbd.sock"
    stack["nbd"] = f"nbd+unix:///?socket={nbd_socket}"
    services.append(Service("disk", zos_argv("disk", "serve", "--listen", f"unix:{nbd_socket}",
                                             "--id", node_id, "--node", node_id, "--data", str(data)),
                            ready=wait_for_socket(nbd_socket)))
    # projections + API: one process; the projectors run inside the API so a write's
    # read-your-writes wait is an in-process notification (no checkpoint polling).
    api_port = free_port()
    stack["db"] = f"sqlite:///{data / 'zos.db'}"
    stack["api"] = f"http://127.0.0.1:{api_port}"
    services.append(Service("api", zos_argv("api", "serve", "--db", stack["db"], "--host", "127.0.0.1",
                                            "--port", str(api_port), "--no-auth"),
                            ready=wait_for_tcp(api_port, timeout=60)))
    # hub: flist repositories + chunk API; chunks in the embedded store DATA/chunks (the
    # local default store every flist reader also looks in); admin token in DATA/hub/token.
    hub_port = free_port()
    stack["hub"] = f"http://127.0.0.1:{hub_port}"
    services.append(Service("hub", zos_argv("hub", "serve", "--listen", "127.0.0.1", "--port", str(hub_port),
                                            "--data", str(data)),
                            ready=wait_for_tcp(hub_port, timeout=90)))
    return stack, services


class Stack:
    def __init__(self, data: Path, nats: str | None = None, node_id: str | None = None) -> None:
        self.data = data
        self.nats = nats
        self.node_id = node_id or socket.gethostname().split(".")[0]
        self.broker: EmbeddedBroker | None = None
        self.services: list[Service] = []
        self.addresses: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / "logs").mkdir(exist_ok=True)
        if not self.nats:
            self.broker = EmbeddedBroker(self.data / "nats", log_file=self.data / "logs" / "nats.log")
            self.broker.start()
            self.nats = self.broker.url
        self.addresses, self.services = plan(self.data, self.nats, self.node_id)
        env = {**os.environ, "ZOS_NATS": self.nats, "ZOS_DATA": str(self.data)}
        for service in self.services:
            log = open(self.data / "logs" / f"{service.name}.log", "ab")
            service.proc = subprocess.Popen(service.argv, env={**env, **service.env}, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, preexec_fn=die_with_parent)
            log.close()
            if service.ready:
                try:
                    service.ready()
                except Exception as exc:
                    raise RuntimeError(f"{service.name} did not become ready: {exc}; "
                                       f"see {self.data / 'logs' / (service.name + '.log')}") from exc
        (self.data / "stack.json").write_text(json.dumps(self.addresses, indent=2) + "\n")
        return self.addresses

    def failed(self) -> Service | None:
        """The first child that exited on its own, if any."""
        return next((s for s in self.services if s.proc and s.proc.poll() is not None), None)

    def stop(self, timeout: float = 10.0) -> None:
        for service in reversed(self.services):
            if service.proc and service.proc.poll() is None:
                os.killpg(service.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in reversed(self.services):
            if service.proc is None:
                continue
            try:
                service.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(service.proc.pid, signal.SIGKILL)
                service.proc.wait()
            try:  # grandchildren left in the group (jobs of the node agent, helpers)
                os.killpg(service.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.broker:
            self.broker.stop()
        (self.data / "stack.json").unlink(missing_ok=True)
