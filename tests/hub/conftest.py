"""A real hub (`python -m zos hub serve`) on a free loopback port, publishing to the test broker."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import httpx
import pytest

from zos.bus import free_port, wait_for_port

TOKENS = {"alice": "alice-token", "bob": "bob-token", "team": "team-token"}


@dataclass
class RunningHub:
    url: str
    data: Path
    proc: subprocess.Popen

    def client(self, user: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"bearer {TOKENS[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)  # type: ignore[arg-type]

    @property
    def users_dir(self) -> Path:
        return self.data / "hub" / "users"

    @property
    def work_dir(self) -> Path:
        return self.data / "hub" / "work"


def start_hub(tmp: Path, nats_url: str, *extra: str, tokens: bool = True,
              env_extra: dict[str, str] | None = None) -> RunningHub:
    port = free_port()
    data = tmp / "hub-data"
    env = {**os.environ, "ZOS_DATA": str(data), "ZOS_NATS": nats_url, **(env_extra or {})}
    env.pop("ZOS_TOKENS", None)
    if tokens:
        env["ZOS_TOKENS"] = "alice-token:alice+team,bob-token:bob,team-token:team"
    log = open(tmp / "hub.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "zos", "hub", "serve", "--port", str(port), *extra],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, 90, proc)
    except Exception:
        proc.kill()
        raise RuntimeError(f"hub did not start: {(tmp / 'hub.log').read_text()}") from None
    return RunningHub(f"http://127.0.0.1:{port}", data, proc)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, nats_url: str) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("hub"), nats_url)
    try:
        yield running
    finally:
        running.proc.terminate()
        running.proc.wait(20)

